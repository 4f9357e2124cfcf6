// MatMul for decode with the GPU kernels and packed int8 dot products (vk_device.h's
// int8_dot_matvec), for Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, MXFP4, Q4_K, Q5_K and Q6_K: y[t][r] = W[r] . x[t]
// with x quantized per 32 elements by quantize_q8.comp. One workgroup per output row, as
// matmul_vec.comp; its invocations take the row's 32-element blocks (a K-quant's sub-blocks) in
// quarters of 8 elements (two words of weights, two of activations: two dot instructions), then
// sum (reduce.glsl). Codes with an offset (Q4_0, Q5_0, Q6_K) become signed bytes, the unsigned
// code minus 8, 16 or 32; codes with a minimum (Q4_1, Q5_1, Q4_K, Q5_K) stay unsigned (signed x
// unsigned dot), and the quarter that starts a block adds min * dx * sum(q) for the block.
// MXFP4's codes become their (doubled, integer) E2M1 values as signed bytes.
// A matrix split over weight chunks takes a dispatch per part: rows [row0, row0 + part_rows).
//
// The dot instructions come from SPV_KHR_integer_dot_product through GL_EXT_spirv_intrinsics
// (Debian 12's glslang has no GL_EXT_integer_dot_product): OpSDot (4450) and OpSUDot (4452) on
// 4x8-bit packed words (format 0).
#version 450
#extension GL_EXT_spirv_intrinsics : require
#include "common.glsl"
#include "blocks.glsl"

spirv_instruction(extensions = ["SPV_KHR_integer_dot_product"], capabilities = [6019, 6018],
                  id = 4450)
int sdot4x8(uint a, uint b, spirv_literal int format);
spirv_instruction(extensions = ["SPV_KHR_integer_dot_product"], capabilities = [6019, 6018],
                  id = 4452)
int sudot4x8(uint a, uint b, spirv_literal int format);

const uint WG = 64u;
const uint TOKENS = 4u;
const uint SUMS = TOKENS;
#include "reduce.glsl"
layout(local_size_x = 64) in;

layout(push_constant) uniform Push {
    uint w_off, row_bytes, block_bytes, k, n, y, n_tokens, row0, part_rows, qs, d, sums;
} p;

// Unsigned bytes u < 128 minus `bias` per byte, as two's-complement bytes: adding 128 first
// keeps every byte's subtraction from borrowing, and flipping the top bit takes the 128 away.
uvec2 minus(uvec2 u, uint bias) {
    return ((u | 0x80808080u) - bias) ^ 0x80808080u;
}

// Each byte of u, a 4-bit MXFP4 code, as the signed byte of its value.
uint mxfp4_bytes(uint u) {
    uint r = 0u;
    for (uint i = 0u; i < 32u; i += 8u) r |= (uint(MXFP4_VALUES[(u >> i) & 15u]) & 255u) << i;
    return r;
}

// Bits 0..3 of h to bit 4 of bytes 0..3.
uint spread4(uint h) {
    return ((h & 1u) << 4) | ((h & 2u) << 11) | ((h & 4u) << 18) | ((h & 8u) << 25);
}

// Elements [8 part, 8 part + 8) of 32-element block j of the block at byte b (j = 0 for the
// 32-element types; a K-quant's sub-block), four bytes a word. 4-bit codes: the 32-element types
// keep elements 0..15 in the low nibbles of their 16 bytes and 16..31 in the high ones; Q4_K/Q5_K
// keep sub-blocks 2c and 2c + 1 in the low and high nibbles of bytes [32 c, 32 c + 32); Q6_K
// sub-block 4h + k in the low (k < 2) or high nibbles of bytes 64 h + 32 (k & 1) + l, its two
// high bits at bit 2k of byte 128 + 32 h + l. Q5's fifth bit of element e is bit e of qh (Q5_0,
// Q5_1) or bit j of byte e of qh (Q5_K).
uvec2 weight_words(uint b, uint j, uint part) {
    if (WTYPE == T_Q8_0) return uvec2(wu32(b + 2u + 8u * part), wu32(b + 6u + 8u * part));
    if (WTYPE == T_Q6_K) {
        const uint h = j / 4u, k = j % 4u;
        const uint lo_at = b + 64u * h + 32u * (k & 1u) + 8u * part;
        const uvec2 lo_raw = uvec2(wu32(lo_at), wu32(lo_at + 4u));
        const uvec2 lo = k < 2u ? lo_raw & 0x0f0f0f0fu : (lo_raw >> 4) & 0x0f0f0f0fu;
        const uint hi_at = b + 128u + 32u * h + 8u * part;
        const uvec2 hi = (uvec2(wu32(hi_at), wu32(hi_at + 4u)) >> (2u * k)) & 0x03030303u;
        return minus(lo | (hi << 4), 0x20202020u);
    }
    const bool k_quant = WTYPE == T_Q4_K || WTYPE == T_Q5_K;
    const uint qs = WTYPE == T_MXFP4 ? 1u : WTYPE == T_Q4_0 ? 2u : WTYPE == T_Q4_1 ? 4u
                  : WTYPE == T_Q5_0 ? 6u : WTYPE == T_Q5_1 ? 8u : WTYPE == T_Q4_K ? 16u : 48u;
    const uint at = k_quant ? b + qs + 32u * (j / 2u) + 8u * part : b + qs + 8u * (part & 1u);
    const uvec2 raw = uvec2(wu32(at), wu32(at + 4u));
    const bool high = k_quant ? (j & 1u) != 0u : part >= 2u;
    uvec2 u = high ? (raw >> 4) & 0x0f0f0f0fu : raw & 0x0f0f0f0fu;
    if (WTYPE == T_Q5_0 || WTYPE == T_Q5_1) {
        const uint qh = wu32(b + (WTYPE == T_Q5_0 ? 2u : 4u)) >> (8u * part);
        u |= uvec2(spread4(qh & 15u), spread4((qh >> 4) & 15u));
    }
    if (WTYPE == T_Q5_K) {
        const uint qh = b + 16u + 8u * part;
        u |= ((uvec2(wu32(qh), wu32(qh + 4u)) >> j) & 0x01010101u) << 4;
    }
    if (WTYPE == T_MXFP4) return uvec2(mxfp4_bytes(u.x), mxfp4_bytes(u.y));
    if (WTYPE == T_Q4_0) return minus(u, 0x08080808u);
    if (WTYPE == T_Q5_0) return minus(u, 0x10101010u);
    return u;
}

