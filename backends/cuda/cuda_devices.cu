#include "cuda/cuda_check.h"
#include "cuda/cuda_devices.h"

#include <cuda_runtime.h>

#include <cstdio>

namespace infer::cuda {

Status cuda_error(cudaError_t err, const char *what, const char *file, int line) {
    const char *base = file;
    for (const char *p = file; *p; ++p)
        if (*p == '/') base = p + 1;
    const infer_status code =
        err == cudaErrorMemoryAllocation ? INFER_ERR_OUT_OF_MEMORY : INFER_ERR_INTERNAL;
    const Status status =
        make_error(code, "CUDA: %s failed: %s (%s:%d)", what, cudaGetErrorString(err), base, line);
    // Reported here, so cleared: a later launch's check must not find it again and blame itself
    // (a sticky error, a device fault, stays whatever is done).
    cudaGetLastError();
    return status;
}

int32_t device_count(std::string *why) {
    int count = 0;
    const cudaError_t err = cudaGetDeviceCount(&count);
    if (err != cudaSuccess) {
        // No driver or no device: the CPU backend keeps working, so this is a report, not a fault.
        if (why) *why = std::string("no CUDA device: ") + cudaGetErrorString(err);
        cudaGetLastError(); // clear the sticky runtime error state
        return 0;
    }
    if (count == 0 && why) *why = "no CUDA device";
    return count;
}

Status memory_info(int32_t device, uint64_t *free_bytes, uint64_t *total_bytes) {
    INFER_CUDA_TRY(cudaSetDevice(device));
    size_t free_now = 0, total = 0;
    INFER_CUDA_TRY(cudaMemGetInfo(&free_now, &total));
    *free_bytes = free_now;
    *total_bytes = total;
    return Status::ok();
}

Status describe(int32_t device, std::string *out) {
    int major = 0, minor = 0, sms = 0;
    INFER_CUDA_TRY(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device));
    INFER_CUDA_TRY(cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, device));
    INFER_CUDA_TRY(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device));
    uint64_t free_bytes = 0, total_bytes = 0;
    INFER_TRY(memory_info(device, &free_bytes, &total_bytes));
    char text[128];
    std::snprintf(text, sizeof text, "CUDA device %d: sm_%d%d, %d multiprocessors, %.1f GiB",
                  device, major, minor, sms, static_cast<double>(total_bytes) / (1u << 30));
    *out = text;
    return Status::ok();
}

} // namespace infer::cuda
