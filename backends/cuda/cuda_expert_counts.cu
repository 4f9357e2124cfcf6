// The device's expert-selection counters (contract in cuda_expert_counts.h).
#include "cuda/cuda_expert_counts.h"

#include "cuda/cuda_check.h"

#include <algorithm>

namespace infer::cuda {

ExpertCounters::~ExpertCounters() { free_all(); }

void ExpertCounters::free_all() {
    if (device_) {
        cudaFree(device_);
        weights_.release(device_bytes());
    }
    if (host_) cudaFreeHost(host_);
    device_ = host_ = nullptr;
    capacity_ = 0;
}

Status ExpertCounters::reserve(uint64_t slots, cudaStream_t stream, bool *moved) {
    *moved = false;
    if (slots <= capacity_) return Status::ok();
    *moved = device_ != nullptr;
    free_all();
    const uint64_t bytes = slots * sizeof(unsigned long long);
    void *host = nullptr, *device = nullptr;
    INFER_CUDA_TRY(cudaMallocHost(&host, bytes));
    if (const Status s = weights_.reserve(bytes, "the expert counters"); !s.is_ok()) {
        cudaFreeHost(host);
        return s;
    }
    if (const cudaError_t err = cudaMalloc(&device, bytes); err != cudaSuccess) {
        weights_.release(bytes);
        cudaFreeHost(host);
        return cuda_error(err, "cudaMalloc(expert counters)", __FILE__, __LINE__);
    }
    host_ = static_cast<unsigned long long *>(host);
    device_ = static_cast<unsigned long long *>(device);
    capacity_ = slots;
    *moved = true;
    INFER_CUDA_TRY(cudaMemsetAsync(device_, 0, bytes, stream));
    return Status::ok();
}

Status ExpertCounters::queue_readback(uint64_t slots, cudaStream_t stream) {
    const uint64_t bytes = std::min(slots, capacity_) * sizeof(unsigned long long);
    INFER_CUDA_TRY(cudaMemcpyAsync(host_, device_, bytes, cudaMemcpyDeviceToHost, stream));
    INFER_CUDA_TRY(cudaMemsetAsync(device_, 0, bytes, stream));
    return Status::ok();
}

void ExpertCounters::add_to(uint64_t *host, uint64_t slots) const {
    for (uint64_t i = 0; i < std::min(slots, capacity_); ++i)
        host[i] += host_[i];
}

} // namespace infer::cuda
