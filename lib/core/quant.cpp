// Reference quantization of activations to Q8_0, Q8_1 and Q8_K, following ggml's
// quantize_row_q8_0_ref / q8_1_ref / q8_K_ref operation for operation, so that the bytes match.
// Inputs are expected finite. Conversions to int8 saturate (NaN gives 0) so that a stray inf or
// NaN in an activation yields garbage, not undefined behaviour.
#include "core/quant.h"

#include <cmath>
#include <cstring>

#include "core/blocks.h"
#include "core/fp16.h"

namespace infer {

namespace {

int8_t to_int8(float v) {
    if (std::isnan(v)) return 0;
    if (v >= 127.0f) return 127;
    if (v <= -128.0f) return -128;
    return static_cast<int8_t>(v);
}

// ggml's nearest_int(): round to nearest, ties to even, via the 1.5 * 2^23 trick: adding it
// pushes the fraction bits out of the mantissa, so the float adder does the rounding (in the
// default rounding mode, as in ggml). Exact for |x| <= 2^22; callers stay within +-128.
int nearest_int(float x) {
    const float biased = x + 12582912.0f;
    int32_t bits;
    std::memcpy(&bits, &biased, sizeof bits);
    return (bits & 0x007fffff) - 0x00400000;
}

template <typename Block> void store_block(void *dst, int64_t i, const Block &b) {
    std::memcpy(static_cast<uint8_t *>(dst) + i * static_cast<int64_t>(sizeof(Block)), &b,
                sizeof(Block));
}

// The scale shared by Q8_0 and Q8_1: amax / 127, and its inverse (0 for an all-zero block).
void q8_scale(const float *x, int n, float *d, float *id) {
    float amax = 0.0f;
    for (int j = 0; j < n; ++j) {
        const float a = std::fabs(x[j]);
        if (a > amax) amax = a;
    }
    *d = amax / 127.0f;
    *id = *d != 0.0f ? 1.0f / *d : 0.0f;
}

} // namespace

// Per block of 32: d = amax / 127 (stored fp16, computed and used in f32),
// q = roundf(x / d) (round half away from zero).
void quantize_row_q8_0_ref(const float *src, void *dst, int64_t n) {
    for (int64_t i = 0; i < n / QK8_0; ++i) {
        const float *x = src + i * QK8_0;
        float d, id;
        q8_scale(x, QK8_0, &d, &id);
        BlockQ8_0 b;
        b.d = fp32_to_fp16(d);
        for (int j = 0; j < QK8_0; ++j) b.qs[j] = to_int8(std::round(x[j] * id));
        store_block(dst, i, b);
    }
}

// As Q8_0, plus s = fp16(d * sum(q)) for the min term of Q4_1/Q5_1 dot products. As in ggml,
// d in s is the f32 scale, not its fp16 rounding.
void quantize_row_q8_1_ref(const float *src, void *dst, int64_t n) {
    for (int64_t i = 0; i < n / QK8_1; ++i) {
        const float *x = src + i * QK8_1;
        float d, id;
        q8_scale(x, QK8_1, &d, &id);
        BlockQ8_1 b;
        b.d = fp32_to_fp16(d);
        int sum = 0;
        for (int j = 0; j < QK8_1; ++j) {
            b.qs[j] = to_int8(std::round(x[j] * id));
            sum += b.qs[j];
        }
        b.s = fp32_to_fp16(static_cast<float>(sum) * d);
        store_block(dst, i, b);
    }
}

// Per block of 256: the element of largest magnitude, with its sign, maps to -127
// (iscale = -127 / max), q = nearest_int(iscale * x) capped at 127, d = 1 / iscale kept as f32,
// and bsums[k] = sum of q over group k of 16. An all-zero block is all zeros (ggml leaves bsums
// untouched there; we clear them).
void quantize_row_q8_K_ref(const float *src, void *dst, int64_t n) {
    for (int64_t i = 0; i < n / QK_K; ++i) {
        const float *x = src + i * QK_K;
        BlockQ8_K b;
        std::memset(&b, 0, sizeof b);

        float max = 0.0f, amax = 0.0f;
        for (int j = 0; j < QK_K; ++j) {
            const float a = std::fabs(x[j]);
            if (a > amax) {
                amax = a;
                max = x[j];
            }
        }
        if (amax != 0.0f) {
            const float iscale = -127.0f / max;
            for (int j = 0; j < QK_K; ++j) {
                const int v = nearest_int(iscale * x[j]);
                b.qs[j] = static_cast<int8_t>(v < 127 ? v : 127);
            }
            for (int k = 0; k < QK_K / 16; ++k) {
                int sum = 0;
                for (int j = 0; j < 16; ++j) sum += b.qs[16 * k + j];
                b.bsums[k] = static_cast<int16_t>(sum);
            }
            b.d = 1.0f / iscale;
        }
        store_block(dst, i, b);
    }
}

} // namespace infer
