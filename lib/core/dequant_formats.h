// The per-format scalar dequantizers behind dequantize_row_ref() (dequant.h). Private to lib/core.
// Each converts `n_blocks` consecutive blocks at `src` (no alignment required) to
// n_blocks * block_elems floats at `dst`, with ggml's dequantize_row_* arithmetic: the same
// float32 operations in the same order, so the results are bit-identical to ggml's C.
// (That needs -ffp-contract=off: a fused multiply-add would round once where ggml rounds twice.)
#pragma once

#include <cstdint>

namespace infer::dequant {

// dequant_plain.cpp: element types.
void f32(const uint8_t *src, float *dst, int64_t n_blocks);
void f16(const uint8_t *src, float *dst, int64_t n_blocks);
void bf16(const uint8_t *src, float *dst, int64_t n_blocks);

// dequant_legacy.cpp: 32-element blocks with one fp16 scale (and min).
void q4_0(const uint8_t *src, float *dst, int64_t n_blocks);
void q4_1(const uint8_t *src, float *dst, int64_t n_blocks);
void q5_0(const uint8_t *src, float *dst, int64_t n_blocks);
void q5_1(const uint8_t *src, float *dst, int64_t n_blocks);
void q8_0(const uint8_t *src, float *dst, int64_t n_blocks);

// dequant_kquants.cpp: 256-element super-blocks with quantized sub-block scales.
void q2_k(const uint8_t *src, float *dst, int64_t n_blocks);
void q3_k(const uint8_t *src, float *dst, int64_t n_blocks);
void q4_k(const uint8_t *src, float *dst, int64_t n_blocks);
void q5_k(const uint8_t *src, float *dst, int64_t n_blocks);
void q6_k(const uint8_t *src, float *dst, int64_t n_blocks);

// dequant_codebook.cpp: 4-bit indices into a fixed table of values.
void iq4_nl(const uint8_t *src, float *dst, int64_t n_blocks);
void iq4_xs(const uint8_t *src, float *dst, int64_t n_blocks);
void mxfp4(const uint8_t *src, float *dst, int64_t n_blocks);

// dequant_lattice.cpp: grid-index (IQ2, IQ3, IQ1) and ternary (TQ) super-blocks (iq_groups.h).
void iq2_xxs(const uint8_t *src, float *dst, int64_t n_blocks);
void iq2_xs(const uint8_t *src, float *dst, int64_t n_blocks);
void iq2_s(const uint8_t *src, float *dst, int64_t n_blocks);
void iq3_xxs(const uint8_t *src, float *dst, int64_t n_blocks);
void iq3_s(const uint8_t *src, float *dst, int64_t n_blocks);
void iq1_s(const uint8_t *src, float *dst, int64_t n_blocks);
void iq1_m(const uint8_t *src, float *dst, int64_t n_blocks);
void tq1_0(const uint8_t *src, float *dst, int64_t n_blocks);
void tq2_0(const uint8_t *src, float *dst, int64_t n_blocks);

} // namespace infer::dequant
