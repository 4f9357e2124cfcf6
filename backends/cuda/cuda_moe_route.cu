// Mixture-of-experts routing (graph op MoeRoute), as cpu::moe_route_ref computes it: for each
// token, p = softmax(router logits [n_expert]) with ggml's numerics (shifted by the max, the sum
// of exponentials in double, p = e^(l - max) * float(1 / sum)); ids = the k experts of largest p,
// best first, ties to the lower id; weights = their p, divided by their sum (clamped below at
// 2^-14, as llama.cpp) when `norm`.
//
// One warp per token; lane l takes experts l, l + 32, ... The max and the double sum are warp
// reductions (the sum in another order than the reference's, which moves float(1 / sum) only
// when it falls within a few double ulps of a float rounding boundary). Top-k is k rounds of a
// warp argmax in the strict order "p descending, then id ascending", each round taking the best
// expert after the previous pick in that order: no list of taken experts, so any n_expert and k
// work without shared memory, and p is recomputed from the logits (L1) exactly as the reference
// computes it, so equal logits tie exactly. Cost per token: k * n_expert / 32 exponentials per
// lane, nothing next to the expert FFN it feeds.
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

__global__ void __launch_bounds__(32)
    moe_route_kernel(const float *__restrict__ logits, int n_expert, int k, bool norm,
                     int32_t *__restrict__ ids, float *__restrict__ weights) {
    const int64_t tok = blockIdx.x;
    const int lane = static_cast<int>(threadIdx.x);
    const float *l = logits + tok * n_expert; // (n_expert)
    int32_t *top = ids + tok * k;             // (k)
    float *top_w = weights + tok * k;         // (k)

    float l_max = -INFINITY;
    for (int e = lane; e < n_expert; e += 32)
        l_max = fmaxf(l_max, l[e]);
    l_max = warp_max(l_max);
    double sum = 0;
    for (int e = lane; e < n_expert; e += 32)
        sum += static_cast<double>(expf(l[e] - l_max));
    const float inv_sum = static_cast<float>(1.0 / warp_sum(sum));

    float last_p = 0.0f;
    int last = -1; // the previous round's pick; -1 before the first
    for (int j = 0; j < k; ++j) {
        float best_p = 0.0f;
        int best = -1;
        for (int e = lane; e < n_expert; e += 32) {
            const float p = expf(l[e] - l_max) * inv_sum;
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
        if (lane == 0) {
            top[j] = best;
            top_w[j] = best_p;
        }
        last = best;
        last_p = best_p;
    }
    if (norm && lane == 0) {
        double s = 0;
        for (int j = 0; j < k; ++j)
            s += top_w[j];
        const float d = fmaxf(static_cast<float>(s), kMinWeightSum);
        for (int j = 0; j < k; ++j)
            top_w[j] /= d;
    }
}

} // namespace

Status moe_route(const float *logits, int64_t n_tokens, int n_expert, int k, bool norm,
                 int32_t *ids, float *weights, cudaStream_t stream) {
    if (n_tokens <= 0) return Status::ok();
    if (k < 1 || k > n_expert || n_tokens > kMaxTokensPerRun)
        return make_error(INFER_ERR_INTERNAL, "CUDA MoE routing: k %d of %d experts, %lld tokens",
                          k, n_expert, static_cast<long long>(n_tokens));
    INFER_LAUNCH(static_cast<unsigned>(n_tokens), 32, 0, stream, moe_route_kernel)
    (logits, n_expert, k, norm, ids, weights);
    INFER_CUDA_LAUNCHED();
    return Status::ok();
}

} // namespace infer::cuda
