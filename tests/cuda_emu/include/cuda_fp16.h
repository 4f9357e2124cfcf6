// The CUDA emulator's <cuda_fp16.h>: __half as a storage type with the conversions the CUDA
// backend uses, rounding as the GPU does (round to nearest even), through libinfer's own
// bit-exact conversions.
#pragma once

#include "core/fp16.h"

#include <cstdint>

struct __half {
    uint16_t bits;
};

inline float __half2float(__half h) { return infer::fp16_to_fp32(h.bits); }
inline __half __float2half_rn(float f) { return {infer::fp32_to_fp16(f)}; }
inline __half __float2half(float f) { return __float2half_rn(f); }
inline __half __ushort_as_half(unsigned short u) { return {u}; }
inline unsigned short __half_as_ushort(__half h) { return h.bits; }
