// A model's weights on one CUDA device: every weight tensor a graph of the model reads (and the
// RoPE frequency factors) copied once at load into one device allocation, found again by the
// host address the graph nodes carry. It also keeps the model's device-memory account: the
// budget from infer_model_params and the bytes its contexts hold, so that a context that would
// exceed it fails with INFER_ERR_OUT_OF_MEMORY at creation.
#pragma once

#include "runtime/backend.h"

#include <atomic>
#include <cstdint>
#include <unordered_map>

namespace infer::cuda {

class CudaWeights final : public DeviceWeights {
public:
    CudaWeights(int32_t device, int32_t n_sm, uint64_t budget)
        : device_(device), n_sm_(n_sm), account_(budget) {}
    ~CudaWeights() override;

    uint64_t bytes() const override { return bytes_; }
    int32_t device() const { return device_; }
    int32_t n_sm() const { return n_sm_; }
    // The device copy of the weight bytes at host address `host` (a WeightRef::data or a
    // freq_factors pointer); null when it was not uploaded.
    const uint8_t *find(const void *host) const;

    // Accounts `bytes` more of device memory against the budget (thread-safe: contexts of one
    // model may be created on several threads); release() gives them back.
    Status reserve(uint64_t bytes, const char *what) const { return account_.reserve(bytes, what); }
    void release(uint64_t bytes) const { account_.release(bytes); }
    // Bytes the budget has left (the most a reserve() can take now); UINT64_MAX without one.
    uint64_t available() const { return account_.available(); }

    // Allocates the device memory for `bytes` of weights, counted against the budget.
    Status allocate(uint64_t bytes);
    uint8_t *memory() const { return memory_; }
    // Filled by upload_cuda_weights: host address -> device copy.
    std::unordered_map<const void *, uint8_t *> by_host;

private:
    int32_t device_, n_sm_;
    mutable DeviceMemoryAccount account_;
    uint8_t *memory_ = nullptr;
    uint64_t bytes_ = 0;
};

} // namespace infer::cuda
