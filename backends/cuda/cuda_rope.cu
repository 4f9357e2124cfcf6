// RoPE in place on the query/key rows, and the store of new keys and values into the cache.
// Positions are read from device memory, so the decode graph captured once stays valid.
#include "cuda/cuda_check.h"
#include "cuda/cuda_kernels.h"
#include "cuda/cuda_launch.h"

#include <cuda_fp16.h>

namespace infer::cuda {
namespace {

constexpr int kThreads = 256;

// One thread per (token, head, pair).
__global__ void rope_kernel(float *x, const int32_t *pos, int64_t n_pairs_total, RopeArgs a) {
    const int half = a.n_rot / 2;
    for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n_pairs_total;
         i += int64_t(gridDim.x) * blockDim.x) {
        const int k = static_cast<int>(i % half);
        const int64_t row = i / half; // token * n_head + head
        const int64_t token = row / a.n_head;
        float c, s;
        rope_cos_sin(pos[token], k, a.theta_scale, a.freq_scale, a.freq_factors, a.yarn, &c, &s);
        float *xh = x + row * a.head_dim;
        const int j0 = a.neox ? k : 2 * k;
        const int j1 = a.neox ? k + half : 2 * k + 1;
        const float x0 = xh[j0], x1 = xh[j1];
        xh[j0] = x0 * c - x1 * s;
        xh[j1] = x0 * s + x1 * c;
    }
}

template <class T> __device__ T store_as(float v);
template <> __device__ float store_as<float>(float v) { return v; }
template <> __device__ __half store_as<__half>(float v) { return __float2half_rn(v); }

// One thread per (token, kv head, element) of the keys, then of the values (none with v_in_k).
template <class T>
__global__ void kv_store_kernel(T *kc, T *vc, const float *k, const float *v, const int32_t *pos,
                                int64_t k_total, int64_t total, KvArgs kv) {
    for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total;
         i += int64_t(gridDim.x) * blockDim.x) {
        const bool is_key = i < k_total;
        const int width = is_key ? kv.head_dim : kv.dv();
        const int64_t e = is_key ? i : i - k_total; // element of k or v
        const int d = static_cast<int>(e % width);
        const int64_t row = e / width; // token * n_head_kv + head
        const int head = static_cast<int>(row % kv.n_head_kv);
        const int64_t token = row / kv.n_head_kv;
        const int64_t at = (head * kv.n_ctx + pos[token]) * width + d;
        if (is_key)
            kc[at] = store_as<T>(k[e]);
        else
            vc[at] = store_as<T>(v[e]);
    }
}

} // namespace

Status rope(float *x, const int32_t *pos, int64_t n_tokens, const RopeArgs &a,
            cudaStream_t stream) {
    const int64_t total = n_tokens * a.n_head * (a.n_rot / 2);
    if (total <= 0) return Status::ok();
    INFER_LAUNCH(grid_stride_blocks(total, kThreads), kThreads, 0, stream, rope_kernel)
    (x, pos, total, a);
    INFER_CUDA_LAUNCHED();
    return Status::ok();
}

Status kv_store(void *k_cache, void *v_cache, const float *k, const float *v, const int32_t *pos,
                int64_t n_tokens, const KvArgs &kv, cudaStream_t stream) {
    const int64_t k_total = n_tokens * kv.n_head_kv * kv.head_dim;
    const int64_t total = k_total + (kv.v_in_k ? 0 : n_tokens * kv.n_head_kv * kv.dv());
    if (total <= 0) return Status::ok();
    if (kv.f16)
        INFER_LAUNCH(grid_stride_blocks(total, kThreads), kThreads, 0, stream,
                     kv_store_kernel<__half>)
    (static_cast<__half *>(k_cache), static_cast<__half *>(v_cache), k, v, pos, k_total, total, kv);
    else INFER_LAUNCH(grid_stride_blocks(total, kThreads), kThreads, 0, stream,
                      kv_store_kernel<float>)(static_cast<float *>(k_cache),
                                              static_cast<float *>(v_cache), k, v, pos, k_total,
                                              total, kv);
    INFER_CUDA_LAUNCHED();
    return Status::ok();
}

} // namespace infer::cuda
