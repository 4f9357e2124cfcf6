// IEEE half <-> float for the CPU kernels, bit manipulation only (no F16C needed), bit-exact with
// F16C's vcvtph2ps / vcvtps2ph (round to nearest even) for every non-NaN value; NaN becomes a quiet
// NaN. Same algorithm as ggml's scalar fallback (from Maratyszcza's FP16 library).
// TODO(merge): lib/core/fp16.h is the canonical conversion; switch to it once it lands.
#pragma once

#include <cstdint>
#include <cstring>

namespace infer::cpu {

inline float half_bits_to_float_(uint32_t u) {
    float f;
    std::memcpy(&f, &u, sizeof f);
    return f;
}

inline uint32_t float_to_bits_(float f) {
    uint32_t u;
    std::memcpy(&u, &f, sizeof u);
    return u;
}

inline float half_to_float(uint16_t h) {
    const uint32_t w = uint32_t(h) << 16;
    const uint32_t sign = w & 0x80000000u;
    const uint32_t two_w = w + w;
    // Normal halves: shift exponent+mantissa into place and rebias the exponent with one multiply
    // (which also turns a half Inf/NaN exponent into a float Inf/NaN one).
    const uint32_t exp_offset = 0xE0u << 23;
    const float normalized = half_bits_to_float_((two_w >> 4) + exp_offset) * 0x1.0p-112f;
    // Subnormal halves: place the mantissa under a fixed exponent and subtract the implicit one.
    const uint32_t magic_mask = 126u << 23;
    const float denormalized = half_bits_to_float_((two_w >> 17) | magic_mask) - 0.5f;
    const uint32_t denormalized_cutoff = 1u << 27;
    const uint32_t result = sign | (two_w < denormalized_cutoff ? float_to_bits_(denormalized)
                                                                : float_to_bits_(normalized));
    return half_bits_to_float_(result);
}

inline uint16_t float_to_half(float f) {
    // Scaling up then down lets the FPU do the round-to-nearest-even at half precision, including
    // the overflow to infinity and the gradual underflow to subnormals.
    float base = (__builtin_fabsf(f) * 0x1.0p+112f) * 0x1.0p-110f;
    const uint32_t w = float_to_bits_(f);
    const uint32_t shl1_w = w + w;
    const uint32_t sign = w & 0x80000000u;
    uint32_t bias = shl1_w & 0xFF000000u;
    if (bias < 0x71000000u) bias = 0x71000000u;
    base = half_bits_to_float_((bias >> 1) + 0x07800000u) + base;
    const uint32_t bits = float_to_bits_(base);
    const uint32_t exp_bits = (bits >> 13) & 0x00007C00u;
    const uint32_t mantissa_bits = bits & 0x00000FFFu;
    const uint32_t nonsign = exp_bits + mantissa_bits;
    return uint16_t((sign >> 16) | (shl1_w > 0xFF000000u ? 0x7E00u : nonsign));
}

} // namespace infer::cpu
