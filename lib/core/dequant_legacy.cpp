// The 32-element block formats. Within a block, byte j of qs holds element j in its low nibble and
// element j + 16 in its high nibble (Q4/Q5); Q5's fifth bits live in a little-endian u32 qh, bit j
// for element j.
//   Q4_0: x = d * (q - 8)          Q4_1: x = d * q + m
//   Q5_0: x = d * (q - 16)         Q5_1: x = d * q + m        Q8_0: x = d * q (q int8)
// The integer part is formed first and converted once; the float ops are ggml's, in its order.
#include "core/dequant_formats.h"

#include "core/blocks.h"
#include "core/fp16.h"

namespace infer::dequant {

namespace {

uint32_t load_qh(const uint8_t qh[4]) {
    return static_cast<uint32_t>(qh[0]) | static_cast<uint32_t>(qh[1]) << 8 |
           static_cast<uint32_t>(qh[2]) << 16 | static_cast<uint32_t>(qh[3]) << 24;
}

} // namespace

void q4_0(const uint8_t *src, float *dst, int64_t n_blocks) {
    for (int64_t i = 0; i < n_blocks; ++i, dst += QK4_0) {
        const auto b = load_block<BlockQ4_0>(src, i);
        const float d = fp16_to_fp32(b.d);
        for (int j = 0; j < QK4_0 / 2; ++j) {
            const int x0 = (b.qs[j] & 0x0f) - 8;
            const int x1 = (b.qs[j] >> 4) - 8;
            dst[j] = static_cast<float>(x0) * d;
            dst[j + QK4_0 / 2] = static_cast<float>(x1) * d;
        }
    }
}

void q4_1(const uint8_t *src, float *dst, int64_t n_blocks) {
    for (int64_t i = 0; i < n_blocks; ++i, dst += QK4_1) {
        const auto b = load_block<BlockQ4_1>(src, i);
        const float d = fp16_to_fp32(b.d);
        const float m = fp16_to_fp32(b.m);
        for (int j = 0; j < QK4_1 / 2; ++j) {
            const int x0 = b.qs[j] & 0x0f;
            const int x1 = b.qs[j] >> 4;
            dst[j] = static_cast<float>(x0) * d + m;
            dst[j + QK4_1 / 2] = static_cast<float>(x1) * d + m;
        }
    }
}

void q5_0(const uint8_t *src, float *dst, int64_t n_blocks) {
    for (int64_t i = 0; i < n_blocks; ++i, dst += QK5_0) {
        const auto b = load_block<BlockQ5_0>(src, i);
        const float d = fp16_to_fp32(b.d);
        const uint32_t qh = load_qh(b.qh);
        for (int j = 0; j < QK5_0 / 2; ++j) {
            const int h0 = (qh >> j) & 1;
            const int h1 = (qh >> (j + QK5_0 / 2)) & 1;
            const int x0 = ((b.qs[j] & 0x0f) | (h0 << 4)) - 16;
            const int x1 = ((b.qs[j] >> 4) | (h1 << 4)) - 16;
            dst[j] = static_cast<float>(x0) * d;
            dst[j + QK5_0 / 2] = static_cast<float>(x1) * d;
        }
    }
}

void q5_1(const uint8_t *src, float *dst, int64_t n_blocks) {
    for (int64_t i = 0; i < n_blocks; ++i, dst += QK5_1) {
        const auto b = load_block<BlockQ5_1>(src, i);
        const float d = fp16_to_fp32(b.d);
        const float m = fp16_to_fp32(b.m);
        const uint32_t qh = load_qh(b.qh);
        for (int j = 0; j < QK5_1 / 2; ++j) {
            const int h0 = (qh >> j) & 1;
            const int h1 = (qh >> (j + QK5_1 / 2)) & 1;
            const int x0 = (b.qs[j] & 0x0f) | (h0 << 4);
            const int x1 = (b.qs[j] >> 4) | (h1 << 4);
            dst[j] = static_cast<float>(x0) * d + m;
            dst[j + QK5_1 / 2] = static_cast<float>(x1) * d + m;
        }
    }
}

void q8_0(const uint8_t *src, float *dst, int64_t n_blocks) {
    for (int64_t i = 0; i < n_blocks; ++i, dst += QK8_0) {
        const auto b = load_block<BlockQ8_0>(src, i);
        const float d = fp16_to_fp32(b.d);
        for (int j = 0; j < QK8_0; ++j) dst[j] = static_cast<float>(b.qs[j]) * d;
    }
}

} // namespace infer::dequant
