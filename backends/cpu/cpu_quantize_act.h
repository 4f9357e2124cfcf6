// Quantization of f32 activation rows to the 8-bit formats the integer dot products consume:
// Q8_0 (d, 32 x int8), Q8_1 (d, s = d * sum, 32 x int8), Q8_K (float d, 256 x int8, 16 bsums).
//
// The scalar references are lib/core's quantize_row_q8_{0,1,K}_ref (ggml's semantics, tested
// against the gguf package); the AVX2 versions produce bit-identical bytes (tests check it), so
// the choice of path never changes results. n must be a multiple of 32 (Q8_0, Q8_1) or 256 (Q8_K); dst needs no alignment.
#pragma once

#include "core/quant.h"
#include "cpu/cpu_isa.h"

#include <cstdint>

namespace infer::cpu {

inline void quantize_act_q8_0_ref(const float *x, void *dst, int64_t n) {
    quantize_row_q8_0_ref(x, dst, n);
}
inline void quantize_act_q8_1_ref(const float *x, void *dst, int64_t n) {
    quantize_row_q8_1_ref(x, dst, n);
}
inline void quantize_act_q8_K_ref(const float *x, void *dst, int64_t n) {
    quantize_row_q8_K_ref(x, dst, n);
}

#if defined(__x86_64__)
void quantize_act_q8_0_avx2(const float *x, void *dst, int64_t n);
void quantize_act_q8_1_avx2(const float *x, void *dst, int64_t n);
void quantize_act_q8_K_avx2(const float *x, void *dst, int64_t n);
#elif defined(__aarch64__)
// Every ARM level: the same bytes.
void quantize_act_q8_0_neon(const float *x, void *dst, int64_t n);
void quantize_act_q8_1_neon(const float *x, void *dst, int64_t n);
void quantize_act_q8_K_neon(const float *x, void *dst, int64_t n);
#endif

using QuantizeActFn = void (*)(const float *x, void *dst, int64_t n);

// The quantizer for activation type `act_type` (ggml type id Q8_0, Q8_1 or Q8_K) on `isa`
// (Avx512Vnni uses the AVX2 code, every ARM level the NEON code); nullptr for other types.
QuantizeActFn quantize_act_fn(uint32_t act_type, CpuIsa isa);

} // namespace infer::cpu
