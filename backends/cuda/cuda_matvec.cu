// Decode matrix-vector product over quantized weights: y[t][r] = W[r] . x[t] (+ bias[r]); and per
// head, a stack of such products on strided parts of each row (HeadMatMul: grid.y picks the head).
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

constexpr int kMaxGridY = 65535; // CUDA's limit on grid.y, which holds the head

// Where one launch's rows lie: token t's input at x + t * x_row and output at y + t * y_row; head
// h (blockIdx.y) reads weights w_head bytes and input x_head floats further than head 0 and writes
// n floats further. A dense matvec: one head, rows of k in and n out.
struct RowLayout {
    int64_t x_row, y_row;
    uint64_t w_head;
    int64_t x_head;
};

template <class B, int NT>
__global__ void __launch_bounds__(32 * kMatvecWarps)
    matvec_kernel(const uint8_t *__restrict__ w, uint64_t row_bytes, int64_t k, int64_t n,
                  const float *__restrict__ x, int n_tokens, const float *__restrict__ bias,
                  float *__restrict__ y, RowLayout at) {
    const int lane = threadIdx.x % 32;
    const int64_t row = static_cast<int64_t>(blockIdx.x) * kMatvecWarps + threadIdx.x / 32;
    if (row >= n) return;
    const int head = blockIdx.y;
    const float *xh = x + head * at.x_head;
    float *yh = y + head * n;
    const uint8_t *const rows[1] = {w + head * at.w_head + row * row_bytes};
    float acc[1][NT];
#pragma unroll
    for (int t = 0; t < NT; ++t)
        acc[0][t] = 0.0f;
    float_rows_dot<B, 1, NT>(
        rows, k, n_tokens, [&](int t) { return xh + t * at.x_row; }, acc);
#pragma unroll
    for (int t = 0; t < NT; ++t) {
        const float s = warp_sum(acc[0][t]);
        if (lane == 0 && t < n_tokens) yh[t * at.y_row + row] = s + (bias ? bias[row] : 0.0f);
    }
}

template <class B, int NT>
Status launch(const DeviceMatrix &w, int n_head, const float *x, int64_t n_tokens,
              const float *bias, float *y, const RowLayout &at, cudaStream_t stream) {
    const dim3 grid(static_cast<unsigned>(blocks_for(w.n, kMatvecWarps)),
                    static_cast<unsigned>(n_head));
    INFER_LAUNCH(grid, 32 * kMatvecWarps, 0, stream, matvec_kernel<B, NT>)
    (w.data, w.row_bytes, w.k, w.n, x, static_cast<int>(n_tokens), bias, y, at);
    INFER_CUDA_LAUNCHED();
    return Status::ok();
}

// Up to kMatvecMaxTokens tokens of n_head products laid out as `at` says.
Status matvec_heads(const DeviceMatrix &w, int n_head, const float *x, int64_t n_tokens,
                    const float *bias, float *y, const RowLayout &at, cudaStream_t stream) {
    if (n_tokens < 1 || n_tokens > kMatvecMaxTokens)
        return make_error(INFER_ERR_INTERNAL, "CUDA matvec for %lld tokens",
                          static_cast<long long>(n_tokens));
    if (w.n == 0 || n_head == 0) return Status::ok();
    return for_block_type(w.type, "CUDA matvec", [&](auto block) {
        using B = decltype(block);
        return with_token_tile(n_tokens, [&](auto nt) {
            return launch<B, decltype(nt)::value>(w, n_head, x, n_tokens, bias, y, at, stream);
        });
    });
}

// Any number of tokens, kMatvecMaxTokens at a time.
Status matvec_heads_batched(const DeviceMatrix &w, int n_head, const float *x, int64_t n_tokens,
                            const float *bias, float *y, const RowLayout &at, cudaStream_t stream) {
    for (int64_t t = 0; t < n_tokens; t += kMatvecMaxTokens) {
        const int64_t n = n_tokens - t < kMatvecMaxTokens ? n_tokens - t : kMatvecMaxTokens;
        INFER_TRY(matvec_heads(w, n_head, x + t * at.x_row, n, bias, y + t * at.y_row, at, stream));
    }
    return Status::ok();
}

RowLayout dense_rows(const DeviceMatrix &w) { return {w.k, w.n, 0, 0}; }

} // namespace

Status matvec(const DeviceMatrix &w, const float *x, int64_t n_tokens, const float *bias, float *y,
              cudaStream_t stream) {
    return matvec_heads(w, 1, x, n_tokens, bias, y, dense_rows(w), stream);
}

Status matvec_batched(const DeviceMatrix &w, const float *x, int64_t n_tokens, const float *bias,
                      float *y, cudaStream_t stream) {
    return matvec_heads_batched(w, 1, x, n_tokens, bias, y, dense_rows(w), stream);
}

Status head_matvec(const DeviceMatrix &w, uint64_t head_bytes, int n_head, const float *x,
                   int64_t x_width, int64_t x_stride, int64_t n_tokens, float *y,
                   cudaStream_t stream) {
    if (n_head > kMaxGridY)
        return make_error(INFER_ERR_INTERNAL, "CUDA head matvec: %d heads", n_head);
    return matvec_heads_batched(w, n_head, x, n_tokens, nullptr, y,
                                {x_width, n_head * w.n, head_bytes, x_stride}, stream);
}

} // namespace infer::cuda
