// Compute pipelines made from the embedded SPIR-V, and the one-dispatch submit path.
//
// Convention for every shader of this backend: storage buffers at bindings 0..n-1 of set 0, one
// push-constant block of a fixed size, workgroups along x only (shaders that need more loop
// over their work, so a dispatch never exceeds the device's workgroup-count limit).
#pragma once

#include "core/status.h"

#include <vulkan/vulkan.h>

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace infer::vulkan {

class Buffer;
class Device;
struct SpirvShader;

// The compute pipeline of embedded shader `spirv` ("main") under `layout`, with its
// specialization constants set by `spec` (null: their defaults).
Status create_compute_pipeline(VkDevice device, const SpirvShader &spirv, VkPipelineLayout layout,
                               VkPipeline *out, const VkSpecializationInfo *spec = nullptr);

// A storage-buffer binding: [offset, offset + range) of a buffer. offset must be a multiple of
// the device's min_storage_buffer_offset_alignment; the range may not exceed
// max_storage_buffer_range.
struct Binding {
    const Buffer *buffer = nullptr;
    VkDeviceSize offset = 0;
    VkDeviceSize range = VK_WHOLE_SIZE; // to the end of the buffer
};

class Pipeline {
public:
    Pipeline() = default;
    ~Pipeline();
    Pipeline(Pipeline &&other) noexcept;
    Pipeline &operator=(Pipeline &&other) noexcept;
    Pipeline(const Pipeline &) = delete;
    Pipeline &operator=(const Pipeline &) = delete;

    // The pipeline of embedded shader `shader` with `binding_count` storage buffers and
    // `push_bytes` (a multiple of 4) of push constants.
    static Status create(const Device &device, std::string_view shader, uint32_t binding_count,
                         uint32_t push_bytes, Pipeline *out);

    const std::string &name() const { return name_; }

private:
    friend Status dispatch(Device &, Pipeline &, std::span<const Binding>, const void *, uint32_t,
                           uint32_t);
    void release();

    VkDevice device_ = VK_NULL_HANDLE; // not owned
    VkDescriptorSetLayout set_layout_ = VK_NULL_HANDLE;
    VkPipelineLayout layout_ = VK_NULL_HANDLE;
    VkPipeline pipeline_ = VK_NULL_HANDLE;
    VkDescriptorPool pool_ = VK_NULL_HANDLE;
    VkDescriptorSet set_ = VK_NULL_HANDLE; // rewritten per dispatch; freed with the pool
    uint32_t binding_count_ = 0;
    uint32_t push_bytes_ = 0;
    std::string name_;
};

// Runs `groups_x` workgroups of `pipeline` with `bindings` (one per binding slot, in order) and
// `push` (exactly the pipeline's push_bytes) and waits for them to finish.
Status dispatch(Device &device, Pipeline &pipeline, std::span<const Binding> bindings,
                const void *push, uint32_t push_bytes, uint32_t groups_x);

} // namespace infer::vulkan
