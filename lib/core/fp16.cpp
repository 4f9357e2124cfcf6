// fp16 and bf16 conversions by integer bit manipulation only: no F16C, no dependence on compiler
// flags or the FP environment, so every build and every backend's reference gets the same bits.
//
// fp16: 1 sign, 5 exponent (bias 15), 10 mantissa bits. fp32: 1, 8 (bias 127), 23.
// The rounding and NaN rules follow numpy's float32 <-> float16 astype (which ggml's
// GGML_FP32_TO_FP16 also matches for every non-NaN input):
//   - round to nearest, ties to even, including into the subnormal range and up to infinity;
//   - a NaN keeps its sign and the top 10 bits of its payload; a payload that would become 0
//     (and so turn into infinity) becomes 1. The quiet bit is not forced: an fp32 signalling NaN
//     stays signalling, exactly as numpy does it.
#include "core/fp16.h"

#include <cstring>

namespace infer {

namespace {

uint32_t bits_of(float f) {
    uint32_t u;
    std::memcpy(&u, &f, sizeof u);
    return u;
}

float float_of(uint32_t u) {
    float f;
    std::memcpy(&f, &u, sizeof f);
    return f;
}

// Shifts `value` right by `shift` (1..31) rounding to nearest, ties to even.
uint32_t shift_right_rne(uint32_t value, int shift) {
    const uint32_t kept = value >> shift;
    const uint32_t rest = value & ((1u << shift) - 1);
    const uint32_t half = 1u << (shift - 1);
    return kept + ((rest > half || (rest == half && (kept & 1))) ? 1 : 0);
}

} // namespace

float fp16_to_fp32(uint16_t h) {
    const uint32_t sign = static_cast<uint32_t>(h & 0x8000) << 16;
    const uint32_t exp = (h >> 10) & 0x1f;
    uint32_t mant = h & 0x3ff;

    if (exp == 0x1f) return float_of(sign | 0x7f800000 | (mant << 13)); // inf, NaN with payload
    if (exp != 0) return float_of(sign | ((exp + 127 - 15) << 23) | (mant << 13));
    if (mant == 0) return float_of(sign); // +-0

    // Subnormal: mant * 2^-24. Normalize so the leading 1 sits at bit 10, the implicit bit.
    uint32_t e = 127 - 15 + 1;
    while ((mant & 0x400) == 0) {
        mant <<= 1;
        --e;
    }
    return float_of(sign | (e << 23) | ((mant & 0x3ff) << 13));
}

uint16_t fp32_to_fp16(float f) {
    const uint32_t u = bits_of(f);
    const uint16_t sign = static_cast<uint16_t>((u >> 16) & 0x8000);
    const uint32_t exp = (u >> 23) & 0xff; // biased fp32 exponent
    const uint32_t mant = u & 0x7fffff;

    if (exp == 0xff) {
        if (mant == 0) return sign | 0x7c00; // +-inf
        const uint16_t payload = static_cast<uint16_t>(mant >> 13);
        return sign | 0x7c00 | (payload != 0 ? payload : 1);
    }
    // |f| >= 2^16 is past 65504 and its rounding halfway point 65520: infinity.
    if (exp >= 127 + 16) return sign | 0x7c00;

    if (exp >= 127 - 14) {
        // Normal fp16 range. Rounding may carry into the exponent, up to 0x7c00 (infinity), which
        // is the correctly rounded result.
        const uint32_t e16 = exp - (127 - 15);
        return static_cast<uint16_t>(sign | shift_right_rne((e16 << 23) | mant, 13));
    }
    // Below 2^-14: an fp16 subnormal, a count of 2^-24 units. The value with its implicit bit is
    // m * 2^(exp - 150), i.e. m >> (126 - exp) units. From 2^-25 down everything rounds to 0
    // (2^-25 itself is a tie that goes to the even 0).
    if (exp < 127 - 25) return sign;
    const uint32_t m = mant | 0x800000;
    return static_cast<uint16_t>(sign | shift_right_rne(m, static_cast<int>(126 - exp)));
}

float bf16_to_fp32(uint16_t h) {
    return float_of(static_cast<uint32_t>(h) << 16);
}

uint16_t fp32_to_bf16(float f) {
    const uint32_t u = bits_of(f);
    // NaN: truncate and set the quiet bit (ggml_compute_fp32_to_bf16, gguf-py's BF16).
    if ((u & 0x7fffffff) > 0x7f800000) return static_cast<uint16_t>((u >> 16) | 64);
    // Round to nearest even; a carry out of the mantissa correctly bumps the exponent, and past
    // the largest finite bf16 it lands on infinity. u + bias cannot wrap: u <= 0xff800000.
    const uint32_t bias = 0x7fff + ((u >> 16) & 1);
    return static_cast<uint16_t>((u + bias) >> 16);
}

} // namespace infer
