// Attention of each query row over the layer's cached keys and values, with an online softmax
// (no score matrix): o = softmax_j(logit(q . K[j])) V over the keys query position pos sees
// (causal, optional sliding window; GQA: head h reads kv head h / (n_head / n_head_kv)). Keys
// have head_dim elements and values dv (multi-head latent attention: 576 and 512); with v_in_k
// the value row j is the first dv elements of key row j (the same cache rows, read twice).
//
// One thread block per (token, head, split). Decode (one token) splits the keys across
// n_splits blocks per head (flash-decoding) and a second kernel merges their partial softmaxes;
// prefill has enough (token, head) pairs to fill the card with n_splits = 1, which writes o
// directly. Keys come in tiles of kTile: each warp forms the logits of a share of the tile's keys
// (lanes across head_dim, coalesced), then every thread accumulates its ACC output dims over the
// tile's values (ACC, a template argument, the fewest that cover dv: registers for the common
// sizes stay what they need). Bytes moved per (token, head): n_keys * (head_dim + dv) *
// elem_size.
#include "cuda/cuda_check.h"
#include "cuda/cuda_kernels.h"
#include "cuda/cuda_launch.h"

#include <cuda_fp16.h>
#include <type_traits>

namespace infer::cuda {
namespace {

constexpr int kThreads = 128;
constexpr int kTile = 128;
// Output dims per thread: dv <= ACC * kThreads.
constexpr int kMaxAccPerThread = kMaxHeadDim / kThreads;

__device__ __forceinline__ float load_kv(const float *p) { return *p; }
__device__ __forceinline__ float load_kv(const __half *p) { return __half2float(*p); }

template <class T, int ACC>
__global__ void __launch_bounds__(kThreads)
    attention_kernel(float *__restrict__ o, const float *__restrict__ q, const T *__restrict__ kc,
                     const T *__restrict__ vc, const int32_t *__restrict__ pos, KvArgs kv,
                     AttentionArgs a, float *__restrict__ part) {
    const int h = blockIdx.x, t = blockIdx.y, split = blockIdx.z;
    const int hd = kv.head_dim, dv = kv.dv(), vs = kv.v_stride();
    const int tid = threadIdx.x, lane = tid % 32, warp = tid / 32;
    const int kvh = h / (a.n_head / kv.n_head_kv);
    __shared__ float q_s[kMaxHeadDim];
    __shared__ float p_s[kTile];
    const float *qh = q + (static_cast<int64_t>(t) * a.n_head + h) * hd;
    for (int d = tid; d < hd; d += kThreads)
        q_s[d] = qh[d];
    __syncthreads();

    const int p = pos[t];
    const KeyRange r = key_split(first_visible_key(p, a.window), p, split, a.n_splits);
    const T *kbase = kc + static_cast<int64_t>(kvh) * kv.n_ctx * hd;
    const T *vbase = vc + static_cast<int64_t>(kvh) * kv.n_ctx * vs;
    float acc[ACC];
#pragma unroll
    for (int i = 0; i < ACC; ++i)
        acc[i] = 0.0f;
    float m = -INFINITY, l = 0.0f;

    for (int tile = r.begin; tile < r.end; tile += kTile) {
        const int nk = min(kTile, r.end - tile);
        for (int kk = warp; kk < nk; kk += kThreads / 32) {
            const T *krow = kbase + static_cast<int64_t>(tile + kk) * hd;
            float dot = 0.0f;
            for (int d = lane; d < hd; d += 32)
                dot += q_s[d] * load_kv(krow + d);
            for (int off = 16; off > 0; off >>= 1)
                dot += __shfl_xor_sync(0xffffffffu, dot, off);
            if (lane == 0) p_s[kk] = attention_logit(dot, a.scale, a.softcap);
        }
        __syncthreads();
        float tmax = -INFINITY;
        for (int kk = 0; kk < nk; ++kk)
            tmax = fmaxf(tmax, p_s[kk]);
        const float m_new = fmaxf(m, tmax);
        const float corr = expf(m - m_new); // 0 on the first tile (m = -inf)
        __syncthreads();
        if (tid < nk) p_s[tid] = expf(p_s[tid] - m_new);
        __syncthreads();
        float sum = 0.0f;
        for (int kk = 0; kk < nk; ++kk)
            sum += p_s[kk];
        l = l * corr + sum;
#pragma unroll
        for (int i = 0; i < ACC; ++i) {
            const int d = tid + i * kThreads;
            if (d >= dv) break;
            float x = acc[i] * corr;
            for (int kk = 0; kk < nk; ++kk)
                x += p_s[kk] * load_kv(vbase + static_cast<int64_t>(tile + kk) * vs + d);
            acc[i] = x;
        }
        m = m_new;
        __syncthreads();
    }

    if (a.n_splits == 1) {
        float *oh = o + (static_cast<int64_t>(t) * a.n_head + h) * dv;
#pragma unroll
        for (int i = 0; i < ACC; ++i) {
            const int d = tid + i * kThreads;
            if (d < dv) oh[d] = acc[i] * softmax_out_scale(m, l, a.sinks ? a.sinks[h] : -INFINITY);
        }
        return;
    }
    // Partials of (t, h): n_splits SoftmaxPartial, then [n_splits][dv] accumulators.
    float *ph = part + (static_cast<int64_t>(t) * a.n_head + h) * a.n_splits * (2 + dv);
    if (tid == 0) {
        ph[2 * split] = m;
        ph[2 * split + 1] = l;
    }
    float *acc_out = ph + 2 * a.n_splits + static_cast<int64_t>(split) * dv;
#pragma unroll
    for (int i = 0; i < ACC; ++i) {
        const int d = tid + i * kThreads;
        if (d < dv) acc_out[d] = acc[i];
    }
}

// o [t][h] from the n_splits partials of (t, h), dv floats each.
__global__ void combine_kernel(float *__restrict__ o, const float *__restrict__ part, int n_head,
                               int dv, int n_splits, const float *__restrict__ sinks) {
    const int h = blockIdx.x, t = blockIdx.y;
    const float *ph = part + (static_cast<int64_t>(t) * n_head + h) * n_splits * (2 + dv);
    const auto *parts = reinterpret_cast<const SoftmaxPartial *>(ph);
    float *oh = o + (static_cast<int64_t>(t) * n_head + h) * dv;
    for (int d = threadIdx.x; d < dv; d += blockDim.x)
        oh[d] = softmax_combine(parts, ph + 2 * n_splits + d, n_splits, dv,
                                sinks ? sinks[h] : -INFINITY);
}

// Runs fn(std::integral_constant<int, ACC>) with the fewest output dims per thread, of 1, 2, 4
// and kMaxAccPerThread, that cover dv values.
template <class Fn> void with_acc_per_thread(int dv, Fn &&fn) {
    if (dv <= kThreads)
        fn(std::integral_constant<int, 1>{});
    else if (dv <= 2 * kThreads)
        fn(std::integral_constant<int, 2>{});
    else if (dv <= 4 * kThreads)
        fn(std::integral_constant<int, 4>{});
    else
        fn(std::integral_constant<int, kMaxAccPerThread>{});
}

template <class T>
void launch_attention(dim3 grid, cudaStream_t stream, float *o, const float *q, const void *k_cache,
                      const void *v_cache, const int32_t *pos, const KvArgs &kv,
                      const AttentionArgs &a, float *part) {
    with_acc_per_thread(kv.dv(), [&](auto acc) {
        INFER_LAUNCH(grid, kThreads, 0, stream, attention_kernel<T, decltype(acc)::value>)
        (o, q, static_cast<const T *>(k_cache), static_cast<const T *>(v_cache), pos, kv, a, part);
    });
}

} // namespace

uint64_t attention_scratch_bytes(int64_t n_tokens, int n_head, int head_dim_v, int n_splits) {
    if (n_splits <= 1) return 0;
    return static_cast<uint64_t>(n_tokens) * n_head * n_splits * (2 + head_dim_v) * sizeof(float);
}

Status attention(float *o, const float *q, const void *k_cache, const void *v_cache,
                 const int32_t *pos, int64_t n_tokens, const KvArgs &kv, const AttentionArgs &a,
                 void *scratch, cudaStream_t stream) {
    if (n_tokens <= 0) return Status::ok();
    if (kv.head_dim > kMaxHeadDim || kv.dv() > kMaxHeadDim ||
        (kv.v_in_k && kv.dv() > kv.head_dim) || a.n_splits < 1 || n_tokens > kMaxTokensPerRun ||
        a.n_head % kv.n_head_kv != 0)
        return make_error(INFER_ERR_INTERNAL, "CUDA attention: unsupported shape");
    const dim3 grid(static_cast<unsigned>(a.n_head), static_cast<unsigned>(n_tokens),
                    static_cast<unsigned>(a.n_splits));
    auto *part = static_cast<float *>(scratch);
    if (kv.f16)
        launch_attention<__half>(grid, stream, o, q, k_cache, v_cache, pos, kv, a, part);
    else
        launch_attention<float>(grid, stream, o, q, k_cache, v_cache, pos, kv, a, part);
    INFER_CUDA_LAUNCHED();
    if (a.n_splits > 1) {
        INFER_LAUNCH(dim3(static_cast<unsigned>(a.n_head), static_cast<unsigned>(n_tokens)),
                     kThreads, 0, stream, combine_kernel)
        (o, part, a.n_head, kv.dv(), a.n_splits, a.sinks);
        INFER_CUDA_LAUNCHED();
    }
    return Status::ok();
}

} // namespace infer::cuda
