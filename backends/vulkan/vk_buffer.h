// Storage buffers in host-visible, host-coherent memory, mapped for their whole life: upload and
// download are memcpy. Every Vulkan implementation offers such memory; on discrete GPUs it is
// slower for shaders than device-local memory, which a staging path will add when the executor
// needs it.
#pragma once

#include "core/status.h"

#include <vulkan/vulkan.h>

#include <cstddef>
#include <cstdint>

namespace infer::vulkan {

class Device;

class Buffer {
public:
    Buffer() = default;
    ~Buffer();
    Buffer(Buffer &&other) noexcept;
    Buffer &operator=(Buffer &&other) noexcept;
    Buffer(const Buffer &) = delete;
    Buffer &operator=(const Buffer &) = delete;

    // Allocates `bytes` (> 0) of storage; its contents start undefined.
    static Status create(const Device &device, VkDeviceSize bytes, Buffer *out);

    // Copies between host memory and [offset, offset + bytes) of the buffer. Not ordered with
    // device work: call them when no submission that touches the buffer is in flight.
    Status upload(VkDeviceSize offset, const void *src, size_t bytes);
    Status download(VkDeviceSize offset, void *dst, size_t bytes) const;

    VkBuffer handle() const { return buffer_; }
    VkDeviceSize size() const { return size_; }

private:
    void release();

    VkDevice device_ = VK_NULL_HANDLE; // not owned
    VkBuffer buffer_ = VK_NULL_HANDLE;
    VkDeviceMemory memory_ = VK_NULL_HANDLE;
    void *mapped_ = nullptr;
    VkDeviceSize size_ = 0;
};

} // namespace infer::vulkan
