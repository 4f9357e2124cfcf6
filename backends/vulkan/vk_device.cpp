#include "vulkan/vk_device.h"

#include "vulkan/vk_check.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <vector>

namespace infer::vulkan {
namespace {

// Creates a Vulkan 1.2 instance with no layers and no extensions: the backend only computes,
// so it needs no surface, and a debug layer is the developer's choice (VK_INSTANCE_LAYERS).
Status create_instance(VkInstance *out) {
    // vkEnumerateInstanceVersion does not exist in a 1.0 loader, so it is looked up, not called.
    const auto enumerate_version = reinterpret_cast<PFN_vkEnumerateInstanceVersion>(
        vkGetInstanceProcAddr(VK_NULL_HANDLE, "vkEnumerateInstanceVersion"));
    uint32_t loader_version = VK_API_VERSION_1_0;
    if (enumerate_version) INFER_VK_TRY(enumerate_version, &loader_version);
    if (loader_version < VK_API_VERSION_1_2) {
        return make_error(
            INFER_ERR_UNSUPPORTED, "the Vulkan loader supports %u.%u; 1.2 is required",
            VK_API_VERSION_MAJOR(loader_version), VK_API_VERSION_MINOR(loader_version));
    }
    VkApplicationInfo app{};
    app.sType = VK_STRUCTURE_TYPE_APPLICATION_INFO;
    app.pApplicationName = "libinfer";
    app.pEngineName = "libinfer";
    app.apiVersion = VK_API_VERSION_1_2;
    VkInstanceCreateInfo create{};
    create.sType = VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO;
    create.pApplicationInfo = &app;
    const VkResult result = vkCreateInstance(&create, nullptr, out);
    if (result == VK_ERROR_INCOMPATIBLE_DRIVER) {
        // The loader is there but found no driver (ICD) it can use: the usual no-GPU case.
        return make_error(
            INFER_ERR_UNSUPPORTED,
            "no Vulkan driver found (vkCreateInstance: VK_ERROR_INCOMPATIBLE_DRIVER)");
    }
    if (result != VK_SUCCESS) return vk_error("vkCreateInstance", result);
    return Status::ok();
}

struct InstanceGuard {
    VkInstance instance = VK_NULL_HANDLE;
    ~InstanceGuard() {
        if (instance != VK_NULL_HANDLE) vkDestroyInstance(instance, nullptr);
    }
};

bool has_extension(VkPhysicalDevice physical, const char *name) {
    uint32_t count = 0;
    if (vkEnumerateDeviceExtensionProperties(physical, nullptr, &count, nullptr) != VK_SUCCESS)
        return false;
    std::vector<VkExtensionProperties> extensions(count);
    if (vkEnumerateDeviceExtensionProperties(physical, nullptr, &count, extensions.data()) !=
        VK_SUCCESS)
        return false;
    for (uint32_t i = 0; i < count; ++i)
        if (std::strcmp(extensions[i].extensionName, name) == 0) return true;
    return false;
}

// True when the comma-separated list `list` names `word` or "all".
bool names(const char *list, const char *word) {
    const size_t n = std::strlen(word);
    for (const char *p = list; *p;) {
        const char *end = std::strchr(p, ',');
        const size_t len = end ? static_cast<size_t>(end - p) : std::strlen(p);
        if ((len == n && std::strncmp(p, word, n) == 0) ||
            (len == 3 && std::strncmp(p, "all", 3) == 0))
            return true;
        if (!end) break;
        p = end + 1;
    }
    return false;
}

// INFER_VULKAN_DISABLE and INFER_VULKAN_KERNELS (vk_device.h): features the user turned off
// become absent, and the kernel set follows the device type unless overridden.
void apply_switches(DeviceInfo *info) {
    const char *off = std::getenv("INFER_VULKAN_DISABLE");
    auto disable = [&](const char *word, bool *feature) {
        if (!off || !names(off, word)) return;
        *feature = false;
        if (!info->disabled.empty()) info->disabled += ",";
        info->disabled += word;
    };
    disable("fp16", &info->shader_float16);
    if (off && names(off, "subgroup")) info->subgroup_shuffle = false;
    disable("subgroup", &info->subgroup_arithmetic);
    disable("int8", &info->int8);
    disable("dot", &info->integer_dot);
    disable("coopmat", &info->cooperative_matrix);
    info->gpu_kernels = info->type != VK_PHYSICAL_DEVICE_TYPE_CPU;
    bool forced_gpu = false;
    if (const char *kernels = std::getenv("INFER_VULKAN_KERNELS")) {
        forced_gpu = std::strcmp(kernels, "gpu") == 0;
        if (forced_gpu) info->gpu_kernels = true;
        if (std::strcmp(kernels, "cpu") == 0) info->gpu_kernels = false;
    }
    // Emulated dot products cost more than the float products they replace; forced GPU kernels
    // treat every feature as a GPU's (how CI runs the int8 path on lavapipe).
    info->int8_dot_matvec =
        info->gpu_kernels && info->integer_dot && (info->integer_dot_accelerated || forced_gpu);
}

// Fills *info from the device's properties and features; returns the empty string when the
// device meets the requirement, otherwise why it does not.
std::string probe(VkPhysicalDevice physical, DeviceInfo *info) {
    VkPhysicalDeviceProperties base{};
    vkGetPhysicalDeviceProperties(physical, &base);
    info->name = base.deviceName;
    info->api_version = base.apiVersion;
    info->vendor_id = base.vendorID;
    info->type = base.deviceType;
    if (base.apiVersion < VK_API_VERSION_1_2) {
        return info->name + ": Vulkan " + std::to_string(VK_API_VERSION_MAJOR(base.apiVersion)) +
               "." + std::to_string(VK_API_VERSION_MINOR(base.apiVersion)) + " < 1.2";
    }

    // The 1.1/1.2 property and feature structs may only be chained on a 1.2 device: checked above.
    VkPhysicalDeviceVulkan11Properties props11{};
    props11.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_1_PROPERTIES;
    VkPhysicalDeviceProperties2 props{};
    props.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2;
    props.pNext = &props11;
    // Subgroup size control (VK_EXT_subgroup_size_control, core in 1.3): the sizes a pipeline
    // could ask for. Reported; the kernels work with whatever size the driver picks.
    VkPhysicalDeviceSubgroupSizeControlProperties size_control{};
    size_control.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_SIZE_CONTROL_PROPERTIES;
    if (has_extension(physical, VK_EXT_SUBGROUP_SIZE_CONTROL_EXTENSION_NAME))
        props11.pNext = &size_control;
    vkGetPhysicalDeviceProperties2(physical, &props);

    const bool has_dot = has_extension(physical, VK_KHR_SHADER_INTEGER_DOT_PRODUCT_EXTENSION_NAME);
    VkPhysicalDeviceShaderIntegerDotProductProperties dot_props{};
    dot_props.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_INTEGER_DOT_PRODUCT_PROPERTIES;
    if (has_dot) {
        VkPhysicalDeviceProperties2 more{};
        more.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2;
        more.pNext = &dot_props;
        vkGetPhysicalDeviceProperties2(physical, &more);
    }
    VkPhysicalDeviceShaderIntegerDotProductFeatures dot{};
    dot.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_INTEGER_DOT_PRODUCT_FEATURES;
    VkPhysicalDeviceVulkan12Features features12{};
    features12.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES;
    features12.pNext = has_dot ? &dot : nullptr;
    VkPhysicalDeviceVulkan11Features features11{};
    features11.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_1_FEATURES;
    features11.pNext = &features12;
    VkPhysicalDeviceFeatures2 features{};
    features.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2;
    features.pNext = &features11;
    vkGetPhysicalDeviceFeatures2(physical, &features);
    info->int8 = features12.shaderInt8 == VK_TRUE && features12.storageBuffer8BitAccess == VK_TRUE;
    info->integer_dot = has_dot && dot.shaderIntegerDotProduct == VK_TRUE;
    info->integer_dot_accelerated =
        dot_props.integerDotProduct4x8BitPackedSignedAccelerated == VK_TRUE &&
        dot_props.integerDotProduct4x8BitPackedMixedSignednessAccelerated == VK_TRUE;
    info->cooperative_matrix = has_extension(physical, "VK_KHR_cooperative_matrix");
    info->memory_budget = has_extension(physical, VK_EXT_MEMORY_BUDGET_EXTENSION_NAME);

    const VkPhysicalDeviceLimits &limits = props.properties.limits;
    info->max_storage_buffer_range = limits.maxStorageBufferRange;
    info->min_storage_buffer_offset_alignment = limits.minStorageBufferOffsetAlignment;
    info->max_workgroup_count_x = limits.maxComputeWorkGroupCount[0];
    info->max_push_constants_size = limits.maxPushConstantsSize;
    info->max_shared_memory_bytes = limits.maxComputeSharedMemorySize;
    info->shader_float16 = features12.shaderFloat16 == VK_TRUE;
    const bool compute_subgroups =
        (props11.subgroupSupportedStages & VK_SHADER_STAGE_COMPUTE_BIT) != 0;
    info->subgroup_size = props11.subgroupSize;
    info->min_subgroup_size = size_control.minSubgroupSize;
    info->max_subgroup_size = size_control.maxSubgroupSize;
    info->subgroup_arithmetic = compute_subgroups && (props11.subgroupSupportedOperations &
                                                      VK_SUBGROUP_FEATURE_ARITHMETIC_BIT);
    info->subgroup_shuffle = compute_subgroups && (props11.subgroupSupportedOperations &
                                                   VK_SUBGROUP_FEATURE_SHUFFLE_BIT);
    apply_switches(info);

    if (features11.storageBuffer16BitAccess != VK_TRUE)
        return info->name + ": no storageBuffer16BitAccess";

    uint32_t family_count = 0;
    vkGetPhysicalDeviceQueueFamilyProperties(physical, &family_count, nullptr);
    std::vector<VkQueueFamilyProperties> families(family_count);
    vkGetPhysicalDeviceQueueFamilyProperties(physical, &family_count, families.data());
    // The first compute family: on most drivers the universal queue, which every driver exposes.
    for (uint32_t i = 0; i < family_count; ++i) {
        if ((families[i].queueFlags & VK_QUEUE_COMPUTE_BIT) && families[i].queueCount > 0) {
            info->queue_family = i;
            return {};
        }
    }
    return info->name + ": no compute queue";
}

uint64_t largest_local_heap(VkPhysicalDevice physical, uint64_t *budget = nullptr,
                            bool has_budget = false) {
    VkPhysicalDeviceMemoryBudgetPropertiesEXT budgets{};
    budgets.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MEMORY_BUDGET_PROPERTIES_EXT;
    VkPhysicalDeviceMemoryProperties2 props2{};
    props2.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MEMORY_PROPERTIES_2;
    props2.pNext = has_budget ? &budgets : nullptr;
    vkGetPhysicalDeviceMemoryProperties2(physical, &props2);
    const VkPhysicalDeviceMemoryProperties &props = props2.memoryProperties;
    uint64_t largest = 0;
    for (uint32_t i = 0; i < props.memoryHeapCount; ++i) {
        if (!(props.memoryHeaps[i].flags & VK_MEMORY_HEAP_DEVICE_LOCAL_BIT)) continue;
        if (props.memoryHeaps[i].size < largest) continue;
        largest = props.memoryHeaps[i].size;
        // The budget is what this process may still allocate there; without the extension,
        // the heap's size is all core Vulkan says.
        if (budget) {
            const uint64_t left = budgets.heapBudget[i] > budgets.heapUsage[i]
                                      ? budgets.heapBudget[i] - budgets.heapUsage[i]
                                      : 0;
            *budget = has_budget ? std::min<uint64_t>(left, largest) : largest;
        }
    }
    return largest;
}

struct Candidate {
    VkPhysicalDevice physical;
    DeviceInfo info;
};

// The suitable devices in the loader's order; the reasons the others were passed over go to
// *rejected, separated by "; ".
Status enumerate_suitable(VkInstance instance, std::vector<Candidate> *out, std::string *rejected) {
    uint32_t count = 0;
    INFER_VK_TRY(vkEnumeratePhysicalDevices, instance, &count, nullptr);
    std::vector<VkPhysicalDevice> physicals(count);
    // VK_INCOMPLETE only if a device appeared between the two calls; the first `count` will do.
    const VkResult result = vkEnumeratePhysicalDevices(instance, &count, physicals.data());
    if (result != VK_SUCCESS && result != VK_INCOMPLETE) {
        return vk_error("vkEnumeratePhysicalDevices", result);
    }
    physicals.resize(count);
    for (VkPhysicalDevice physical : physicals) {
        Candidate candidate{physical, {}};
        const std::string why_not = probe(physical, &candidate.info);
        if (why_not.empty()) {
            out->push_back(std::move(candidate));
        } else {
            if (!rejected->empty()) *rejected += "; ";
            *rejected += why_not;
        }
    }
    return Status::ok();
}

} // namespace

int32_t device_count(std::string *why) {
    InstanceGuard guard;
    Status status = create_instance(&guard.instance);
    std::vector<Candidate> candidates;
    std::string rejected;
    if (status.is_ok()) status = enumerate_suitable(guard.instance, &candidates, &rejected);
    if (!status.is_ok()) {
        if (why) *why = status.message();
        return 0;
    }
    if (candidates.empty() && why) {
        *why = rejected.empty() ? "no Vulkan device" : "no suitable Vulkan device: " + rejected;
    }
    return static_cast<int32_t>(candidates.size());
}

// Calls fn with suitable device `index`, found on an instance of its own.
template <class Fn> static Status with_candidate(int32_t index, Fn fn) {
    InstanceGuard guard;
    INFER_TRY(create_instance(&guard.instance));
    std::vector<Candidate> candidates;
    std::string rejected;
    INFER_TRY(enumerate_suitable(guard.instance, &candidates, &rejected));
    if (index < 0 || static_cast<size_t>(index) >= candidates.size())
        return make_error(INFER_ERR_INVALID_ARGUMENT, "Vulkan device %d does not exist (%zu found)",
                          index, candidates.size());
    fn(candidates[static_cast<size_t>(index)]);
    return Status::ok();
}

Status memory_info(int32_t index, uint64_t *free_bytes, uint64_t *total_bytes) {
    return with_candidate(index, [&](const Candidate &c) {
        *total_bytes = largest_local_heap(c.physical, free_bytes, c.info.memory_budget);
    });
}

std::string describe(const DeviceInfo &info) {
    const char *kind = info.type == VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU     ? "discrete GPU"
                       : info.type == VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU ? "integrated GPU"
                       : info.type == VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU    ? "virtual GPU"
                       : info.type == VK_PHYSICAL_DEVICE_TYPE_CPU            ? "CPU"
                                                                             : "other";
    // What the kernels use, then what the device also has that no kernel uses yet.
    std::string used, unused;
    auto add = [](std::string *list, bool on, const std::string &name) {
        if (!on) return;
        if (!list->empty()) *list += " ";
        *list += name;
    };
    add(&used, info.shader_float16, "fp16");
    std::string sizes = std::to_string(info.subgroup_size);
    if (info.max_subgroup_size > info.min_subgroup_size)
        sizes += ", " + std::to_string(info.min_subgroup_size) + ".." +
                 std::to_string(info.max_subgroup_size) + " controllable";
    add(&used, info.subgroup_arithmetic, "subgroup(" + sizes + ")");
    add(&used, info.memory_budget, "memory-budget");
    add(&used, info.int8_dot_matvec,
        std::string("int8-dot") + (info.integer_dot_accelerated ? "" : "(not accelerated)"));
    add(&unused, info.int8, "int8");
    add(&unused, info.integer_dot && !info.int8_dot_matvec,
        std::string("dot") + (info.integer_dot_accelerated ? "" : "(not accelerated)"));
    add(&unused, info.cooperative_matrix, "coopmat");
    std::string line = info.name + " (Vulkan " +
                       std::to_string(VK_API_VERSION_MAJOR(info.api_version)) + "." +
                       std::to_string(VK_API_VERSION_MINOR(info.api_version)) + ", " + kind +
                       "; uses " + (used.empty() ? "no optional feature" : used);
    if (!unused.empty()) line += "; has, unused: " + unused;
    if (!info.disabled.empty()) line += "; disabled: " + info.disabled;
    return line + "; " + (info.gpu_kernels ? "gpu" : "cpu") + " kernels)";
}

Status device_description(int32_t index, std::string *out) {
    return with_candidate(index, [&](const Candidate &c) { *out = describe(c.info); });
}

Status Device::create(int32_t index, std::unique_ptr<Device> *out) {
    std::unique_ptr<Device> dev(new Device());
    INFER_TRY(create_instance(&dev->instance_));
    std::vector<Candidate> candidates;
    std::string rejected;
    INFER_TRY(enumerate_suitable(dev->instance_, &candidates, &rejected));
    if (index < 0 || static_cast<size_t>(index) >= candidates.size()) {
        return make_error(INFER_ERR_NOT_FOUND, "no Vulkan device %d: %zu suitable%s%s", index,
                          candidates.size(),
                          rejected.empty() ? "" : "; passed over: ", rejected.c_str());
    }
    dev->physical_ = candidates[index].physical;
    dev->info_ = std::move(candidates[index].info);

    VkPhysicalDeviceVulkan12Features features12{};
    features12.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES;
    features12.shaderFloat16 = dev->info_.shader_float16 ? VK_TRUE : VK_FALSE;
    VkPhysicalDeviceShaderIntegerDotProductFeatures dot{};
    dot.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_INTEGER_DOT_PRODUCT_FEATURES;
    dot.shaderIntegerDotProduct = VK_TRUE;
    // The extension, not Vulkan 1.3's core feature: the instance asks for 1.2.
    const char *dot_extension = VK_KHR_SHADER_INTEGER_DOT_PRODUCT_EXTENSION_NAME;
    if (dev->info_.int8_dot_matvec) features12.pNext = &dot;
    VkPhysicalDeviceVulkan11Features features11{};
    features11.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_1_FEATURES;
    features11.pNext = &features12;
    features11.storageBuffer16BitAccess = VK_TRUE;
    VkPhysicalDeviceFeatures2 features{};
    features.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2;
    features.pNext = &features11;

    const float priority = 1.0f;
    VkDeviceQueueCreateInfo queue{};
    queue.sType = VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO;
    queue.queueFamilyIndex = dev->info_.queue_family;
    queue.queueCount = 1;
    queue.pQueuePriorities = &priority;
    VkDeviceCreateInfo create{};
    create.sType = VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO;
    create.pNext = &features;
    if (dev->info_.int8_dot_matvec) {
        create.enabledExtensionCount = 1;
        create.ppEnabledExtensionNames = &dot_extension;
    }
    create.queueCreateInfoCount = 1;
    create.pQueueCreateInfos = &queue;
    INFER_VK_TRY(vkCreateDevice, dev->physical_, &create, nullptr, &dev->device_);
    vkGetDeviceQueue(dev->device_, dev->info_.queue_family, 0, &dev->queue_);

    VkCommandPoolCreateInfo pool{};
    pool.sType = VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO;
    pool.flags = VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT;
    pool.queueFamilyIndex = dev->info_.queue_family;
    INFER_VK_TRY(vkCreateCommandPool, dev->device_, &pool, nullptr, &dev->command_pool_);
    VkCommandBufferAllocateInfo alloc{};
    alloc.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO;
    alloc.commandPool = dev->command_pool_;
    alloc.level = VK_COMMAND_BUFFER_LEVEL_PRIMARY;
    alloc.commandBufferCount = 1;
    INFER_VK_TRY(vkAllocateCommandBuffers, dev->device_, &alloc, &dev->command_buffer_);
    VkFenceCreateInfo fence{};
    fence.sType = VK_STRUCTURE_TYPE_FENCE_CREATE_INFO;
    INFER_VK_TRY(vkCreateFence, dev->device_, &fence, nullptr, &dev->fence_);

    *out = std::move(dev);
    return Status::ok();
}

Device::~Device() {
    if (device_ != VK_NULL_HANDLE) {
        // Nothing may be in flight when its objects go; a failure here has no one to report to.
        (void)vkDeviceWaitIdle(device_);
        if (fence_ != VK_NULL_HANDLE) vkDestroyFence(device_, fence_, nullptr);
        if (command_pool_ != VK_NULL_HANDLE) vkDestroyCommandPool(device_, command_pool_, nullptr);
        vkDestroyDevice(device_, nullptr);
    }
    if (instance_ != VK_NULL_HANDLE) vkDestroyInstance(instance_, nullptr);
}

uint64_t Device::device_local_bytes() const { return largest_local_heap(physical_); }

Status Device::submit(const VkSubmitInfo &info, VkFence fence) {
    std::lock_guard<std::mutex> lock(queue_mutex_);
    INFER_VK_TRY(vkQueueSubmit, queue_, 1, &info, fence);
    return Status::ok();
}

Status Device::begin_commands(VkCommandBuffer *cmd) {
    // Also abandons a recording that an earlier error left unsubmitted.
    recording_ = false;
    INFER_VK_TRY(vkResetCommandBuffer, command_buffer_, 0);
    VkCommandBufferBeginInfo begin{};
    begin.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO;
    begin.flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT;
    INFER_VK_TRY(vkBeginCommandBuffer, command_buffer_, &begin);
    recording_ = true;
    *cmd = command_buffer_;
    return Status::ok();
}

Status Device::submit_and_wait() {
    if (!recording_) return make_error(INFER_ERR_INTERNAL, "Vulkan submit without begin_commands");
    recording_ = false;
    // A fence wait orders device work before the host but does not make device writes visible
    // to host reads; this barrier does.
    VkMemoryBarrier to_host{};
    to_host.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER;
    to_host.srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT;
    to_host.dstAccessMask = VK_ACCESS_HOST_READ_BIT;
    vkCmdPipelineBarrier(command_buffer_, VK_PIPELINE_STAGE_ALL_COMMANDS_BIT,
                         VK_PIPELINE_STAGE_HOST_BIT, 0, 1, &to_host, 0, nullptr, 0, nullptr);
    INFER_VK_TRY(vkEndCommandBuffer, command_buffer_);
    INFER_VK_TRY(vkResetFences, device_, 1, &fence_);
    VkSubmitInfo submit{};
    submit.sType = VK_STRUCTURE_TYPE_SUBMIT_INFO;
    submit.commandBufferCount = 1;
    submit.pCommandBuffers = &command_buffer_;
    INFER_TRY(this->submit(submit, fence_));
    // No timeout: a hung dispatch ends as VK_ERROR_DEVICE_LOST from the driver's watchdog.
    INFER_VK_TRY(vkWaitForFences, device_, 1, &fence_, VK_TRUE, UINT64_MAX);
    return Status::ok();
}

} // namespace infer::vulkan
