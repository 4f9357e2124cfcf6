// IEEE half and bfloat16 conversions, bit-exact with ggml and numpy (NaN, infinities, subnormals).
#pragma once

#include <cstdint>

namespace infer {

float fp16_to_fp32(uint16_t h);
uint16_t fp32_to_fp16(float f); // round to nearest even
float bf16_to_fp32(uint16_t h);
uint16_t fp32_to_bf16(float f); // round to nearest even; NaN stays a quiet NaN

} // namespace infer
