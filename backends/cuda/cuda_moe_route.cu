// Mixture-of-experts routing (graph op MoeRoute), as cpu::moe_route_ref computes it: for each
// token, each expert's score by the route function (Softmax: softmax over all the logits with
// ggml's numerics, shifted by the max, the sum of exponentials in double, p = e^(l - max) *
// float(1 / sum); Sigmoid: 1 / (1 + e^-l); SoftmaxTopK: the logit itself); the selection value
// = score + the selection bias; with groups, every expert outside the n_group_used groups of the
// largest sums of their two best selection values (ties to the lower group) drops out; ids = the
// k experts of largest selection value, best first, ties to the lower id; weights = their
// unbiased scores (SoftmaxTopK: the softmax of their k logits), divided by their sum (clamped
// below at 2^-14, as llama.cpp) when `norm`, times the scale.
//
// One warp per token; lane l takes experts l, l + 32, ... and groups l, l + 32. The max and the
// double sum are warp reductions (the sum in another order than the reference's, which moves
// float(1 / sum) only when it falls within a few double ulps of a float rounding boundary). A
// group's two best are found by one lane over its members, its rank among the groups from the
// sums in shared memory. Top-k is k rounds of a warp argmax in the strict order "selection value
// descending, then id ascending", each round taking the best expert after the previous pick in
// that order: no list of taken experts, so any n_expert and k work, and the selection value is
// recomputed from the logits (L1) exactly as the reference computes it, so equal values tie
// exactly. Cost per token: k * n_expert / 32 exponentials per lane, nothing next to the expert
// FFN it feeds.
#include "cuda/cuda_check.h"
#include "cuda/cuda_kernels.h"
#include "cuda/cuda_launch.h"
#include "cuda/cuda_warp.h"

#include <cmath>

