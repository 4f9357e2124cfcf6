// Elementwise ops, gated activations, the sigmoid gate and RMSNorm. Memory-bound one-pass
// kernels; their numerics follow the CPU references (cpu_elementwise.cpp, cpu_norm.cpp): the
// activations of cuda_activation.h, RMSNorm as (x * s) * w.
#include "cuda/cuda_activation.h"
#include "cuda/cuda_check.h"
#include "cuda/cuda_kernels.h"
#include "cuda/cuda_launch.h"

namespace infer::cuda {
namespace {

constexpr int kThreads = 256;

#define INFER_GRID_STRIDE(i, n)                                                                    \
    for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < (n);                      \
         i += int64_t(gridDim.x) * blockDim.x)

__global__ void add_kernel(float *y, const float *a, const float *b, int64_t n) {
    INFER_GRID_STRIDE(i, n) y[i] = a[i] + b[i];
}

__global__ void scale_kernel(float *y, const float *x, float s, int64_t n) {
    INFER_GRID_STRIDE(i, n) y[i] = s * x[i];
}

__global__ void add_rows_kernel(float *y, const float *bias, int64_t rows, int64_t n) {
    INFER_GRID_STRIDE(i, rows * n) y[i] += bias[i % n];
}

__global__ void glu_kernel(float *y, const float *gate, const float *up, int64_t n, int act) {
    INFER_GRID_STRIDE(i, n) y[i] = glu_value(gate[i], up[i], act);
}

__global__ void sigmoid_gate_kernel(float *y, const float *x, const float *g, int64_t rows,
                                    int64_t n) {
    INFER_GRID_STRIDE(i, rows * n) y[i] = x[i] * sigmoid(g[i / n]);
}

// One block per row; the sum of squares is reduced in float across the block.
__global__ void rms_norm_kernel(float *y, const float *x, const float *w, int64_t group,
                                float eps) {
    const float *xr = x + blockIdx.x * group;
    float *yr = y + blockIdx.x * group;
    float ss = 0.0f;
    for (int64_t i = threadIdx.x; i < group; i += blockDim.x)
        ss += xr[i] * xr[i];
    __shared__ float partial[32];
    for (int o = 16; o > 0; o >>= 1)
        ss += __shfl_xor_sync(0xffffffffu, ss, o);
    if (threadIdx.x % 32 == 0) partial[threadIdx.x / 32] = ss;
    __syncthreads();
    if (threadIdx.x < 32) {
        ss = threadIdx.x < blockDim.x / 32 ? partial[threadIdx.x] : 0.0f;
        for (int o = 16; o > 0; o >>= 1)
            ss += __shfl_xor_sync(0xffffffffu, ss, o);
        if (threadIdx.x == 0) partial[0] = ss;
    }
    __syncthreads();
    const float mean = partial[0] / static_cast<float>(group);
    const float s = 1.0f / sqrtf(mean + eps);
    for (int64_t i = threadIdx.x; i < group; i += blockDim.x)
        yr[i] = w ? (xr[i] * s) * w[i] : xr[i] * s;
}

} // namespace

Status add(float *y, const float *a, const float *b, int64_t n, cudaStream_t stream) {
    if (n <= 0) return Status::ok();
    INFER_LAUNCH(grid_stride_blocks(n, kThreads), kThreads, 0, stream, add_kernel)(y, a, b, n);
    INFER_CUDA_LAUNCHED();
    return Status::ok();
}

Status scale(float *y, const float *x, float s, int64_t n, cudaStream_t stream) {
    if (n <= 0) return Status::ok();
    INFER_LAUNCH(grid_stride_blocks(n, kThreads), kThreads, 0, stream, scale_kernel)(y, x, s, n);
    INFER_CUDA_LAUNCHED();
    return Status::ok();
}

Status add_rows(float *y, const float *bias, int64_t rows, int64_t n, cudaStream_t stream) {
    if (rows * n <= 0) return Status::ok();
    INFER_LAUNCH(grid_stride_blocks(rows * n, kThreads), kThreads, 0, stream, add_rows_kernel)
    (y, bias, rows, n);
    INFER_CUDA_LAUNCHED();
    return Status::ok();
}

Status glu(float *y, const float *gate, const float *up, int64_t n, int act, cudaStream_t stream) {
    if (n <= 0) return Status::ok();
    INFER_LAUNCH(grid_stride_blocks(n, kThreads), kThreads, 0, stream, glu_kernel)
    (y, gate, up, n, act);
    INFER_CUDA_LAUNCHED();
    return Status::ok();
}

Status sigmoid_gate(float *y, const float *x, const float *g, int64_t rows, int64_t n,
                    cudaStream_t stream) {
    if (rows * n <= 0) return Status::ok();
    INFER_LAUNCH(grid_stride_blocks(rows * n, kThreads), kThreads, 0, stream, sigmoid_gate_kernel)
    (y, x, g, rows, n);
    INFER_CUDA_LAUNCHED();
    return Status::ok();
}

Status rms_norm(float *y, const float *x, const float *w, int64_t rows, int64_t group, float eps,
                cudaStream_t stream) {
    if (rows <= 0) return Status::ok();
    if (rows > 0x7fffffff) return make_error(INFER_ERR_INTERNAL, "CUDA rms_norm: too many rows");
    const int threads = group >= 1024 ? 1024 : (group >= 256 ? 256 : 64);
    INFER_LAUNCH(static_cast<unsigned>(rows), threads, 0, stream, rms_norm_kernel)
    (y, x, w, group, eps);
    INFER_CUDA_LAUNCHED();
    return Status::ok();
}

} // namespace infer::cuda
