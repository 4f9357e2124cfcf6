// Scalar reference quantization of activations to the 8-bit formats that quantized dot products
// consume (ggml's quantize_row_*_ref semantics).
#pragma once

#include <cstdint>

namespace infer {

// n must be a multiple of 32 (Q8_0, Q8_1) or 256 (Q8_K).
void quantize_row_q8_0_ref(const float *src, void *dst, int64_t n);
void quantize_row_q8_1_ref(const float *src, void *dst, int64_t n);
void quantize_row_q8_K_ref(const float *src, void *dst, int64_t n);

} // namespace infer
