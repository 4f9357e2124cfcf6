#include "cuda/cuda_devices.h"

#include <cuda_runtime.h>

namespace infer::cuda {

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

} // namespace infer::cuda