// The scale of quarter `part` of block j, and the minimum (w = scale * code + min) that the
// block's first quarter adds (0 for the others and the types without one).
vec2 scale_min(uint b, uint j, uint part) {
    if (WTYPE == T_Q6_K) {
        const int sc = int(wbyte(b + 192u + 8u * (j / 4u) + 2u * (j % 4u) + part / 2u) << 24) >> 24;
        return vec2(whalf(b + 208u) * float(sc), 0.0);
    }
    if (WTYPE == T_Q4_K || WTYPE == T_Q5_K) {
        const uvec2 sm = k4_scale_min(b + 4u, j);
        return vec2(whalf(b) * float(sm.x), part == 0u ? -whalf(b + 2u) * float(sm.y) : 0.0);
    }
    if (WTYPE == T_MXFP4) return vec2(e8m0_half(wbyte(b)), 0.0);
    const bool has_min = WTYPE == T_Q4_1 || WTYPE == T_Q5_1;
    return vec2(whalf(b), has_min && part == 0u ? whalf(b + 2u) : 0.0);
}

void main() {
    const uint lane = gl_LocalInvocationID.x;
    const uint nb = p.k / 32u;                    // 32-element blocks of a row
    const uint per_block = block_elems(WTYPE) / 32u; // of a weight block (8 for a K-quant)
    const bool unsigned_codes =
        WTYPE == T_Q4_1 || WTYPE == T_Q5_1 || WTYPE == T_Q4_K || WTYPE == T_Q5_K;
    for (uint r = gl_WorkGroupID.x; r < p.part_rows; r += gl_NumWorkGroups.x) {
        const uint row = p.w_off + r * p.row_bytes;
        for (uint t0 = 0u; t0 < p.n_tokens; t0 += TOKENS) {
            const uint nt = min(TOKENS, p.n_tokens - t0);
            float acc[TOKENS];
            for (uint t = 0u; t < TOKENS; ++t) acc[t] = 0.0;
            for (uint u = lane; u < nb * 4u; u += WG) {
                const uint blk = u >> 2, part = u & 3u;
                const uint b = row + (blk / per_block) * p.block_bytes, j = blk % per_block;
                const uvec2 w = weight_words(b, j, part);
                const vec2 sm = scale_min(b, j, part);
                for (uint t = 0u; t < nt; ++t) {
                    const uint xi = (t0 + t) * nb + blk;
                    const uint x0 = uint(ctx_i.i[p.qs + xi * 8u + 2u * part]);
                    const uint x1 = uint(ctx_i.i[p.qs + xi * 8u + 2u * part + 1u]);
                    const int dot = unsigned_codes ? sudot4x8(x0, w.x, 0) + sudot4x8(x1, w.y, 0)
                                                   : sdot4x8(x0, w.x, 0) + sdot4x8(x1, w.y, 0);
                    const float dx = ctx.f[p.d + xi];
                    acc[t] += sm.x * dx * float(dot) + sm.y * dx * float(ctx_i.i[p.sums + xi]);
                }
            }
            workgroup_sums(lane, acc);
            if (lane < nt) ctx.f[p.y + (t0 + lane) * p.n + p.row0 + r] = partial[lane];
            barrier(); // partial is reused by the next tokens or row
        }
    }
}
