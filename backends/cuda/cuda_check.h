// Every CUDA runtime call is checked: INFER_CUDA_TRY turns a failure into a Status naming the call
// and the driver's message (out of memory as INFER_ERR_OUT_OF_MEMORY, so callers can tell a full
// card from a broken one). Kernel launches are checked with cudaGetLastError right after them.
#pragma once

#include "core/status.h"

#include <cuda_runtime.h>

namespace infer::cuda {

Status cuda_error(cudaError_t err, const char *what, const char *file, int line);

inline Status cuda_status(cudaError_t err, const char *what, const char *file, int line) {
    return err == cudaSuccess ? Status::ok() : cuda_error(err, what, file, line);
}

} // namespace infer::cuda

#define INFER_CUDA_TRY(expr)                                                                       \
    do {                                                                                           \
        const cudaError_t infer_cuda_err_ = (expr);                                                \
        if (infer_cuda_err_ != cudaSuccess)                                                        \
            return ::infer::cuda::cuda_error(infer_cuda_err_, #expr, __FILE__, __LINE__);          \
    } while (0)

// The Status of a CUDA call, where returning early does not fit (inside lambdas).
#define INFER_CUDA_STATUS(expr) ::infer::cuda::cuda_status((expr), #expr, __FILE__, __LINE__)

// After a kernel launch: the launch configuration and any earlier asynchronous error.
#define INFER_CUDA_LAUNCHED() INFER_CUDA_TRY(cudaGetLastError())

// A kernel launch: INFER_LAUNCH(grid, block, shared_bytes, stream, kernel)(args...). With nvcc
// it is the <<<...>>> launch; built against the CPU emulator (tests/cuda_emu, which runs the
// kernels in CI without a GPU) it checks the arguments and queues the grid on the stream.
#if defined(__CUDACC__)
#define INFER_LAUNCH(grid, block, shared, stream, ...) __VA_ARGS__<<<grid, block, shared, stream>>>
#else
#define INFER_LAUNCH(grid, block, shared, stream, ...)                                             \
    ::cuda_emu::launch(grid, block, shared, stream, __VA_ARGS__, #__VA_ARGS__)
#endif