namespace infer::cuda {
namespace {

// llama.cpp's clamp of the k weights' sum (the smallest normal half), as cpu_moe.cpp.
constexpr float kMinWeightSum = 6.103515625e-5f;

// Whether expert (pa, a) comes before (pb, b) in the routing order.
__device__ __forceinline__ bool routes_before(float pa, int a, float pb, int b) {
    return pa > pb || (pa == pb && a < b);
}

// a + b rounded once: never fused with the product that made a (the CPU adds the bias to a
// rounded score).
__device__ __forceinline__ float add_rounded(float a, float b) {
#if defined(__CUDA_ARCH__)
    return __fadd_rn(a, b);
#else
    return a + b;
#endif
}

// ggml's softmax numerics over n values v: p(x) = e^(x - max) * float(1 / sum), the sum in
// double; over a warp's lanes (warp_softmax) or by one thread (thread_softmax).
struct Softmax {
    float max = 0.0f, inv_sum = 0.0f;
    __device__ float operator()(float x) const { return expf(x - max) * inv_sum; }
};

__device__ Softmax warp_softmax(const float *v, int n, int lane) {
    float max = -INFINITY;
    for (int e = lane; e < n; e += 32)
        max = fmaxf(max, v[e]);
    max = warp_max(max);
    double sum = 0;
    for (int e = lane; e < n; e += 32)
        sum += static_cast<double>(expf(v[e] - max));
    return {max, static_cast<float>(1.0 / warp_sum(sum))};
}

__device__ Softmax thread_softmax(const float *v, int n) {
    float max = -INFINITY;
    for (int j = 0; j < n; ++j)
        max = fmaxf(max, v[j]);
    double sum = 0;
    for (int j = 0; j < n; ++j)
        sum += static_cast<double>(expf(v[j] - max));
    return {max, static_cast<float>(1.0 / sum)};
}

// The score an expert is ranked and weighted by (before bias, groups and the top-k softmax).
struct Scores {
    const float *logits;
    RouteFn fn;
    Softmax softmax; // fn == Softmax
    __device__ float operator()(int e) const {
        switch (fn) {
        case RouteFn::Softmax:
            return softmax(logits[e]);
        case RouteFn::Sigmoid:
            return 1.0f / (1.0f + expf(-logits[e]));
        case RouteFn::SoftmaxTopK:
            break;
        }
        return logits[e];
    }
};

// Bit g: whether group g competes (all bits without groups). Every lane gets the mask.
__device__ unsigned long long allowed_groups(const RouteArgs &a, int group_size, int lane,
                                             float *group_sum, const Scores &score) {
    if (a.n_group == 0) return ~0ull;
    for (int g = lane; g < a.n_group; g += 32) {
        float best = -INFINITY, second = -INFINITY;
        for (int e = g * group_size; e < (g + 1) * group_size; ++e) {
            const float v = add_rounded(score(e), a.bias ? a.bias[e] : 0.0f);
            if (v > best) {
                second = best;
                best = v;
            } else if (v > second) {
                second = v;
            }
        }
        group_sum[g] = best + second;
    }
    __syncthreads(); // the block is this one warp
    unsigned long long mask = 0;
    for (int i = 0; i < kMaxRouteGroups / 32; ++i) {
        const int g = lane + 32 * i;
        bool used = false;
        if (g < a.n_group) {
            int rank = 0; // the groups before g when sorted by sum, stable
            for (int h = 0; h < a.n_group; ++h)
                rank += group_sum[h] > group_sum[g] || (group_sum[h] == group_sum[g] && h < g);
            used = rank < a.n_group_used;
        }
        mask |= static_cast<unsigned long long>(warp_or(used ? 1u << lane : 0u)) << (32 * i);
    }
    return mask;
}

__global__ void __launch_bounds__(32)
    moe_route_kernel(const float *__restrict__ logits, RouteArgs a, int32_t *__restrict__ ids,
                     float *__restrict__ weights) {
    __shared__ float group_sum[kMaxRouteGroups];
    const int64_t tok = blockIdx.x;
    const int lane = static_cast<int>(threadIdx.x);
    const int n_expert = a.n_expert, k = a.k;
    const float *l = logits + tok * n_expert; // (n_expert)
    int32_t *top = ids + tok * k;             // (k)
    float *top_w = weights + tok * k;         // (k)

    Scores score{l, a.fn, {}};
    if (a.fn == RouteFn::Softmax) score.softmax = warp_softmax(l, n_expert, lane);
    const int group_size = a.n_group > 0 ? n_expert / a.n_group : n_expert;
    const unsigned long long allowed = allowed_groups(a, group_size, lane, group_sum, score);
    auto selection = [&](int e) {
        if (!((allowed >> (e / group_size)) & 1)) return -INFINITY;
        return a.bias ? add_rounded(score(e), a.bias[e]) : score(e);
    };

    float last_p = 0.0f;
    int last = -1; // the previous round's pick; -1 before the first
    for (int j = 0; j < k; ++j) {
        float best_p = 0.0f;
        int best = -1;
        for (int e = lane; e < n_expert; e += 32) {
            const float p = selection(e);
            const bool after_last = last < 0 || routes_before(last_p, last, p, e);
            if (after_last && (best < 0 || routes_before(p, e, best_p, best))) {
                best_p = p;
                best = e;
            }
        }
        for (int o = 16; o > 0; o >>= 1) {
            const float other_p = __shfl_xor_sync(0xffffffffu, best_p, o);
            const int other = __shfl_xor_sync(0xffffffffu, best, o);
            if (other >= 0 && (best < 0 || routes_before(other_p, other, best_p, best))) {
                best_p = other_p;
                best = other;
            }
        }
        // No candidate only with NaN logits: repeat a valid id, so the FFN reads no stray expert.
        if (best < 0) {
            best = last < 0 ? 0 : last;
            best_p = last_p;
        }
        if (lane == 0) top[j] = best;
        last = best;
        last_p = best_p;
    }
    if (lane != 0) return;
    // The weights, from the unbiased scores (cpu_moe.cpp's finish_weights).
    for (int j = 0; j < k; ++j)
        top_w[j] = score(top[j]);
    if (a.fn == RouteFn::SoftmaxTopK) {
        const Softmax p = thread_softmax(top_w, k);
        for (int j = 0; j < k; ++j)
            top_w[j] = p(top_w[j]);
    }
    if (a.norm) {
        double s = 0;
        for (int j = 0; j < k; ++j)
            s += top_w[j];
        const float d = fmaxf(static_cast<float>(s), kMinWeightSum);
        for (int j = 0; j < k; ++j)
            top_w[j] /= d;
    }
    if (a.scale != 1.0f)
        for (int j = 0; j < k; ++j)
            top_w[j] *= a.scale;
}

} // namespace

Status moe_route(const float *logits, int64_t n_tokens, const RouteArgs &a, int32_t *ids,
                 float *weights, cudaStream_t stream) {
    if (n_tokens <= 0) return Status::ok();
    const bool groups_ok =
        a.n_group == 0 ||
        (a.n_group > 0 && a.n_group <= kMaxRouteGroups && a.n_expert % a.n_group == 0 &&
         a.n_expert / a.n_group >= 2 && a.n_group_used >= 1 && a.n_group_used <= a.n_group &&
         a.k <= a.n_group_used * (a.n_expert / a.n_group));
    if (a.k < 1 || a.k > a.n_expert || n_tokens > kMaxTokensPerRun || !groups_ok)
        return make_error(INFER_ERR_INTERNAL,
                          "CUDA MoE routing: k %d of %d experts, groups %d (%d used), %lld tokens",
                          a.k, a.n_expert, a.n_group, a.n_group_used,
                          static_cast<long long>(n_tokens));
    INFER_LAUNCH(static_cast<unsigned>(n_tokens), 32, 0, stream, moe_route_kernel)
    (logits, a, ids, weights);
    INFER_CUDA_LAUNCHED();
    return Status::ok();
}

} // namespace infer::cuda
