// The k-quants: 256-element super-blocks split into sub-blocks whose scales (and mins) are
// themselves quantized against one or two fp16 super-block scales.
//
// Packing shared by Q2_K, Q3_K and Q6_K: the 256 outputs come in two halves of 128. In half h,
// output 32*j + l (j = 0..3, l = 0..31) is read from byte l of that half's 32-byte slice of qs,
// at bit offset 2*j. Q4_K and Q5_K go in four chunks of 64: output l of a chunk comes from the
// low nibble of byte l, output 32 + l from its high nibble.
#include "core/dequant_formats.h"

#include "core/blocks.h"
#include "core/fp16.h"

namespace infer::dequant {

namespace {

// Q3_K's 16 six-bit scales in 12 bytes: bytes 0-7 hold the low 4 bits (scale j in byte j % 8,
// low nibble for j < 8, high nibble after); bytes 8-11 hold the high 2 bits (scale j in byte
// 8 + j % 4, at bit 2 * (j / 4)).
int q3_k_scale(const uint8_t scales[12], int j) {
    const int low = j < 8 ? scales[j] & 0x0f : scales[j - 8] >> 4;
    const int high = (scales[8 + j % 4] >> (2 * (j / 4))) & 3;
    return low | (high << 4);
}

// Q4_K/Q5_K's 8 six-bit scales and 8 six-bit mins in 12 bytes (ggml's get_scale_min_k4):
// sub-blocks 0-3 use the low 6 bits of bytes 0-3 (scale) and 4-7 (min); sub-blocks 4-7 take
// their low 4 bits from the nibbles of bytes 8-11 and their high 2 bits from the top bits of
// bytes 0-3 (scale) and 4-7 (min).
void k4_scale_min(const uint8_t q[K_SCALE_SIZE], int j, int *scale, int *min) {
    if (j < 4) {
        *scale = q[j] & 63;
        *min = q[j + 4] & 63;
    } else {
        *scale = (q[j + 4] & 0x0f) | ((q[j - 4] >> 6) << 4);
        *min = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
    }
}

} // namespace

// x = (d * sc) * q - (dmin * m); q 2 bits; sc, m 4 bits each in scales[16] (sub-blocks of 16).
void q2_k(const uint8_t *src, float *dst, int64_t n_blocks) {
    for (int64_t i = 0; i < n_blocks; ++i, dst += QK_K) {
        const auto b = load_block<BlockQ2_K>(src, i);
        const float d = fp16_to_fp32(b.d);
        const float dmin = fp16_to_fp32(b.dmin);
        for (int h = 0; h < 2; ++h) {
            const uint8_t *q = b.qs + 32 * h;
            for (int j = 0; j < 4; ++j) {
                for (int l = 0; l < 32; ++l) {
                    const uint8_t sc = b.scales[8 * h + 2 * j + l / 16];
                    const float dl = d * static_cast<float>(sc & 0x0f);
                    const float ml = dmin * static_cast<float>(sc >> 4);
                    const int x = (q[l] >> (2 * j)) & 3;
                    dst[128 * h + 32 * j + l] = dl * static_cast<float>(x) - ml;
                }
            }
        }
    }
}

// x = (d * (sc - 32)) * q; q = low 2 bits from qs, minus 4 unless its hmask bit is set
// (hmask bit 4*h + j of byte l, same positions as qs); sc 6 bits (sub-blocks of 16).
void q3_k(const uint8_t *src, float *dst, int64_t n_blocks) {
    for (int64_t i = 0; i < n_blocks; ++i, dst += QK_K) {
        const auto b = load_block<BlockQ3_K>(src, i);
        const float d = fp16_to_fp32(b.d);
        for (int h = 0; h < 2; ++h) {
            const uint8_t *q = b.qs + 32 * h;
            for (int j = 0; j < 4; ++j) {
                const int hbit = 4 * h + j;
                for (int l = 0; l < 32; ++l) {
                    const int sc = q3_k_scale(b.scales, 8 * h + 2 * j + l / 16);
                    const float dl = d * static_cast<float>(sc - 32);
                    const int low = (q[l] >> (2 * j)) & 3;
                    const int x = low - (((b.hmask[l] >> hbit) & 1) ? 0 : 4);
                    dst[128 * h + 32 * j + l] = dl * static_cast<float>(x);
                }
            }
        }
    }
}

// x = (d * sc) * q - (dmin * m); q 4 bits; sc, m 6 bits (sub-blocks of 32).
void q4_k(const uint8_t *src, float *dst, int64_t n_blocks) {
    for (int64_t i = 0; i < n_blocks; ++i, dst += QK_K) {
        const auto b = load_block<BlockQ4_K>(src, i);
        const float d = fp16_to_fp32(b.d);
        const float dmin = fp16_to_fp32(b.dmin);
        for (int c = 0; c < 4; ++c) { // chunk of 64 = sub-blocks 2c, 2c + 1
            const uint8_t *q = b.qs + 32 * c;
            int sc, m;
            k4_scale_min(b.scales, 2 * c, &sc, &m);
            const float d1 = d * static_cast<float>(sc), m1 = dmin * static_cast<float>(m);
            k4_scale_min(b.scales, 2 * c + 1, &sc, &m);
            const float d2 = d * static_cast<float>(sc), m2 = dmin * static_cast<float>(m);
            for (int l = 0; l < 32; ++l) {
                dst[64 * c + l] = d1 * static_cast<float>(q[l] & 0x0f) - m1;
                dst[64 * c + 32 + l] = d2 * static_cast<float>(q[l] >> 4) - m2;
            }
        }
    }
}

// As Q4_K with a fifth bit: qh byte l, bit 2c for output l of chunk c, bit 2c + 1 for 32 + l.
void q5_k(const uint8_t *src, float *dst, int64_t n_blocks) {
    for (int64_t i = 0; i < n_blocks; ++i, dst += QK_K) {
        const auto b = load_block<BlockQ5_K>(src, i);
        const float d = fp16_to_fp32(b.d);
        const float dmin = fp16_to_fp32(b.dmin);
        for (int c = 0; c < 4; ++c) {
            const uint8_t *q = b.qs + 32 * c;
            int sc, m;
            k4_scale_min(b.scales, 2 * c, &sc, &m);
            const float d1 = d * static_cast<float>(sc), m1 = dmin * static_cast<float>(m);
            k4_scale_min(b.scales, 2 * c + 1, &sc, &m);
            const float d2 = d * static_cast<float>(sc), m2 = dmin * static_cast<float>(m);
            for (int l = 0; l < 32; ++l) {
                const int x1 = (q[l] & 0x0f) | (((b.qh[l] >> (2 * c)) & 1) << 4);
                const int x2 = (q[l] >> 4) | (((b.qh[l] >> (2 * c + 1)) & 1) << 4);
                dst[64 * c + l] = d1 * static_cast<float>(x1) - m1;
                dst[64 * c + 32 + l] = d2 * static_cast<float>(x2) - m2;
            }
        }
    }
}

// x = (d * sc) * (q - 32); q = 4 bits from ql + 2 bits from qh; sc int8 (sub-blocks of 16).
// In half h (ql slice of 64, qh slice of 32), output 32*j + l takes: the low nibble of ql[l]
// (j = 0), of ql[32 + l] (j = 1), the high nibble of ql[l] (j = 2), of ql[32 + l] (j = 3); its
// top 2 bits from qh[l] at bit 2*j.
void q6_k(const uint8_t *src, float *dst, int64_t n_blocks) {
    for (int64_t i = 0; i < n_blocks; ++i, dst += QK_K) {
        const auto b = load_block<BlockQ6_K>(src, i);
        const float d = fp16_to_fp32(b.d);
        for (int h = 0; h < 2; ++h) {
            const uint8_t *ql = b.ql + 64 * h;
            const uint8_t *qh = b.qh + 32 * h;
            for (int j = 0; j < 4; ++j) {
                for (int l = 0; l < 32; ++l) {
                    const uint8_t lo_byte = ql[(j & 1) * 32 + l];
                    const int lo = j < 2 ? lo_byte & 0x0f : lo_byte >> 4;
                    const int hi = (qh[l] >> (2 * j)) & 3;
                    const int x = (lo | (hi << 4)) - 32;
                    const int sc = b.scales[8 * h + 2 * j + l / 16];
                    dst[128 * h + 32 * j + l] = d * static_cast<float>(sc) * static_cast<float>(x);
                }
            }
        }
    }
}

} // namespace infer::dequant
