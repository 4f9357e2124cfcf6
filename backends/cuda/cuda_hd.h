// INFER_HD marks functions that run on both the GPU (nvcc) and the host (g++), so the math the
// CUDA kernels use can be unit-tested on a machine without a GPU (tests/unit/test_cuda_host.cpp).
#pragma once

#if defined(__CUDACC__)
#define INFER_HD __host__ __device__ __forceinline__
#else
#define INFER_HD inline
#endif

// Unroll a loop with a constant trip count in device code (register arrays indexed by the loop
// counter stay in registers); nothing in host passes, where g++ would warn of an unknown pragma.
#if defined(__CUDA_ARCH__)
#define INFER_UNROLL _Pragma("unroll")
#else
#define INFER_UNROLL
#endif
