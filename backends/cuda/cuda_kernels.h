// The CUDA kernels of the graph ops, as host functions that launch them on a stream. Pointers are
// device pointers; activations are row-major f32 [rows][n] as in lib/graph. Each launch is
// checked (a bad configuration is a Status, not a later mystery). The backend (cuda_backend.cu)
// calls these; tests/gpu/cuda_tests.cpp holds each one to the CPU's *_ref kernel.
#pragma once

#include "core/status.h"
#include "cuda/cuda_blocks.h"
#include "cuda/cuda_launch.h"

#include <cstdint>
#include <cuda_runtime.h>

namespace infer::cuda {

// Runs fn(Block{}) -> Status for the block struct of `type`; an error naming `what` for a type
// the kernels cannot read.
template <class Fn> Status for_block_type(uint32_t type, const char *what, Fn &&fn) {
    // The error is made only when no block type matched: making it allocates its message, and
    // this runs at every launch (decoding allocates nothing).
    bool matched = false;
    Status result = Status::ok();
    // (void): the assignment returns the [[nodiscard]] Status type, which nvcc flags.
    with_block_type(type, [&](auto block) {
        matched = true;
        (void)(result = fn(block));
    });
    if (!matched)
        return make_error(INFER_ERR_MODEL_TENSOR_TYPE, "%s: the CUDA kernels cannot read type %u",
                          what, type);
    return result;
}

// A weight matrix on the device: n rows of k elements of a ggml type, rows row_bytes apart.
struct DeviceMatrix {
    uint32_t type;
    int64_t k, n;
    const uint8_t *data;
    uint64_t row_bytes;
};

// y[t][r] = W[r] . x[t] (+ bias[r]) for t < n_tokens <= kMatvecMaxTokens: each weight byte read
// once for all tokens. bias may be null. (cuda_matvec.cu)
Status matvec(const DeviceMatrix &w, const float *x, int64_t n_tokens, const float *bias, float *y,
              cudaStream_t stream);
// The same for any number of tokens, kMatvecMaxTokens at a time (f32 throughout: where the
// prefill GEMM's fp16 operands would not do, and its fallback without cuBLASLt).
Status matvec_batched(const DeviceMatrix &w, const float *x, int64_t n_tokens, const float *bias,
                      float *y, cudaStream_t stream);

// The fast decode path (cuda_matvec_int8.cu, math in cuda_int8_dot.h): x quantized to int8 per
// 32 once (act: act_int8_bytes(k, n_tokens) bytes of device memory, 16-byte aligned; any number
// of rows, the expert FFN quantizes its whole batch), then
// y[t][r] = W[r] . x[t] (+ bias[r]) with dp4a. For Q4_0 Q4_1 Q8_0 MXFP4 Q2_K..Q6_K with k a
// multiple of 32 up to kInt8MaxK and 16-byte aligned data (matvec_int8_supported); the simple
// matvec above takes everything else.
bool matvec_int8_supported(const DeviceMatrix &w);
Status quantize_act_int8(const float *x, int64_t k, int64_t n_tokens, void *act,
                         cudaStream_t stream);
Status matvec_int8(const DeviceMatrix &w, const void *act, int64_t n_tokens, const float *bias,
                   float *y, cudaStream_t stream);

// out[r][i] = dequant(W row r)[i] as fp16 for rows [row0, row0 + n_rows) (cuda_dequant.cu).
Status dequantize_f16(const DeviceMatrix &w, int64_t row0, int64_t n_rows, void *out,
                      cudaStream_t stream);
// out[t] = dequant(W row tokens[t]) * scale for t < n_tokens (cuda_dequant.cu).
Status embed(const DeviceMatrix &w, const int32_t *tokens, int64_t n_tokens, float scale,
             float *out, cudaStream_t stream);
// out = fp16(x), n elements (cuda_dequant.cu).
Status to_f16(const float *x, int64_t n, void *out, cudaStream_t stream);

// ---- Elementwise and normalization (cuda_elementwise.cu) ----------------------------------
Status add(float *y, const float *a, const float *b, int64_t n, cudaStream_t stream);
Status scale(float *y, const float *x, float s, int64_t n, cudaStream_t stream);
// y[r][i] += bias[i] for rows of n
Status add_rows(float *y, const float *bias, int64_t rows, int64_t n, cudaStream_t stream);
// y = act(gate) * up, act a GluAct (cuda_activation.h)
Status glu(float *y, const float *gate, const float *up, int64_t n, int act, cudaStream_t stream);
// y[r][i] = x[r][i] * sigmoid(g[r]) for rows of n (g: one float per row)
Status sigmoid_gate(float *y, const float *x, const float *g, int64_t rows, int64_t n,
                    cudaStream_t stream);
// rows of `group` floats: y = x / sqrt(mean(x^2) + eps) * w (w may be null)
Status rms_norm(float *y, const float *x, const float *w, int64_t rows, int64_t group, float eps,
                cudaStream_t stream);

// ---- RoPE and the KV cache (cuda_rope.cu) --------------------------------------------------
struct RopeArgs {
    int n_head, head_dim, n_rot;
    float theta_scale; // freq_base^(-2 / n_rot), computed on the host as rope_ref does
    float freq_scale;
    const float *freq_factors; // device, n_rot / 2 floats, or null
    bool neox;
    RopeYarnArgs yarn = {};
};
// In place on x [n_tokens][n_head][head_dim] at positions pos (device).
Status rope(float *x, const int32_t *pos, int64_t n_tokens, const RopeArgs &a, cudaStream_t stream);

struct KvArgs {
    int n_head_kv, head_dim;
    int64_t n_ctx;
    bool f16;            // else f32
    int head_dim_v = 0;  // value head size (0: head_dim)
    bool v_in_k = false; // no V cache: value row j is the first dv() elements of key row j (MLA)

