// One matrix per head: y[t][h] = W_h x[t][h], the products multi-head latent attention (DeepSeek)
// uses to absorb its key projection into the query (attn_k_b) and to expand the attended latent
// into value heads (attn_v_b). The heads' matrices are stacked along ne[2] like experts, so a
// stack is an ExpertWeights (repacked per head where the CPU repacks it).
#pragma once

#include "cpu/cpu_moe.h"

namespace infer::cpu {

// Rows of x are x_width floats apart; head h's input is the k = w.k floats at h * x_stride in
// its row. y [t][n_head][w.n].
uint64_t head_matmul_scratch_bytes(const ExpertWeights &w, int64_t t);
// Cooperative as matmul(): every thread of pool calls it; the activations are quantized once
// (per (token, head), split across the threads), a barrier, then every head's rows.
void head_matmul(const ExpertWeights &w, const float *x, int64_t x_width, int64_t x_stride,
                 int64_t t, float *y, void *scratch, int ith, int nth, ThreadPool &pool,
                 CpuIsa isa = cpu_isa_dispatch());
// matmul_ref per (token, head); allocates; for tests and the reference mode.
void head_matmul_ref(const ExpertWeights &w, const float *x, int64_t x_width, int64_t x_stride,
                     int64_t t, float *y);

} // namespace infer::cpu
