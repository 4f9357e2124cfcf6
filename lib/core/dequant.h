// Scalar reference dequantization: readable, one function per block format, the ground truth
// every fast path (CPU SIMD, CUDA, Vulkan) is tested against.
#pragma once

#include <cstdint>

namespace infer {

// Dequantizes `n` elements of type `type` (n a multiple of its block size) from `src` to f32.
// Only types whose TypeTraits::has_dequant is true are accepted; returns false otherwise.
bool dequantize_row_ref(uint32_t type, const void *src, float *dst, int64_t n);

} // namespace infer