    INFER_HD int dv() const { return head_dim_v ? head_dim_v : head_dim; }
    // Elements between one value row and the next.
    INFER_HD int v_stride() const { return v_in_k ? head_dim : dv(); }
};
// K cache [n_head_kv][n_ctx][head_dim] and V cache [n_head_kv][n_ctx][dv] at rows pos[t] <- k
// [n_tokens][n_head_kv][head_dim], v [n_tokens][n_head_kv][dv] (v and v_cache unused with v_in_k)
Status kv_store(void *k_cache, void *v_cache, const float *k, const float *v, const int32_t *pos,
                int64_t n_tokens, const KvArgs &kv, cudaStream_t stream);

// ---- Attention (cuda_attention.cu) ---------------------------------------------------------
struct AttentionArgs {
    int n_head;
    float scale, softcap;
    int window;
    int n_splits; // flash-decoding: key ranges per (token, head); 1 writes o directly
    const float *sinks = nullptr; // device, n_head attention-sink logits (gpt-oss), or null
};
// Bytes of partial results attention() needs for n_tokens with args.n_splits > 1 (values of
// head_dim_v).
uint64_t attention_scratch_bytes(int64_t n_tokens, int n_head, int head_dim_v, int n_splits);
// o [n_tokens][n_head][dv] = softmax over the visible cached keys, as attention_ref; with v_in_k
// pass v_cache = k_cache.
Status attention(float *o, const float *q, const void *k_cache, const void *v_cache,
                 const int32_t *pos, int64_t n_tokens, const KvArgs &kv, const AttentionArgs &a,
                 void *scratch, cudaStream_t stream);

// The largest key and value head sizes the attention kernel takes (DeepSeek-V3's MLA: keys of
// 576, values of 512).
constexpr int kMaxHeadDim = 1024;

// ---- Views of head-structured rows and per-head products (cuda_heads.cu) ------------------
// lib/graph's Slice, Concat and HeadMatMul (multi-head latent attention); cpu_ops.h and
// cpu_head_matmul.h have the references.

// y[r][g][i] = x[r][g * stride + offset + i] for rows of x_width floats; g < groups, i < width.
Status slice_heads(float *y, const float *x, int64_t rows, int64_t x_width, int groups, int width,
                   int64_t stride, int64_t offset, cudaStream_t stream);
// y[r][g] = a[r][g] (wa floats) then b[r][g] (wb floats), g < groups.
Status concat_heads(float *y, const float *a, const float *b, int64_t rows, int groups, int wa,
                    int wb, cudaStream_t stream);
// y[t][h] = W_h x[t][h * x_stride ..][0, k) for h < n_head, any number of tokens: n_head matrices
// like w (its k, n, type and row_bytes) whose data lie head_bytes apart; x rows of x_width
// floats, y [n_tokens][n_head][n] (cuda_matvec.cu: the simple matvec, per head).
Status head_matvec(const DeviceMatrix &w, uint64_t head_bytes, int n_head, const float *x,
                   int64_t x_width, int64_t x_stride, int64_t n_tokens, float *y,
                   cudaStream_t stream);

// ---- Mixture of experts (cuda_moe_route.cu, cuda_moe_ffn.cu) ------------------------------
// Semantics of lib/graph's MoeRoute and MoeFfn; cpu_moe.h has the references.

// How MoeRoute scores the experts (graph::RouteFn, cpu::RouteFn).
enum class RouteFn : int { Softmax, SoftmaxTopK, Sigmoid };

// The most expert groups group-limited routing takes (cpu::kMaxRouteGroups).
constexpr int kMaxRouteGroups = 64;

struct RouteArgs {
    int n_expert, k;
    bool norm; // divide the k weights by their (clamped) sum
    RouteFn fn;
    const float *bias = nullptr; // device, [n_expert]: added to the scores for choosing only
    // Group-limited selection: n_expert / n_group experts per group (>= 2), only the n_group_used
    // best groups compete; 0: none. n_group <= kMaxRouteGroups, k <= the experts they hold.
    int n_group = 0, n_group_used = 0;
    float scale = 1.0f; // multiplies the weights
};

// ids, weights [n_tokens][k] = the k experts of logits [n_tokens][n_expert] that RouteArgs
// choose, best first, and their weights, as cpu::moe_route_ref (ties to the lower id).
Status moe_route(const float *logits, int64_t n_tokens, const RouteArgs &a, int32_t *ids,
                 float *weights, cudaStream_t stream);

// Stacked experts (ggml's mul_mat_id layout, the weight's ne[2]): n_expert matrices like `m`,
// expert e's rows at m.data + e * expert_stride.
struct DeviceExperts {
    DeviceMatrix m; // expert 0
    uint64_t expert_stride;
    int n_expert;
    // Prefill streaming: experts copied in for this call, packed by staged index at the same
    // stride (MoeFfnArgs::slot says which), or null.
    const uint8_t *staged = nullptr;
    // Each expert's f32 bias row (m.n floats), added to its product (gpt-oss), or null: rows
    // like the weights (by expert, or by packed slot), and the staged experts' rows by staged
    // index.
    const float *bias = nullptr, *staged_bias = nullptr;
};

// MoeFfnArgs::slot values besides a packed slot (>= 0).
constexpr int32_t kCpuExpert = -1; // the CPU computes it: skipped here
// Staged index i (into DeviceExperts::staged) as a slot value, and back.
__host__ __device__ constexpr int32_t staged_slot(int32_t i) { return -2 - i; }
__host__ __device__ constexpr int32_t staged_index(int32_t slot) { return -2 - slot; }

// The most experts a layer may have: the grouping kernel gives each a thread of one block.
constexpr int kMaxExperts = 1024;

struct MoeFfnArgs {
    DeviceExperts gate, up; // [n_embd -> n_ff] each
    DeviceExperts down;     // [n_ff -> n_embd]
    int k;                  // experts per token
    int act;                // a GluAct (cuda_activation.h)
    bool int8;              // take the int8 (dp4a) path where a matrix allows it
    // Per-expert offload: null, or device [n_expert]: expert e's index in the packed stacks
    // (gate, up, down hold only the resident experts, by slot), staged_slot(i) for an expert
    // streamed in for this call (the staged stacks' i-th), kCpuExpert for one the CPU computes.
    // Pairs of CPU experts are skipped: they add nothing here and are not counted.
    const int32_t *slot = nullptr;
    // y += the sum instead of y = (prefill streaming runs a layer's experts in batches).
    bool accumulate = false;
};

// Scratch bytes moe_ffn needs for up to max_tokens tokens (256-byte aligned scratch).
uint64_t moe_ffn_scratch_bytes(const MoeFfnArgs &a, int64_t max_tokens);
// y [n_tokens][n_embd] = sum_j weights[t][j] * down_e(act(gate_e x[t]) * up_e x[t]), e = ids[t][j]
// (each product plus its expert's bias row where the stack has biases)
// (ids, weights [n_tokens][k] from moe_route). counts: null, or the layer's n_expert device
// counters, each increased by the (token, slot) pairs that chose its expert. Grouped by expert
// on the device (cuda_moe_ffn.cu): the launches depend on n_tokens only, never on the selection.
Status moe_ffn(const MoeFfnArgs &a, const float *x, const int32_t *ids, const float *weights,
               int64_t n_tokens, float *y, void *scratch, unsigned long long *counts,
               cudaStream_t stream);

} // namespace infer::cuda
