// Decode matrix-vector product over quantized weights: y[t][r] = W[r] . x[t] (+ bias[r]).
//
// One warp per output row, kMatvecWarps rows per thread block. A row is a packed array of blocks,
// each decoded by Block::kChunks adjacent lanes (cuda_blocks.h, loop in cuda_matvec_rows.h), so a
// warp walks the row's bytes front to back and every weight byte is read once for all n_tokens (<=
// kMatvecMaxTokens) activation rows, which stay in L1/L2. Bytes moved: n * row_bytes + n_tokens *
// (k + n) * 4.
#include "cuda/cuda_blocks.h"
#include "cuda/cuda_check.h"
#include "cuda/cuda_kernels.h"
#include "cuda/cuda_launch.h"
#include "cuda/cuda_matvec_rows.h"
#include "cuda/cuda_warp.h"

namespace infer::cuda {
namespace {

template <class B, int NT>
__global__ void __launch_bounds__(32 * kMatvecWarps)
    matvec_kernel(const uint8_t *__restrict__ w, uint64_t row_bytes, int64_t k, int64_t n,
                  const float *__restrict__ x, int n_tokens, const float *__restrict__ bias,
                  float *__restrict__ y) {
    const int lane = threadIdx.x % 32;
    const int64_t row = static_cast<int64_t>(blockIdx.x) * kMatvecWarps + threadIdx.x / 32;
    if (row >= n) return;
    const uint8_t *const rows[1] = {w + row * row_bytes};
    float acc[1][NT];
#pragma unroll
    for (int t = 0; t < NT; ++t)
        acc[0][t] = 0.0f;
    float_rows_dot<B, 1, NT>(
        rows, k, n_tokens, [&](int t) { return x + t * k; }, acc);
#pragma unroll
    for (int t = 0; t < NT; ++t) {
        const float s = warp_sum(acc[0][t]);
        if (lane == 0 && t < n_tokens) y[t * n + row] = s + (bias ? bias[row] : 0.0f);
    }
}

template <class B, int NT>
Status launch(const DeviceMatrix &w, const float *x, int64_t n_tokens, const float *bias, float *y,
              cudaStream_t stream) {
    const auto grid = static_cast<unsigned>(blocks_for(w.n, kMatvecWarps));
    INFER_LAUNCH(grid, 32 * kMatvecWarps, 0, stream, matvec_kernel<B, NT>)
    (w.data, w.row_bytes, w.k, w.n, x, static_cast<int>(n_tokens), bias, y);
    INFER_CUDA_LAUNCHED();
    return Status::ok();
}

} // namespace

Status matvec(const DeviceMatrix &w, const float *x, int64_t n_tokens, const float *bias, float *y,
              cudaStream_t stream) {
    if (n_tokens < 1 || n_tokens > kMatvecMaxTokens)
        return make_error(INFER_ERR_INTERNAL, "CUDA matvec for %lld tokens",
                          static_cast<long long>(n_tokens));
    if (w.n == 0) return Status::ok();
    return for_block_type(w.type, "CUDA matvec", [&](auto block) {
        using B = decltype(block);
        return with_token_tile(n_tokens, [&](auto nt) {
            return launch<B, decltype(nt)::value>(w, x, n_tokens, bias, y, stream);
        });
    });
}

Status matvec_batched(const DeviceMatrix &w, const float *x, int64_t n_tokens, const float *bias,
                      float *y, cudaStream_t stream) {
    for (int64_t t = 0; t < n_tokens; t += kMatvecMaxTokens) {
        const int64_t n = n_tokens - t < kMatvecMaxTokens ? n_tokens - t : kMatvecMaxTokens;
        INFER_TRY(matvec(w, x + t * w.k, n, bias, y + t * w.n, stream));
    }
    return Status::ok();
}

} // namespace infer::cuda
