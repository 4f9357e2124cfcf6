// The fast decode matvec: y[t][r] = W[r] . x[t] (+ bias[r]) with x quantized to int8 once per
// call (quantize_act_int8) and dp4a dot products against the weights read in place. The math is
// in cuda_int8_dot.h (unit-tested on the host), the loop over a row in cuda_matvec_rows.h; this
// file is the launch shape.
//
// Decode reads every weight byte once per token, so the kernel is built to keep DRAM busy:
//  - A warp takes kInt8RowsPerWarp rows; its lanes take consecutive units (a block, or a quarter
//    of a K-quant block), so each 128-bit load instruction of the warp covers a contiguous span of
//    a row. Loads for all rows (and Q::kUnroll units per row) are issued before any math, so
//    each lane has 36 (Q4_0) to 160 (Q5_K) bytes of weights in flight.
//  - The activation words of a unit are loaded once and used for all the warp's rows; they are
//    small (k + k/4 bytes per token) and stay in L1/L2.
//  - 4 warps per block, 8 rows per block: an 8B model's smallest matrices (1024 rows) still give
//    128 blocks, its largest thousands. No shared memory (so no bank conflicts); registers only.
// Bytes moved per call: n * row_bytes of weights + n_tokens * (k * 1.25 + n * 4).
#include "cuda/cuda_check.h"
#include "cuda/cuda_int8_dot.h"
#include "cuda/cuda_kernels.h"
#include "cuda/cuda_launch.h"
#include "cuda/cuda_matvec_rows.h"
#include "cuda/cuda_warp.h"

namespace infer::cuda {
namespace {

constexpr int kWarps = 4;

// One thread per activation block of 32, in a grid-stride loop.
__global__ void quantize_act_kernel(const float *__restrict__ x, int64_t n_blocks,
                                    int8_t *__restrict__ q, ActScale *__restrict__ scales) {
    for (int64_t b = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; b < n_blocks;
         b += static_cast<int64_t>(gridDim.x) * blockDim.x)
        scales[b] = quantize_act_block(x + b * kActBlock, q + b * kActBlock);
}

template <class Q, int NT>
__global__ void __launch_bounds__(32 * kWarps)
    matvec_int8_kernel(const uint8_t *__restrict__ w, uint64_t row_bytes, int64_t n_blocks,
                       int64_t n, const int8_t *__restrict__ act_q,
                       const ActScale *__restrict__ act_s, int64_t k, int n_tokens,
                       const float *__restrict__ bias, float *__restrict__ y) {
    constexpr int R = kInt8RowsPerWarp;
    const int lane = threadIdx.x % 32;
    const int64_t row0 = (static_cast<int64_t>(blockIdx.x) * kWarps + threadIdx.x / 32) * R;
    if (row0 >= n) return;
    // Rows past the end repeat the last row (valid memory); their sums are not stored.
    const uint8_t *rows[R];
#pragma unroll
    for (int r = 0; r < R; ++r)
        rows[r] = w + (row0 + r < n ? row0 + r : n - 1) * row_bytes;

    float acc[R][NT];
#pragma unroll
    for (int r = 0; r < R; ++r)
#pragma unroll
        for (int t = 0; t < NT; ++t)
            acc[r][t] = 0.0f;
    int8_rows_dot<Q, R, NT>(
        rows, n_blocks, n_tokens,
        [&](int t) {
            return ActRow{act_q + t * k, act_s + t * (k / kActBlock)};
        },
        acc);
#pragma unroll
    for (int r = 0; r < R; ++r)
#pragma unroll
        for (int t = 0; t < NT; ++t) {
            const float sum = warp_sum(acc[r][t]);
            const int64_t row = row0 + r;
            if (lane == 0 && t < n_tokens && row < n)
                y[t * n + row] = sum + (bias ? bias[row] : 0.0f);
        }
}

template <class Q, int NT>
Status launch(const DeviceMatrix &w, const void *act, int64_t n_tokens, const float *bias, float *y,
              cudaStream_t stream) {
    const auto grid = static_cast<unsigned>(blocks_for(w.n, kWarps * kInt8RowsPerWarp));
    const auto *q = static_cast<const int8_t *>(act);
    const auto *s = reinterpret_cast<const ActScale *>(q + n_tokens * w.k);
    INFER_LAUNCH(grid, 32 * kWarps, 0, stream, matvec_int8_kernel<Q, NT>)
    (w.data, w.row_bytes, w.k / Q::kBlockElems, w.n, q, s, w.k, static_cast<int>(n_tokens), bias,
     y);
    INFER_CUDA_LAUNCHED();
    return Status::ok();
}

} // namespace

bool matvec_int8_supported(const DeviceMatrix &w) {
    // Blocks of an even size are loaded from even offsets only; an odd size from any.
    bool offsets_loadable = false;
    return with_int8_type(w.type,
                          [&](auto q) {
                              offsets_loadable =
                                  decltype(q)::kBlockBytes % 2 == 1 || w.row_bytes % 2 == 0;
                          }) &&
           offsets_loadable && w.k % kActBlock == 0 && w.k <= kInt8MaxK &&
           reinterpret_cast<uintptr_t>(w.data) % 16 == 0;
}

Status quantize_act_int8(const float *x, int64_t k, int64_t n_tokens, void *act,
                         cudaStream_t stream) {
    if (k % kActBlock != 0 || n_tokens < 1)
        return make_error(INFER_ERR_INTERNAL, "CUDA int8 activations: k %lld, %lld tokens",
                          static_cast<long long>(k), static_cast<long long>(n_tokens));
    const int64_t n_blocks = n_tokens * k / kActBlock;
    auto *q = static_cast<int8_t *>(act);
    auto *s = reinterpret_cast<ActScale *>(q + n_tokens * k);
    constexpr int kThreads = 128;
    INFER_LAUNCH(grid_stride_blocks(n_blocks, kThreads), kThreads, 0, stream, quantize_act_kernel)
    (x, n_blocks, q, s);
    INFER_CUDA_LAUNCHED();
    return Status::ok();
}

Status matvec_int8(const DeviceMatrix &w, const void *act, int64_t n_tokens, const float *bias,
                   float *y, cudaStream_t stream) {
    if (n_tokens < 1 || n_tokens > kMatvecMaxTokens || !matvec_int8_supported(w))
        return make_error(INFER_ERR_INTERNAL, "CUDA int8 matvec: type %u, k %lld, %lld tokens",
                          w.type, static_cast<long long>(w.k), static_cast<long long>(n_tokens));
    if (w.n == 0) return Status::ok();
    Status result = Status::ok();
    with_int8_type(w.type, [&](auto type) {
        (void)(result = with_token_tile(n_tokens, [&](auto nt) {
                   return launch<decltype(type), decltype(nt)::value>(w, act, n_tokens, bias, y,
                                                                      stream);
               }));
    });
    return result;
}

} // namespace infer::cuda
