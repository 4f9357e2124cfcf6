#include "vulkan/vk_buffer.h"

#include "vulkan/vk_check.h"
#include "vulkan/vk_device.h"

#include <cstring>
#include <utility>

namespace infer::vulkan {
namespace {

// Host-visible: the first memory type the buffer accepts that is host-visible and host-coherent,
// preferring one that is also device-local (integrated GPUs, resizable BAR, CPU drivers).
// Device-local: a device-local type, else any (a driver whose memory is all one kind).
bool find_memory_type(VkPhysicalDevice physical, uint32_t allowed, BufferMemory memory,
                      uint32_t *out) {
    VkPhysicalDeviceMemoryProperties props{};
    vkGetPhysicalDeviceMemoryProperties(physical, &props);
    const VkMemoryPropertyFlags host =
        VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT;
    const VkMemoryPropertyFlags local = VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT;
    const VkMemoryPropertyFlags host_choices[] = {host | local, host};
    const VkMemoryPropertyFlags local_choices[] = {local, 0};
    const VkMemoryPropertyFlags *choices =
        memory == BufferMemory::HostVisible ? host_choices : local_choices;
    for (int c = 0; c < 2; ++c) {
        const VkMemoryPropertyFlags wanted = choices[c];
        for (uint32_t i = 0; i < props.memoryTypeCount; ++i) {
            if ((allowed & (1u << i)) && (props.memoryTypes[i].propertyFlags & wanted) == wanted) {
                *out = i;
                return true;
            }
        }
    }
    return false;
}

bool in_range(VkDeviceSize offset, size_t bytes, VkDeviceSize size) {
    return offset <= size && bytes <= size - offset;
}

} // namespace

Buffer::~Buffer() { release(); }

Buffer::Buffer(Buffer &&other) noexcept { *this = std::move(other); }

Buffer &Buffer::operator=(Buffer &&other) noexcept {
    if (this != &other) {
        release();
        device_ = std::exchange(other.device_, VK_NULL_HANDLE);
        buffer_ = std::exchange(other.buffer_, VK_NULL_HANDLE);
        memory_ = std::exchange(other.memory_, VK_NULL_HANDLE);
        mapped_ = std::exchange(other.mapped_, nullptr);
        size_ = std::exchange(other.size_, 0);
    }
    return *this;
}

void Buffer::release() {
    if (device_ == VK_NULL_HANDLE) return;
    // Freeing the memory unmaps it.
    if (buffer_ != VK_NULL_HANDLE) vkDestroyBuffer(device_, buffer_, nullptr);
    if (memory_ != VK_NULL_HANDLE) vkFreeMemory(device_, memory_, nullptr);
    device_ = VK_NULL_HANDLE;
    buffer_ = VK_NULL_HANDLE;
    memory_ = VK_NULL_HANDLE;
    mapped_ = nullptr;
    size_ = 0;
}

Status Buffer::create(const Device &device, VkDeviceSize bytes, Buffer *out, BufferMemory memory) {
    if (bytes == 0) return make_error(INFER_ERR_INVALID_ARGUMENT, "Vulkan buffer of 0 bytes");
    Buffer buffer;
    buffer.device_ = device.device();
    VkBufferCreateInfo create{};
    create.sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO;
    create.size = bytes;
    create.usage = VK_BUFFER_USAGE_STORAGE_BUFFER_BIT | VK_BUFFER_USAGE_TRANSFER_SRC_BIT |
                   VK_BUFFER_USAGE_TRANSFER_DST_BIT;
    create.sharingMode = VK_SHARING_MODE_EXCLUSIVE;
    INFER_VK_TRY(vkCreateBuffer, buffer.device_, &create, nullptr, &buffer.buffer_);

    VkMemoryRequirements needs{};
    vkGetBufferMemoryRequirements(buffer.device_, buffer.buffer_, &needs);
    uint32_t type = 0;
    if (!find_memory_type(device.physical_device(), needs.memoryTypeBits, memory, &type)) {
        return make_error(INFER_ERR_UNSUPPORTED,
                          "Vulkan: no %s memory type for a storage buffer",
                          memory == BufferMemory::HostVisible ? "host-visible coherent" : "usable");
    }
    VkMemoryAllocateInfo alloc{};
    alloc.sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO;
    alloc.allocationSize = needs.size;
    alloc.memoryTypeIndex = type;
    const VkResult allocated =
        vkAllocateMemory(buffer.device_, &alloc, nullptr, &buffer.memory_);
    if (allocated == VK_ERROR_OUT_OF_DEVICE_MEMORY || allocated == VK_ERROR_OUT_OF_HOST_MEMORY)
        return make_error(INFER_ERR_OUT_OF_MEMORY,
                          "Vulkan: cannot allocate %.1f MiB of %s memory (%s)",
                          static_cast<double>(needs.size) / 1048576.0,
                          memory == BufferMemory::HostVisible ? "host-visible" : "device",
                          result_name(allocated));
    if (allocated != VK_SUCCESS) return vk_error("vkAllocateMemory", allocated);
    INFER_VK_TRY(vkBindBufferMemory, buffer.device_, buffer.buffer_, buffer.memory_, 0);
    if (memory == BufferMemory::HostVisible)
        INFER_VK_TRY(vkMapMemory, buffer.device_, buffer.memory_, 0, VK_WHOLE_SIZE, 0,
                     &buffer.mapped_);
    buffer.size_ = bytes;
    *out = std::move(buffer);
    return Status::ok();
}

Status Buffer::upload(VkDeviceSize offset, const void *src, size_t bytes) {
    if (!mapped_) return make_error(INFER_ERR_INTERNAL, "Vulkan upload to a device-local buffer");
    if (!in_range(offset, bytes, size_)) {
        return make_error(INFER_ERR_INVALID_ARGUMENT,
                          "Vulkan upload of %zu bytes at offset %llu past a %llu-byte buffer",
                          bytes, static_cast<unsigned long long>(offset),
                          static_cast<unsigned long long>(size_));
    }
    if (bytes > 0) std::memcpy(static_cast<unsigned char *>(mapped_) + offset, src, bytes);
    return Status::ok();
}

Status Buffer::download(VkDeviceSize offset, void *dst, size_t bytes) const {
    if (!mapped_)
        return make_error(INFER_ERR_INTERNAL, "Vulkan download from a device-local buffer");
    if (!in_range(offset, bytes, size_)) {
        return make_error(INFER_ERR_INVALID_ARGUMENT,
                          "Vulkan download of %zu bytes at offset %llu past a %llu-byte buffer",
                          bytes, static_cast<unsigned long long>(offset),
                          static_cast<unsigned long long>(size_));
    }
    if (bytes > 0) std::memcpy(dst, static_cast<const unsigned char *>(mapped_) + offset, bytes);
    return Status::ok();
}

} // namespace infer::vulkan
