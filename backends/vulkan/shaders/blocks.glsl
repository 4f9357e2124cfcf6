// Weight blocks of every type the Vulkan backend reads (ggml ids; layouts in lib/core/blocks.h,
// the same decoding as backends/cuda/cuda_blocks.h): dq(type, b, j) is element j of the block at
// byte b of the weight chunk. The float operations and their order are the CPU reference's.
// Include common.glsl first.
//
// WTYPE, a specialization constant, is the weight type of the pipeline: the backend makes one
// pipeline per (shader, type) it needs, so the type switch folds away when the driver compiles
// it.
layout(constant_id = 0) const uint WTYPE = 0u;

const uint T_F32 = 0u, T_F16 = 1u, T_Q4_0 = 2u, T_Q4_1 = 3u, T_Q5_0 = 6u, T_Q5_1 = 7u,
           T_Q8_0 = 8u, T_Q2_K = 10u, T_Q3_K = 11u, T_Q4_K = 12u, T_Q5_K = 13u, T_Q6_K = 14u,
           T_BF16 = 30u, T_MXFP4 = 39u;

uint block_elems(uint type) {
    if (type == T_F32 || type == T_F16 || type == T_BF16) return 1u;
    return type >= T_Q2_K && type <= T_Q6_K ? 256u : 32u;
}

// MXFP4's E2M1 codes, doubled to integers (kValuesMXFP4), and half its block's E8M0 scale
// 2^(e - 128) as float bits (e8m0_to_fp32_half: e = 0 and 1 give subnormals).
const int MXFP4_VALUES[16] = int[16](0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12);
float e8m0_half(uint e) {
    return uintBitsToFloat(e < 2u ? 0x00200000u << e : (e - 1u) << 23);
}

// Q4_K/Q5_K's six-bit scale (x) and min (y) of sub-block j (ggml's get_scale_min_k4).
uvec2 k4_scale_min(uint s, uint j) {
    if (j < 4u) return uvec2(wbyte(s + j) & 63u, wbyte(s + j + 4u) & 63u);
    return uvec2((wbyte(s + j + 4u) & 15u) | ((wbyte(s + j - 4u) >> 6) << 4),
                 (wbyte(s + j + 4u) >> 4) | ((wbyte(s + j) >> 6) << 4));
}

// Q3_K's six-bit scale of sub-block j (stored + 32).
int q3_k_scale(uint s, uint j) {
    const uint low = j < 8u ? wbyte(s + j) & 15u : wbyte(s + j - 8u) >> 4;
    const uint high = (wbyte(s + 8u + j % 4u) >> (2u * (j / 4u))) & 3u;
    return int(low | (high << 4));
}

float dq(uint type, uint b, uint j) {
    switch (type) {
    case T_F32:
        return wf32(b);
    case T_F16:
        return whalf(b);
    case T_BF16:
        return uintBitsToFloat(wu16(b) << 16);
    case T_Q4_0: {
        const uint q = wbyte(b + 2u + j % 16u);
        return float(int(j < 16u ? q & 15u : q >> 4) - 8) * whalf(b);
    }
    case T_Q4_1: {
        const uint q = wbyte(b + 4u + j % 16u);
        return float(j < 16u ? q & 15u : q >> 4) * whalf(b) + whalf(b + 2u);
    }
    case T_Q5_0: {
        const uint q = wbyte(b + 6u + j % 16u);
        const uint hbit = (wu32(b + 2u) >> j) & 1u;
        return float(int((j < 16u ? q & 15u : q >> 4) | (hbit << 4)) - 16) * whalf(b);
    }
    case T_Q5_1: {
        const uint q = wbyte(b + 8u + j % 16u);
        const uint hbit = (wu32(b + 4u) >> j) & 1u;
        return float((j < 16u ? q & 15u : q >> 4) | (hbit << 4)) * whalf(b) + whalf(b + 2u);
    }
    case T_Q8_0:
        return float(int(wbyte(b + 2u + j) << 24) >> 24) * whalf(b);
    case T_MXFP4: {
        const uint q = wbyte(b + 1u + j % 16u);
        return float(MXFP4_VALUES[j < 16u ? q & 15u : q >> 4]) * e8m0_half(wbyte(b));
    }
    case T_Q2_K: {
        // element 128h + 32k + l: bits 2k of qs[32h + l], scale byte 8h + 2k + l / 16
        const uint h = j / 128u, k = (j / 32u) % 4u, l = j % 32u;
        const uint sc = wbyte(b + 8u * h + 2u * k + l / 16u);
        const float dl = whalf(b + 80u) * float(sc & 15u);
        const float ml = whalf(b + 82u) * float(sc >> 4);
        const uint x = (wbyte(b + 16u + 32u * h + l) >> (2u * k)) & 3u;
        return dl * float(x) - ml;
    }
    case T_Q3_K: {
        const uint h = j / 128u, k = (j / 32u) % 4u, l = j % 32u;
        const float dl = whalf(b + 108u) * float(q3_k_scale(b + 96u, 8u * h + 2u * k + l / 16u) - 32);
        const int low = int((wbyte(b + 32u + 32u * h + l) >> (2u * k)) & 3u);
        const int x = low - (((wbyte(b + l) >> (4u * h + k)) & 1u) != 0u ? 0 : 4);
        return dl * float(x);
    }
    case T_Q4_K:
    case T_Q5_K: {
        // element 64cc + 32hi + l: nibble hi of qs[32cc + l], sub-block 2cc + hi
        const bool five = type == T_Q5_K;
        const uint cc = j / 64u, hi = (j / 32u) % 2u, l = j % 32u;
        const uvec2 sm = k4_scale_min(b + 4u, 2u * cc + hi);
        const float dl = whalf(b) * float(sm.x), ml = whalf(b + 2u) * float(sm.y);
        const uint q = wbyte(b + (five ? 48u : 16u) + 32u * cc + l);
        uint x = hi == 0u ? q & 15u : q >> 4;
        if (five) x |= ((wbyte(b + 16u + l) >> (2u * cc + hi)) & 1u) << 4;
        return dl * float(x) - ml;
    }
    case T_Q6_K: {
        const uint h = j / 128u, k = (j / 32u) % 4u, l = j % 32u;
        const uint lo_byte = wbyte(b + 64u * h + (k & 1u) * 32u + l);
        const uint lo = k < 2u ? lo_byte & 15u : lo_byte >> 4;
        const uint hi = (wbyte(b + 128u + 32u * h + l) >> (2u * k)) & 3u;
        const int x = int(lo | (hi << 4)) - 32;
        const int sc = int(wbyte(b + 192u + 8u * h + 2u * k + l / 16u) << 24) >> 24;
        return whalf(b + 208u) * float(sc) * float(x);
    }
    }
    return 0.0;
}

// Element i of a row at byte `row` of `type` with `bb` bytes per block.
float dq_row(uint type, uint row, uint bb, uint i) {
    const uint be = block_elems(type);
    return dq(type, row + (i / be) * bb, i % be);
}
