// Storage buffers. Host-visible ones (host-coherent, mapped for their whole life: upload and
// download are memcpy; every Vulkan implementation offers such memory) serve tests and staging;
// device-local ones hold weights and context memory, filled by copies from a host-visible one
// (on integrated GPUs and CPU drivers the two are the same memory).
#pragma once

#include "core/status.h"

#include <vulkan/vulkan.h>

#include <cstddef>
#include <cstdint>

namespace infer::vulkan {

class Device;

enum class BufferMemory { HostVisible, DeviceLocal };

class Buffer {
public:
    Buffer() = default;
    ~Buffer();
    Buffer(Buffer &&other) noexcept;
    Buffer &operator=(Buffer &&other) noexcept;
    Buffer(const Buffer &) = delete;
    Buffer &operator=(const Buffer &) = delete;

    // Allocates `bytes` (> 0) of storage; its contents start undefined. Out of device memory is
    // INFER_ERR_OUT_OF_MEMORY naming the bytes.
    static Status create(const Device &device, VkDeviceSize bytes, Buffer *out,
                         BufferMemory memory = BufferMemory::HostVisible);

    // Copies between host memory and [offset, offset + bytes) of the buffer. Not ordered with
    // device work: call them when no submission that touches the buffer is in flight.
    Status upload(VkDeviceSize offset, const void *src, size_t bytes);
    Status download(VkDeviceSize offset, void *dst, size_t bytes) const;

    VkBuffer handle() const { return buffer_; }
    // The host mapping of a host-visible buffer; null for a device-local one.
    uint8_t *mapped() const { return static_cast<uint8_t *>(mapped_); }
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
