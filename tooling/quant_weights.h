// Reference quantization of weight rows (f32 -> a ggml weight type) and a generator of valid
// random blocks. Used to write GGUF files (infer-synth) and to make test inputs for kernels;
// not a replacement for llama-quantize: the legacy 32-element formats and MXFP4 follow ggml's
// quantize_row_*_ref exactly, the k-quants use a plainer scale search than ggml's
// make_qkx2_quants / make_qx_quants (no importance weights), so their bytes differ from ggml's
// while their blocks are valid and their error is of the same order.
#pragma once

#include <cstdint>

namespace infer {

// Quantizes `n` elements (a multiple of the type's block size) of `src` into `dst`.
// Types: F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, IQ4_NL,
// IQ4_XS, MXFP4.
// False for any other type or a partial block. Inputs are expected finite.
bool quantize_row_weights(uint32_t type, const float *src, void *dst, int64_t n);

// Whether quantize_row_weights() and random_blocks() accept `type`.
bool weight_type_supported(uint32_t type);

void quantize_row_f32(const float *src, void *dst, int64_t n);
void quantize_row_f16(const float *src, void *dst, int64_t n);
void quantize_row_bf16(const float *src, void *dst, int64_t n);
void quantize_row_q4_0(const float *src, void *dst, int64_t n);
void quantize_row_q4_1(const float *src, void *dst, int64_t n);
void quantize_row_q5_0(const float *src, void *dst, int64_t n);
void quantize_row_q5_1(const float *src, void *dst, int64_t n);
void quantize_row_q2_K(const float *src, void *dst, int64_t n);
void quantize_row_q3_K(const float *src, void *dst, int64_t n);
void quantize_row_q4_K(const float *src, void *dst, int64_t n);
void quantize_row_q5_K(const float *src, void *dst, int64_t n);
void quantize_row_q6_K(const float *src, void *dst, int64_t n);
void quantize_row_iq4_nl(const float *src, void *dst, int64_t n);
void quantize_row_iq4_xs(const float *src, void *dst, int64_t n);
// Byte-identical to ggml's quantize_row_mxfp4_ref (the rule llama-quantize applies to MXFP4).
void quantize_row_mxfp4(const float *src, void *dst, int64_t n);
// Q8_0 is quantize_row_q8_0_ref() in core/quant.h.

// Writes `n_blocks` valid blocks of `type` (a plain type counts one element as a block) whose
// dequantized values have mean about 0 and standard deviation about `scale`, from random quants
// and scales rather than from floats: the fast path for benchmark-sized models. The values are
// bounded (uniform quants), not Gaussian. Deterministic in (type, seed, scale, n_blocks).
// Returns false for an unsupported type: those of weight_type_supported() and the lattice and
// ternary formats (IQ2_XXS, IQ2_XS, IQ2_S, IQ3_XXS, IQ3_S, IQ1_S, IQ1_M, TQ1_0, TQ2_0), which
// have no quantizer here.
bool random_blocks(uint32_t type, uint64_t seed, float scale, void *dst, int64_t n_blocks);
bool random_blocks_supported(uint32_t type);

} // namespace infer
