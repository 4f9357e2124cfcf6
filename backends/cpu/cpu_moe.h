// Mixture-of-experts kernels: routing (softmax over the router logits, top-k) and the routed
// experts' gated FFN over stacked expert weights used in place (ggml's mul_mat_id layout).
//
// Expert FFN, per token x and its k selected experts e_j with weights w_j:
//     y = sum_j w_j * down_{e_j}( act(gate_{e_j} x) * up_{e_j} x )
// The fast path groups the (token, slot) pairs by expert, so a prefill batch runs each selected
// expert once over all its tokens with the register-tile kernels, and a decode step streams each
// selected expert's rows once. Each token's activation row is quantized once. Work items are
// (expert, block of weight rows) across all selected experts, so 8 small experts per token keep
// every thread busy: in decode each thread streams an equal contiguous share of them, in prefill
// threads take them from a shared counter (an expert's cost grows with its tokens). An output
// element is always computed by the same item, so results do not depend on the thread count or
// on which thread ran what. One token takes its own path with two barriers instead of four
// (cpu_moe.cpp: moe_ffn_decode) and the same arithmetic.
#pragma once

#include "cpu/cpu_isa.h"
#include "cpu/cpu_matmul.h"
#include "cpu/cpu_ops.h"
#include "cpu/thread_pool.h"

#include <cstdint>

namespace infer::cpu {

// ---- Routing -----------------------------------------------------------------------------------
// How the k experts and their weights come from the logits (graph::RouteFn's CPU twin).
//   softmax:      p = softmax(logits[t]) over n_expert (ggml's soft_max: max-shifted, the sum
//                 accumulated in double); the k experts of largest p; weights = their p.
//                 Mixtral's softmax over the top-k logits is softmax-all then norm.
//   softmax_topk: the k experts of largest logit; weights = softmax over those k logits
//                 (gpt-oss, llama.cpp's SOFTMAX_WEIGHT gating).
//   sigmoid:      p = 1 / (1 + expf(-logit)); the k experts of largest p; weights = their p
//                 (DeepSeek-V3).
enum class RouteFn : int { softmax, softmax_topk, sigmoid };

// DeepSeek's additions to the selection (llama.cpp's build_moe_ffn):
//   bias:  [n_expert] added to the scores for choosing only (exp_probs_b), or null;
//   n_group > 0: the experts form n_group equal groups, each scored by the sum of its two best
//          (biased) scores, and only the n_group_used best groups compete (ties: lower group);
//   scale: multiplies the final weights (routed_scaling_factor).
// Preconditions (models check them at load): n_group divides n_expert into groups of >= 2,
// n_group <= kMaxRouteGroups, 1 <= n_group_used <= n_group, k <= n_group_used * group size.
inline constexpr int kMaxRouteGroups = 64;
struct RouteOptions {
    const float *bias = nullptr;
    int n_group = 0, n_group_used = 0;
    float scale = 1.0f;
};

// For each of t tokens: ids[t] = the k chosen experts, best first, ties to the lower id;
// weights[t][j] their weights by `fn`, divided by their sum (clamped below at 2^-14, as llama.cpp)
// when `norm`, times opt.scale. ids, weights: [t][k], 1 <= k <= n_expert. Split: tokens.
void moe_route(const float *logits, int64_t t, int n_expert, int k, bool norm, int32_t *ids,
               float *weights, int ith, int nth, RouteFn fn = RouteFn::softmax,
               const RouteOptions &opt = {});
// Sorts all experts (and groups), for clarity; allocates.
void moe_route_ref(const float *logits, int64_t t, int n_expert, int k, bool norm, int32_t *ids,
                   float *weights, RouteFn fn = RouteFn::softmax, const RouteOptions &opt = {});

// ---- Expert FFN --------------------------------------------------------------------------------
// Stacked experts: n_expert matrices of n rows x k elements, expert e at data + e * expert_stride.
struct ExpertWeights {
    uint32_t type;
    int64_t k;                // elements per row (ne0)
    int64_t n;                // rows per expert (ne1)
    int64_t n_expert;         // ne2
    const void *data;
    uint64_t row_bytes;       // nb1
    uint64_t expert_stride;   // nb2 = n * row_bytes, or the bytes of an interleaved matrix
    WeightLayout layout = WeightLayout::Rows; // each expert's
    WeightView expert(int64_t e) const {
        return {type, k, n, static_cast<const uint8_t *>(data) + e * expert_stride, row_bytes,
                layout};
    }
};

struct MoeFfn {
    ExpertWeights gate, up; // [n_embd -> n_ff] per expert
    ExpertWeights down;     // [n_ff -> n_embd] per expert
    GluAct act;
    // Per-expert F32 biases added to each product (gpt-oss), or null: gate_bias and up_bias
    // [n_expert][n_ff], down_bias [n_expert][n_embd]. The down bias is added before the weight
    // multiplies the row, as llama.cpp's add_id then mul.
    const float *gate_bias = nullptr, *up_bias = nullptr, *down_bias = nullptr;
    // The subset of the experts this call computes (graph::Node::expert_slot): the experts e with
    // (expert_slot[e] >= 0) == resident, or all of them when expert_slot is null. A selected
    // expert outside the subset contributes nothing and is not counted, so the outputs of the two
    // complementary subsets add up to the full output; a token with no computed expert gets 0.
    const int32_t *expert_slot = nullptr;
    bool resident = false;
    // Prefill streaming: experts [n_expert] the device streams and computes in this run; the
    // CPU's subset leaves them out (null: none).
    const uint8_t *streamed = nullptr;
    bool computes(int64_t e) const {
        return !expert_slot ||
               ((expert_slot[e] >= 0) == resident && !(streamed && streamed[e]));
    }
};

// Scratch bytes for up to max_tokens tokens with k experts each on nth threads (64-byte aligned
// scratch). The token groups, the gathered quantized activations, the intermediate rows and the
// down outputs of the worst case (every token's k pairs) all live here.
uint64_t moe_ffn_scratch_bytes(const MoeFfn &f, int64_t max_tokens, int k, int nth);

// Cooperative, like matmul: every thread of `pool` calls it with the same arguments inside
// pool.run(); y [t][n_embd] is complete once every thread has returned (each writes its own
// share of y last: the caller's next barrier publishes it).
// x [t][n_embd]; ids, weights [t][k] as moe_route writes them (ids must lie in [0, n_expert)).
// counts: null, or n_expert selection counters, each incremented once per (token, slot) that
// picked its expert, for the experts f computes. Allocates nothing.
void moe_ffn(const MoeFfn &f, const float *x, const int32_t *ids, const float *weights, int64_t t,
             int k, float *y, void *scratch, uint64_t *counts, int ith, int nth, ThreadPool &pool,
             CpuIsa isa = cpu_isa_dispatch());
// Token by token, slot by slot, through matmul_ref and glu_ref; allocates.
void moe_ffn_ref(const MoeFfn &f, const float *x, const int32_t *ids, const float *weights,
                 int64_t t, int k, float *y);

// Adds one to counts[ids[i]] for each of the n ids that f computes (the statistics both paths
// keep).
void moe_count_selected(const MoeFfn &f, const int32_t *ids, int64_t n, uint64_t *counts);

} // namespace infer::cpu
