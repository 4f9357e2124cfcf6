// Copies between head-structured rows (lib/graph's Slice and Concat): multi-head latent attention
// takes the rope part out of each query head, and joins the absorbed query with it and the latent
// with the rope key. One thread per output float, grid-stride; consecutive threads write
// consecutive floats and read runs of the same input row. Bytes moved: 2 * 4 * output floats.
#include "cuda/cuda_check.h"
#include "cuda/cuda_kernels.h"
#include "cuda/cuda_launch.h"

namespace infer::cuda {
namespace {

constexpr int kThreads = 256;

__global__ void slice_kernel(float *__restrict__ y, const float *__restrict__ x, int64_t total,
                             int64_t x_width, int groups, int width, int64_t stride,
                             int64_t offset) {
    for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total;
         i += int64_t(gridDim.x) * blockDim.x) {
        const int j = static_cast<int>(i % width);
        const int64_t rg = i / width; // row * groups + group
        const int g = static_cast<int>(rg % groups);
        const int64_t row = rg / groups;
        y[i] = x[row * x_width + g * stride + offset + j];
    }
}

__global__ void concat_kernel(float *__restrict__ y, const float *__restrict__ a,
                              const float *__restrict__ b, int64_t total, int wa, int wb) {
    const int w = wa + wb;
    for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total;
         i += int64_t(gridDim.x) * blockDim.x) {
        const int j = static_cast<int>(i % w);
        const int64_t rg = i / w; // row * groups + group
        y[i] = j < wa ? a[rg * wa + j] : b[rg * wb + (j - wa)];
    }
}

} // namespace

Status slice_heads(float *y, const float *x, int64_t rows, int64_t x_width, int groups, int width,
                   int64_t stride, int64_t offset, cudaStream_t stream) {
    const int64_t total = rows * groups * width;
    if (total <= 0) return Status::ok();
    INFER_LAUNCH(grid_stride_blocks(total, kThreads), kThreads, 0, stream, slice_kernel)
    (y, x, total, x_width, groups, width, stride, offset);
    INFER_CUDA_LAUNCHED();
    return Status::ok();
}

Status concat_heads(float *y, const float *a, const float *b, int64_t rows, int groups, int wa,
                    int wb, cudaStream_t stream) {
    const int64_t total = rows * groups * (wa + wb);
    if (total <= 0) return Status::ok();
    INFER_LAUNCH(grid_stride_blocks(total, kThreads), kThreads, 0, stream, concat_kernel)
    (y, a, b, total, wa, wb);
    INFER_CUDA_LAUNCHED();
    return Status::ok();
}

} // namespace infer::cuda
