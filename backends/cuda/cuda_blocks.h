// Block decoding for the CUDA kernels, written once for the GPU and the host: the matvec, embed
// and dequantize-to-fp16 kernels call these, and tests/unit/test_cuda_host.cpp holds them, bit for
// bit, to lib/core's dequantize_row_ref on random blocks of every type.
//
// A weight row is a packed array of blocks (layouts in lib/core/blocks.h). Each block is split
// into kChunks chunks that adjacent threads decode together, so a warp reads consecutive bytes.
// visit(block, chunk, f) calls f(i, value) for each element i (index within the block) of that
// chunk; the chunks of a block cover its elements exactly once. The float operations and their
// order match lib/core's reference (the host tests compare bits; on the device, nvcc may fuse a
// multiply-add, which moves a result by at most one rounding).
//
// Plain types (F32, F16, BF16) are one element per block, so rows of any length work.
#pragma once

#include "cuda/cuda_hd.h"

#include <cstdint>
#include <cstring>

#if defined(__CUDACC__)
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#endif

namespace infer::cuda {

// ---- Scalars -------------------------------------------------------------------------------

INFER_HD uint16_t load_u16(const uint8_t *p) { return static_cast<uint16_t>(p[0] | (p[1] << 8)); }
INFER_HD uint32_t load_u32(const uint8_t *p) {
    return static_cast<uint32_t>(p[0]) | static_cast<uint32_t>(p[1]) << 8 |
           static_cast<uint32_t>(p[2]) << 16 | static_cast<uint32_t>(p[3]) << 24;
}

INFER_HD float bits_to_float(uint32_t u) {
#if defined(__CUDA_ARCH__)
    return __uint_as_float(u);
#else
    float f;
    std::memcpy(&f, &u, sizeof f);
    return f;
#endif
}

// IEEE half bits to float, exact for every input (NaN payloads kept, subnormals normalized).
INFER_HD float half_to_float(uint16_t h) {
#if defined(__CUDA_ARCH__)
    return __half2float(__ushort_as_half(h));
#else
    const uint32_t sign = static_cast<uint32_t>(h & 0x8000) << 16;
    const uint32_t exp = (h >> 10) & 0x1f;
    uint32_t mant = h & 0x3ff;
    if (exp == 0x1f) return bits_to_float(sign | 0x7f800000 | (mant << 13));
    if (exp != 0) return bits_to_float(sign | ((exp + 112) << 23) | (mant << 13));
    if (mant == 0) return bits_to_float(sign);
    uint32_t e = 113;
    while ((mant & 0x400) == 0) {
        mant <<= 1;
        --e;
    }
    return bits_to_float(sign | (e << 23) | ((mant & 0x3ff) << 13));
#endif
}

INFER_HD float bf16_to_float(uint16_t h) { return bits_to_float(static_cast<uint32_t>(h) << 16); }

// ---- Block types ---------------------------------------------------------------------------
// Each: kBlockElems, kBlockBytes, kChunks, visit(). Offsets are the fields of lib/core/blocks.h.

struct BlockF32 {
    static constexpr int kBlockElems = 1, kBlockBytes = 4, kChunks = 1;
    template <class F> INFER_HD static void visit(const uint8_t *b, int, F &&f) {
        f(0, bits_to_float(load_u32(b)));
    }
};

struct BlockF16 {
    static constexpr int kBlockElems = 1, kBlockBytes = 2, kChunks = 1;
    template <class F> INFER_HD static void visit(const uint8_t *b, int, F &&f) {
        f(0, half_to_float(load_u16(b)));
    }
};

struct BlockBF16 {
    static constexpr int kBlockElems = 1, kBlockBytes = 2, kChunks = 1;
    template <class F> INFER_HD static void visit(const uint8_t *b, int, F &&f) {
        f(0, bf16_to_float(load_u16(b)));
    }
};

// Q4_0 {d; qs[16]}: x = (q - 8) * d. Chunk c: bytes 4c..4c+3 -> elements j and j + 16.
struct BlockQ4_0 {
    static constexpr int kBlockElems = 32, kBlockBytes = 18, kChunks = 4;
    template <class F> INFER_HD static void visit(const uint8_t *b, int c, F &&f) {
        const float d = half_to_float(load_u16(b));
        const uint8_t *qs = b + 2;
        for (int k = 0; k < 4; ++k) {
            const int j = 4 * c + k;
            f(j, static_cast<float>((qs[j] & 0x0f) - 8) * d);
            f(j + 16, static_cast<float>((qs[j] >> 4) - 8) * d);
        }
    }
};

// Q4_1 {d; m; qs[16]}: x = q * d + m.
struct BlockQ4_1 {
    static constexpr int kBlockElems = 32, kBlockBytes = 20, kChunks = 4;
    template <class F> INFER_HD static void visit(const uint8_t *b, int c, F &&f) {
        const float d = half_to_float(load_u16(b));
        const float m = half_to_float(load_u16(b + 2));
        const uint8_t *qs = b + 4;
        for (int k = 0; k < 4; ++k) {
            const int j = 4 * c + k;
            f(j, static_cast<float>(qs[j] & 0x0f) * d + m);
            f(j + 16, static_cast<float>(qs[j] >> 4) * d + m);
        }
    }
};

// Q5_0 {d; qh[4]; qs[16]}: x = (q | h << 4) - 16) * d; bit j of the little-endian qh is element
// j's.
struct BlockQ5_0 {
    static constexpr int kBlockElems = 32, kBlockBytes = 22, kChunks = 4;
    template <class F> INFER_HD static void visit(const uint8_t *b, int c, F &&f) {
        const float d = half_to_float(load_u16(b));
        const uint32_t qh = load_u32(b + 2);
        const uint8_t *qs = b + 6;
        for (int k = 0; k < 4; ++k) {
            const int j = 4 * c + k;
            const int h0 = (qh >> j) & 1, h1 = (qh >> (j + 16)) & 1;
            f(j, static_cast<float>(((qs[j] & 0x0f) | (h0 << 4)) - 16) * d);
            f(j + 16, static_cast<float>(((qs[j] >> 4) | (h1 << 4)) - 16) * d);
        }
    }
};

// Q5_1 {d; m; qh[4]; qs[16]}: x = (q | h << 4) * d + m.
struct BlockQ5_1 {
    static constexpr int kBlockElems = 32, kBlockBytes = 24, kChunks = 4;
    template <class F> INFER_HD static void visit(const uint8_t *b, int c, F &&f) {
        const float d = half_to_float(load_u16(b));
        const float m = half_to_float(load_u16(b + 2));
        const uint32_t qh = load_u32(b + 4);
        const uint8_t *qs = b + 8;
        for (int k = 0; k < 4; ++k) {
            const int j = 4 * c + k;
            const int h0 = (qh >> j) & 1, h1 = (qh >> (j + 16)) & 1;
            f(j, static_cast<float>((qs[j] & 0x0f) | (h0 << 4)) * d + m);
            f(j + 16, static_cast<float>((qs[j] >> 4) | (h1 << 4)) * d + m);
        }
    }
};

// Q8_0 {d; qs[32] int8}: x = q * d. Chunk c: elements 8c..8c+7.
struct BlockQ8_0 {
    static constexpr int kBlockElems = 32, kBlockBytes = 34, kChunks = 4;
    template <class F> INFER_HD static void visit(const uint8_t *b, int c, F &&f) {
        const float d = half_to_float(load_u16(b));
        const uint8_t *qs = b + 2;
        for (int k = 0; k < 8; ++k) {
            const int j = 8 * c + k;
            f(j, static_cast<float>(static_cast<int8_t>(qs[j])) * d);
        }
    }
};

// MXFP4's E8M0 block scale, halved: 2^(e - 128) built as float bits (lib/core's
// e8m0_to_fp32_half: e = 0 and 1 give the subnormals 2^-128 and 2^-127).
INFER_HD float e8m0_to_float_half(uint8_t e) {
    return bits_to_float(e < 2 ? 0x00200000u << e : static_cast<uint32_t>(e - 1) << 23);
}

// lib/core's kValuesMXFP4[q]: the FP4 E2M1 value of nibble q, doubled to an integer (0, 1, 2, 3,
// 4, 6, 8, 12 for q & 7; bit 3 the sign). Computed rather than looked up, so device code reads
// no host table.
INFER_HD int mxfp4_value(int q) {
    const int m = q & 7;
    const int magnitude = m < 4 ? m : (2 + (m & 1)) << ((m >> 1) - 1);
    return q & 8 ? -magnitude : magnitude;
}

// MXFP4 {e; qs[16]}: x = kValuesMXFP4[q] * 2^(e - 128); byte j holds element j (low nibble) and
// j + 16 (high). Chunk c: bytes 4c..4c+3.
struct BlockMXFP4 {
    static constexpr int kBlockElems = 32, kBlockBytes = 17, kChunks = 4;
    template <class F> INFER_HD static void visit(const uint8_t *b, int c, F &&f) {
        const float d = e8m0_to_float_half(b[0]);
        const uint8_t *qs = b + 1;
        for (int k = 0; k < 4; ++k) {
            const int j = 4 * c + k;
            f(j, static_cast<float>(mxfp4_value(qs[j] & 0x0f)) * d);
            f(j + 16, static_cast<float>(mxfp4_value(qs[j] >> 4)) * d);
        }
    }
};

// Q2_K {scales[16]; qs[64]; d; dmin} and Q3_K {hmask[32]; qs[64]; scales[12]; d} pack their
// 2-bit quants as Q6_K does: two halves of 128, element 128h + 32j + l in bits 2j..2j+1 of
// qs[32h + l], sub-block (of 16) 8h + 2j + l / 16. Our chunk c: h = c / 8, l = 4 (c % 8) .. + 3,
// all four j.
// Q2_K: scale byte low nibble sc, high nibble m; x = (d * sc) * q - dmin * m.
struct BlockQ2_K {
    static constexpr int kBlockElems = 256, kBlockBytes = 84, kChunks = 16;
    template <class F> INFER_HD static void visit(const uint8_t *b, int c, F &&f) {
        const float d = half_to_float(load_u16(b + 80));
        const float dmin = half_to_float(load_u16(b + 82));
        const int h = c / 8, l0 = 4 * (c % 8);
        const uint8_t *q = b + 16 + 32 * h;
        for (int l = l0; l < l0 + 4; ++l) {
            for (int j = 0; j < 4; ++j) {
                const uint8_t sc = b[8 * h + 2 * j + l / 16];
                const float dl = d * static_cast<float>(sc & 0x0f);
                const float ml = dmin * static_cast<float>(sc >> 4);
                const int x = (q[l] >> (2 * j)) & 3;
                f(128 * h + 32 * j + l, dl * static_cast<float>(x) - ml);
            }
        }
    }
};

// Q3_K's six-bit scale of sub-block j (stored + 32): low nibble in byte j % 8 (high nibble for
// j >= 8), top two bits in byte 8 + j % 4 at bit 2 (j / 4).
INFER_HD int q3_k_scale(const uint8_t *scales, int j) {
    const int low = j < 8 ? scales[j] & 0x0f : scales[j - 8] >> 4;
    const int high = (scales[8 + j % 4] >> (2 * (j / 4))) & 3;
    return low | (high << 4);
}

// Q3_K: q = the two low bits, minus 4 unless hmask[l] bit 4h + j is set; x = (d * (sc - 32)) * q.
struct BlockQ3_K {
    static constexpr int kBlockElems = 256, kBlockBytes = 110, kChunks = 16;
    template <class F> INFER_HD static void visit(const uint8_t *b, int c, F &&f) {
        const float d = half_to_float(load_u16(b + 108));
        const int h = c / 8, l0 = 4 * (c % 8);
        const uint8_t *hmask = b;
        const uint8_t *q = b + 32 + 32 * h;
        for (int l = l0; l < l0 + 4; ++l) {
            for (int j = 0; j < 4; ++j) {
                const int sc = q3_k_scale(b + 96, 8 * h + 2 * j + l / 16);
                const float dl = d * static_cast<float>(sc - 32);
                const int low = (q[l] >> (2 * j)) & 3;
                const int x = low - (((hmask[l] >> (4 * h + j)) & 1) ? 0 : 4);
                f(128 * h + 32 * j + l, dl * static_cast<float>(x));
            }
        }
    }
};

// Q4_K/Q5_K's six-bit scale and min of sub-block j (ggml's get_scale_min_k4).
INFER_HD void k4_scale_min(const uint8_t *q, int j, int *scale, int *min) {
    if (j < 4) {
        *scale = q[j] & 63;
        *min = q[j + 4] & 63;
    } else {
        *scale = (q[j + 4] & 0x0f) | ((q[j - 4] >> 6) << 4);
        *min = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
    }
}

// Q4_K {d; dmin; scales[12]; qs[128]}: 4 chunks of 64 elements; in chunk cc, byte l of
// qs[32cc..] holds element 64cc + l (low nibble, sub-block 2cc) and 64cc + 32 + l (high nibble,
// sub-block 2cc + 1); x = d * sc * q - dmin * m. Our chunk c: cc = c / 4, l = 8 (c % 4) .. + 7.
// Q5_K {d; dmin; scales[12]; qh[32]; qs[128]} is Q4_K plus a fifth bit, qh byte l at bit 2cc
// (low nibble's element) and 2cc + 1 (high nibble's). Five: which of the two.
template <bool Five, class F> INFER_HD void visit_k4_chunk(const uint8_t *b, int c, F &&f) {
    const float d = half_to_float(load_u16(b));
    const float dmin = half_to_float(load_u16(b + 2));
    const uint8_t *scales = b + 4;
    const uint8_t *qh = b + 16;
    const int cc = c / 4, l0 = 8 * (c % 4);
    int sc, m;
    k4_scale_min(scales, 2 * cc, &sc, &m);
    const float d1 = d * static_cast<float>(sc), m1 = dmin * static_cast<float>(m);
    k4_scale_min(scales, 2 * cc + 1, &sc, &m);
    const float d2 = d * static_cast<float>(sc), m2 = dmin * static_cast<float>(m);
    const uint8_t *q = b + (Five ? 48 : 16) + 32 * cc;
    for (int l = l0; l < l0 + 8; ++l) {
        int x1 = q[l] & 0x0f, x2 = q[l] >> 4;
        if (Five) {
            x1 |= ((qh[l] >> (2 * cc)) & 1) << 4;
            x2 |= ((qh[l] >> (2 * cc + 1)) & 1) << 4;
        }
        f(64 * cc + l, d1 * static_cast<float>(x1) - m1);
        f(64 * cc + 32 + l, d2 * static_cast<float>(x2) - m2);
    }
}

struct BlockQ4_K {
    static constexpr int kBlockElems = 256, kBlockBytes = 144, kChunks = 16;
    template <class F> INFER_HD static void visit(const uint8_t *b, int c, F &&f) {
        visit_k4_chunk<false>(b, c, f);
    }
};

struct BlockQ5_K {
    static constexpr int kBlockElems = 256, kBlockBytes = 176, kChunks = 16;
    template <class F> INFER_HD static void visit(const uint8_t *b, int c, F &&f) {
        visit_k4_chunk<true>(b, c, f);
    }
};

// Q6_K {ql[128]; qh[64]; scales[16] int8; d}: two halves of 128; in half h, element 32j + l takes
// the low nibble of ql[l] (j = 0), of ql[32 + l] (j = 1), the high nibble of ql[l] (j = 2), of
// ql[32 + l] (j = 3), and bits 2j..2j+1 of qh[l]; x = d * sc * (q - 32). Our chunk c: h = c / 8,
// l = 4 (c % 8) .. + 3, all four j.
struct BlockQ6_K {
    static constexpr int kBlockElems = 256, kBlockBytes = 210, kChunks = 16;
    template <class F> INFER_HD static void visit(const uint8_t *b, int c, F &&f) {
        const float d = half_to_float(load_u16(b + 208));
        const int h = c / 8, l0 = 4 * (c % 8);
        const uint8_t *ql = b + 64 * h;
        const uint8_t *qh = b + 128 + 32 * h;
        const int8_t *scales = reinterpret_cast<const int8_t *>(b + 192);
        for (int l = l0; l < l0 + 4; ++l) {
            for (int j = 0; j < 4; ++j) {
                const uint8_t lo_byte = ql[(j & 1) * 32 + l];
                const int lo = j < 2 ? lo_byte & 0x0f : lo_byte >> 4;
                const int hi = (qh[l] >> (2 * j)) & 3;
                const int x = (lo | (hi << 4)) - 32;
                const int sc = scales[8 * h + 2 * j + l / 16];
                f(128 * h + 32 * j + l, d * static_cast<float>(sc) * static_cast<float>(x));
            }
        }
    }
};

// Calls fn(Block{}) with the block struct of ggml type id `type` (host side: kernel dispatch);
// false for a type the CUDA backend has no decoder for. One switch, so adding a type is one line.
template <class Fn> bool with_block_type(uint32_t type, Fn &&fn) {
    switch (type) {
    case 0:
        fn(BlockF32{});
        return true;
    case 1:
        fn(BlockF16{});
        return true;
    case 2:
        fn(BlockQ4_0{});
        return true;
    case 3:
        fn(BlockQ4_1{});
        return true;
    case 6:
        fn(BlockQ5_0{});
        return true;
    case 7:
        fn(BlockQ5_1{});
        return true;
    case 8:
        fn(BlockQ8_0{});
        return true;
    case 10:
        fn(BlockQ2_K{});
        return true;
    case 11:
        fn(BlockQ3_K{});
        return true;
    case 12:
        fn(BlockQ4_K{});
        return true;
    case 13:
        fn(BlockQ5_K{});
        return true;
    case 14:
        fn(BlockQ6_K{});
        return true;
    case 30:
        fn(BlockBF16{});
        return true;
    case 39:
        fn(BlockMXFP4{});
        return true;
    default:
        return false;
    }
}

// Whether the CUDA kernels can read weights of this type.
inline bool block_type_supported(uint32_t type) {
    return with_block_type(type, [](auto) {});
}

} // namespace infer::cuda
