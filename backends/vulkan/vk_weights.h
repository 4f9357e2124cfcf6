// A model's weights on one Vulkan device: every weight tensor a graph of the model reads (and the
// RoPE frequency factors, the attention sinks, the expert slot tables) copied once at load into device-local buffers,
// found again by the host address the graph nodes carry. A storage binding may span at most the
// device's maxStorageBufferRange (128 MiB on some drivers), so the weights are packed into
// chunks no larger than that (or INFER_VULKAN_WEIGHT_CHUNK_BYTES, a smaller cap for tests and
// for drivers that allocate large buffers badly). A weight that fits stays whole in one chunk; a
// larger one is cut into parts at its units (matrix rows, experts: WeightSpan::unit_bytes),
// each part whole in a chunk, and the kernels reading it take a dispatch per part. A shader
// binds the chunk of the part it reads. Like CudaWeights it keeps the model's device-memory account (the budget from
// infer_model_params and the bytes its contexts hold). It owns the device: contexts share it.
#pragma once

#include "runtime/backend_registry.h"
#include "vulkan/vk_buffer.h"
#include "vulkan/vk_device.h"

#include <atomic>
#include <cstdint>
#include <memory>
#include <unordered_map>
#include <vector>

namespace infer::vulkan {

// Where a weight, or a part of it, lives: a chunk and the byte offset in it. A part holds units
// [first, first + units) of its weight (rows or experts); a whole weight is one part, units 0
// when it has no unit.
struct WeightLocation {
    uint32_t chunk = 0;
    uint64_t offset = 0;
    uint64_t first = 0;
    uint64_t units = 0;
};

class VulkanWeights final : public DeviceWeights {
public:
    VulkanWeights(std::unique_ptr<Device> device, uint64_t budget)
        : device_(std::move(device)), account_(budget) {}

    uint64_t bytes() const override { return bytes_; }
    Device &device() const { return *device_; }
    const std::vector<Buffer> &chunks() const { return chunks_; }
    // The device copy of the weight bytes at host address `host` (its first part); false when
    // not uploaded.
    bool find(const void *host, WeightLocation *out) const;
    // Every part of the weight at `host`, in unit order; null when not uploaded.
    const std::vector<WeightLocation> *parts(const void *host) const;

    // The device-memory account, as CudaWeights's (thread-safe).
    Status reserve(uint64_t bytes, const char *what) const { return account_.reserve(bytes, what); }
    void release(uint64_t bytes) const { account_.release(bytes); }

    // Upload (vk_weights.cpp): lays the spans out in chunks and copies them.
    Status upload(const std::vector<WeightSpan> &spans, const std::function<bool(float)> &progress,
                  const std::function<void(const void *, uint64_t)> &read_done);

private:
    std::unique_ptr<Device> device_; // declared first: destroyed after the buffers made from it
    std::vector<Buffer> chunks_;
    std::unordered_map<const void *, std::vector<WeightLocation>> by_host_;
    uint64_t bytes_ = 0;
    mutable DeviceMemoryAccount account_;
};

// BackendEntry::upload_weights of the Vulkan backend.
Status upload_weights(const std::vector<WeightSpan> &weights, int32_t device, uint64_t budget,
                      const std::function<bool(float)> &progress,
                      const std::function<void(const void *, uint64_t)> &read_done,
                      std::unique_ptr<DeviceWeights> *out);

} // namespace infer::vulkan
