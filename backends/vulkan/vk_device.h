// Device discovery and the logical device of the Vulkan backend.
//
// Requirement for a usable device: Vulkan 1.2, a queue family with compute, and
// storageBuffer16BitAccess (the quantized-weight shaders read 16-bit words). Everything else
// (fp16 arithmetic, subgroup operations, ...) is optional: probed here and recorded in
// DeviceInfo for the ops to choose their variant. Devices are numbered in the loader's order,
// counting suitable devices only.
//
// Two environment variables steer the choice, read when a device is probed:
//   INFER_VULKAN_DISABLE=fp16,subgroup,int8,dot,coopmat (or "all") treats those optional
//     features as absent, so that the fallbacks run (CI runs them on lavapipe);
//   INFER_VULKAN_KERNELS=gpu|cpu overrides the kernel set the device type picks: "cpu" kernels
//     (a CPU driver such as lavapipe: one invocation per output row, no barriers) or "gpu"
//     kernels (rows split over a workgroup with reductions, shared-memory tiles for prefill,
//     attention split over the keys for decode).
#pragma once

#include "core/status.h"

#include <vulkan/vulkan.h>

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

namespace infer::vulkan {

// Number of suitable Vulkan devices; 0 with the reason in *why (no loader ICD, driver too old,
// no device meeting the requirement) otherwise. Never fails hard: the CPU backend keeps working.
int32_t device_count(std::string *why);

// Free and total bytes of suitable device `index`: its largest device-local heap (free is the
// heap size: core Vulkan has no free-memory query).
Status memory_info(int32_t index, uint64_t *free_bytes, uint64_t *total_bytes);

struct DeviceInfo {
    std::string name;         // VkPhysicalDeviceProperties::deviceName
    uint32_t api_version = 0; // VK_MAKE_API_VERSION of the device
    uint32_t vendor_id = 0;
    VkPhysicalDeviceType type = VK_PHYSICAL_DEVICE_TYPE_OTHER;
    uint32_t queue_family = 0; // the compute queue's family

    // Optional features (after INFER_VULKAN_DISABLE). The ones a kernel uses are enabled on the
    // logical device when present; the others are probed for reports.
    bool shader_float16 = false;      // fp16 arithmetic in shaders (prefill tiles in fp16)
    uint32_t subgroup_size = 0;       // default subgroup size
    uint32_t min_subgroup_size = 0;   // what subgroup size control offers (0: no control)
    uint32_t max_subgroup_size = 0;
    bool subgroup_arithmetic = false; // subgroupAdd & co. in compute shaders (matvec reductions)
    bool subgroup_shuffle = false;
    bool int8 = false;               // shaderInt8 and 8-bit storage (no kernel uses them yet)
    bool integer_dot = false;        // VK_KHR_shader_integer_dot_product (int8 decode matvec)
    bool integer_dot_accelerated = false; // 4x8-bit packed signed and mixed dot in hardware
    bool cooperative_matrix = false;      // VK_KHR_cooperative_matrix (no kernel: glslang too old)
    bool memory_budget = false;      // VK_EXT_memory_budget: memory_info reports free bytes
    std::string disabled;            // what INFER_VULKAN_DISABLE turned off, for reports
    // The kernel set: true for GPU kernels (split rows, tiles, split attention), false for the
    // CPU-driver kernels (vk_device.h's header comment).
    bool gpu_kernels = false;
    // Decode matvec of Q4_0..Q8_0 and Q4_K..Q6_K with int8 activations and packed 4x8 dot
    // products: GPU kernels, the dot feature, and hardware that accelerates it (or the GPU
    // kernels forced by INFER_VULKAN_KERNELS=gpu, which treats every feature as fast).
    bool int8_dot_matvec = false;

    // Limits the ops and the memory planner must respect.
    VkDeviceSize max_storage_buffer_range = 0;            // bytes one storage binding may span
    VkDeviceSize min_storage_buffer_offset_alignment = 0; // binding offsets are multiples of this
    uint32_t max_workgroup_count_x = 0;
    uint32_t max_push_constants_size = 0;
    uint32_t max_shared_memory_bytes = 0;
};

// One line for reports: "NAME (Vulkan 1.3, discrete GPU; uses fp16 subgroup(32); has, unused:
// int8 dot; gpu kernels)".
std::string describe(const DeviceInfo &info);

// Description of suitable device `index` (describe()).
Status device_description(int32_t index, std::string *out);

// A logical device with one compute queue, a command pool and one reusable command buffer and
// fence for submit-and-wait (begin_commands/submit_and_wait: one thread at a time). submit() may
// be called from any thread: the backends of several contexts share the device, each with its
// own command pool and fence. Buffers and pipelines made from a Device must be destroyed before
// it.
class Device {
public:
    // Opens the suitable device number `index` (0 <= index < device_count()).
    static Status create(int32_t index, std::unique_ptr<Device> *out);
    ~Device();
    Device(const Device &) = delete;
    Device &operator=(const Device &) = delete;

    const DeviceInfo &info() const { return info_; }
    VkDevice device() const { return device_; }
    VkPhysicalDevice physical_device() const { return physical_; }

    // Size of the largest device-local heap (the memory weights and contexts go to).
    uint64_t device_local_bytes() const;

    // vkQueueSubmit of one batch on the device's queue, serialized across threads.
    Status submit(const VkSubmitInfo &info, VkFence fence);

    // Begins recording into the device's command buffer; end with submit_and_wait().
    Status begin_commands(VkCommandBuffer *cmd);
    // Ends recording, submits, waits for completion, and makes the device's writes visible to
    // host reads of mapped memory.
    Status submit_and_wait();

private:
    Device() = default;

    VkInstance instance_ = VK_NULL_HANDLE;
    VkPhysicalDevice physical_ = VK_NULL_HANDLE;
    VkDevice device_ = VK_NULL_HANDLE;
    VkQueue queue_ = VK_NULL_HANDLE;
    VkCommandPool command_pool_ = VK_NULL_HANDLE;
    VkCommandBuffer command_buffer_ = VK_NULL_HANDLE;
    std::mutex queue_mutex_;
    VkFence fence_ = VK_NULL_HANDLE;
    bool recording_ = false;
    DeviceInfo info_;
};

} // namespace infer::vulkan
