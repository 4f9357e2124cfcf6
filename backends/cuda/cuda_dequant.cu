// Weight decoding kernels: rows of any supported type to fp16 (the prefill GEMM's operand), rows
// picked by token id to f32 (embedding lookup), and f32 activations to fp16. One thread per
// chunk of a block (cuda_blocks.h), in a grid-stride loop.
#include "cuda/cuda_blocks.h"
#include "cuda/cuda_check.h"
#include "cuda/cuda_kernels.h"
#include "cuda/cuda_launch.h"

#include <cuda_fp16.h>

namespace infer::cuda {
namespace {

constexpr int kThreads = 256;

template <class B>
__global__ void dequant_f16_kernel(const uint8_t *__restrict__ w, uint64_t row_bytes, int64_t k,
                                   int64_t row0, int64_t n_rows, __half *__restrict__ out) {
    const int64_t units_per_row = k / B::kBlockElems * B::kChunks;
    const int64_t total = n_rows * units_per_row;
    for (int64_t u = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; u < total;
         u += int64_t(gridDim.x) * blockDim.x) {
        const int64_t r = u / units_per_row, ru = u % units_per_row;
        const int64_t blk = ru / B::kChunks;
        __half *o = out + r * k + blk * B::kBlockElems;
        B::visit(w + (row0 + r) * row_bytes + blk * B::kBlockBytes,
                 static_cast<int>(ru % B::kChunks),
                 [&](int j, float v) { o[j] = __float2half_rn(v); });
    }
}

template <class B>
__global__ void embed_kernel(const uint8_t *__restrict__ w, uint64_t row_bytes, int64_t k,
                             const int32_t *__restrict__ tokens, float scale,
                             float *__restrict__ out) {
    const int64_t t = blockIdx.y;
    const uint8_t *row = w + static_cast<int64_t>(tokens[t]) * row_bytes;
    const int64_t units = k / B::kBlockElems * B::kChunks;
    float *o = out + t * k;
    for (int64_t u = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; u < units;
         u += int64_t(gridDim.x) * blockDim.x) {
        const int64_t blk = u / B::kChunks;
        B::visit(row + blk * B::kBlockBytes, static_cast<int>(u % B::kChunks), [&](int j, float v) {
            o[blk * B::kBlockElems + j] = scale == 1.0f ? v : v * scale;
        });
    }
}

// Activations past fp16's range (a few models have outliers of 1e4 and more) saturate instead of
// becoming inf, which would turn the whole GEMM output row into NaN.
constexpr float kHalfMax = 65504.0f;

__global__ void to_f16_kernel(const float *__restrict__ x, int64_t n, __half *__restrict__ out) {
    for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
         i += int64_t(gridDim.x) * blockDim.x)
        out[i] = __float2half_rn(fminf(fmaxf(x[i], -kHalfMax), kHalfMax));
}

} // namespace

Status dequantize_f16(const DeviceMatrix &w, int64_t row0, int64_t n_rows, void *out,
                      cudaStream_t stream) {
    if (n_rows <= 0) return Status::ok();
    return for_block_type(w.type, "CUDA dequantize", [&](auto block) {
        using B = decltype(block);
        const int64_t work = n_rows * (w.k / B::kBlockElems) * B::kChunks;
        INFER_LAUNCH(grid_stride_blocks(work, kThreads), kThreads, 0, stream, dequant_f16_kernel<B>)
        (w.data, w.row_bytes, w.k, row0, n_rows, static_cast<__half *>(out));
        return INFER_CUDA_STATUS(cudaGetLastError());
    });
}

Status embed(const DeviceMatrix &w, const int32_t *tokens, int64_t n_tokens, float scale,
             float *out, cudaStream_t stream) {
    if (n_tokens <= 0) return Status::ok();
    if (n_tokens > kMaxTokensPerRun)
        return make_error(INFER_ERR_INTERNAL, "CUDA embed: %lld tokens",
                          static_cast<long long>(n_tokens));
    return for_block_type(w.type, "CUDA embed", [&](auto block) {
        using B = decltype(block);
        const int64_t units = (w.k / B::kBlockElems) * B::kChunks;
        const dim3 grid(static_cast<unsigned>(blocks_for(units, kThreads)),
                        static_cast<unsigned>(n_tokens));
        INFER_LAUNCH(grid, kThreads, 0, stream, embed_kernel<B>)
        (w.data, w.row_bytes, w.k, tokens, scale, out);
        return INFER_CUDA_STATUS(cudaGetLastError());
    });
}

Status to_f16(const float *x, int64_t n, void *out, cudaStream_t stream) {
    if (n <= 0) return Status::ok();
    INFER_LAUNCH(grid_stride_blocks(n, kThreads), kThreads, 0, stream, to_f16_kernel)
    (x, n, static_cast<__half *>(out));
    INFER_CUDA_LAUNCHED();
    return Status::ok();
}

} // namespace infer::cuda
