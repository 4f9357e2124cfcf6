// Matrix multiplication with quantized weights on the CPU: y = x W^T.
//
// W is a ggml weight tensor used in place (e.g. straight from the mmap): n rows (ggml ne1) of k
// elements (ne0) each, row i at data + i * row_bytes, each row in the tensor's block format.
// x is t rows of k floats (row j at x + j * k); y is t rows of n floats:
//     y[j * n + i] = dot(W row i, x row j).
// The activations are first quantized to the 8-bit format the weight type pairs with (Q8_0,
// Q8_1 or Q8_K; see cpu_vec_dot.h), so the inner loops are integer dot products; float weights
// (F32, F16, BF16) use x as is.
//
// Decode (t = 1) is bound by memory bandwidth: each thread streams its own contiguous slice of
// weight rows once. Prefill (t > 1) reuses weights across tokens: per thread, a block of tokens is
// swept by tiles of weight rows so a tile stays in L1 while every token of the block passes. The
// quantized types have register tiles that decode each weight block once per few tokens, and
// with VNNI the 32-element formats have a wide tile for prefill that lays a block of 8 rows out
// once per block of tokens (see cpu_vec_dot.h, cpu_vec_dot_x86.inc).
#pragma once

#include "cpu/cpu_isa.h"
#include "cpu/thread_pool.h"

#include <cstdint>

namespace infer::cpu {

// How a weight lies in memory: Rows is the file's layout (row i at data + i * row_bytes); the
// others are the interleaved tiles the CPU repacks weights into at load (cpu_repack.h).
enum class WeightLayout : uint8_t {
    Rows = 0,
    Q4_Kx8 = 1,
    Q6_Kx8 = 2,
    Q4_0x8 = 3,
    Q8_0x8 = 4,
    Q4_1x8 = 5,
    IQ4_XSx8 = 6
};

struct WeightView {
    uint32_t type;      // ggml type id (TypeId)
    int64_t k;          // elements per row (ne0); a multiple of the type's block size
    int64_t n;          // rows (ne1)
    const void *data;   // row 0, or the first tile; no alignment needed
    uint64_t row_bytes; // stride between rows (>= the bytes of k elements); interleaved layouts:
                        // of the rows after the last tile
    WeightLayout layout = WeightLayout::Rows;
};

// Weight types with a kernel: Q4_0 Q4_1 Q5_0 Q5_1 Q8_0 Q2_K Q3_K Q4_K Q5_K Q6_K IQ4_NL IQ4_XS MXFP4
// IQ2_XXS IQ2_XS IQ2_S IQ3_XXS IQ3_S IQ1_S IQ1_M TQ1_0 TQ2_0 F32 F16 BF16.
bool matmul_supported(uint32_t type);

// True when w can be multiplied: supported type, k > 0 a whole number of blocks, n >= 0, data
// set when n > 0, row_bytes large enough. matmul's behaviour is undefined otherwise.
bool matmul_valid(const WeightView &w);

// Bytes of scratch matmul needs for t activation rows of length k (the quantized activations);
// 0 for float weights. No alignment is required of the scratch buffer.
uint64_t matmul_scratch_bytes(uint32_t type, int64_t k, int64_t t);

// Cooperative: every thread ith = 0..nth-1 of `pool` (nth == pool.size()) calls it with the same
// arguments from inside pool.run(). Phase 1 quantizes x into scratch, split across the threads;
// pool.barrier(); phase 2 computes this thread's share of y. Returns when this thread's share is
// written: separate a reader of y (or a next matmul reusing this scratch) with pool.barrier() or
// the end of run(). Allocates nothing. `isa` selects the kernels (tests force each level);
// it must satisfy cpu_isa_available(). act_in_scratch: a matmul of the same x, t and k whose
// weights take the same activation format (vec_dot_act_type) left phase 1's result in scratch,
// and a barrier has passed since: phase 1 and its barrier are skipped.
void matmul(const WeightView &w, const float *x, int64_t t, float *y, void *scratch, int ith,
            int nth, ThreadPool &pool, CpuIsa isa = cpu_isa_dispatch(),
            bool act_in_scratch = false);

// ---- Building blocks for drivers that quantize activations once and multiply row ranges of
// several matrices with them (the MoE experts, cpu_moe.h).

// Bytes of one activation row of k elements in the format weights of `type` pair with (k * 4
// for float weights, whose activations stay f32).
uint64_t matmul_act_row_bytes(uint32_t type, int64_t k);

// One row of k floats into that format (a copy for float weights): what matmul's phase 1 does.
void matmul_quantize_act_row(uint32_t type, const float *x, int64_t k, void *dst,
                             CpuIsa isa = cpu_isa_dispatch());

// Weight rows [r0, r1) against t activation rows already in that format (row c at
// act + c * act_stride): y[c * y_stride + (r - r0)] = dot(W row r, act row c). matmul's phase 2;
// one thread, allocates nothing.
void matmul_rows(const WeightView &w, const uint8_t *act, uint64_t act_stride, int64_t t, float *y,
                 int64_t y_stride, int64_t r0, int64_t r1, CpuIsa isa = cpu_isa_dispatch());

// The rows [*r0, *r1) of w thread ith of nth streams in one-token matmuls (matmul's decode
// share): contiguous, on the boundaries of the decode kernel's row tile.
void matmul_decode_share(const WeightView &w, int ith, int nth, int64_t *r0, int64_t *r1,
                         CpuIsa isa = cpu_isa_dispatch());

// Single-threaded reference: scalar quantizers and the *_ref dot products, one output at a time.
// Allocates (one quantized activation row); for tests.
void matmul_ref(const WeightView &w, const float *x, int64_t t, float *y);

} // namespace infer::cpu
