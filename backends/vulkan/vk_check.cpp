#include "vulkan/vk_check.h"

namespace infer::vulkan {

const char *result_name(VkResult result) {
    switch (result) {
#define INFER_VK_NAME(r)                                                                           \
    case r: return #r;
        INFER_VK_NAME(VK_SUCCESS)
        INFER_VK_NAME(VK_NOT_READY)
        INFER_VK_NAME(VK_TIMEOUT)
        INFER_VK_NAME(VK_EVENT_SET)
        INFER_VK_NAME(VK_EVENT_RESET)
        INFER_VK_NAME(VK_INCOMPLETE)
        INFER_VK_NAME(VK_ERROR_OUT_OF_HOST_MEMORY)
        INFER_VK_NAME(VK_ERROR_OUT_OF_DEVICE_MEMORY)
        INFER_VK_NAME(VK_ERROR_INITIALIZATION_FAILED)
        INFER_VK_NAME(VK_ERROR_DEVICE_LOST)
        INFER_VK_NAME(VK_ERROR_MEMORY_MAP_FAILED)
        INFER_VK_NAME(VK_ERROR_LAYER_NOT_PRESENT)
        INFER_VK_NAME(VK_ERROR_EXTENSION_NOT_PRESENT)
        INFER_VK_NAME(VK_ERROR_FEATURE_NOT_PRESENT)
        INFER_VK_NAME(VK_ERROR_INCOMPATIBLE_DRIVER)
        INFER_VK_NAME(VK_ERROR_TOO_MANY_OBJECTS)
        INFER_VK_NAME(VK_ERROR_FORMAT_NOT_SUPPORTED)
        INFER_VK_NAME(VK_ERROR_FRAGMENTED_POOL)
        INFER_VK_NAME(VK_ERROR_UNKNOWN)
        INFER_VK_NAME(VK_ERROR_OUT_OF_POOL_MEMORY)
        INFER_VK_NAME(VK_ERROR_INVALID_EXTERNAL_HANDLE)
        INFER_VK_NAME(VK_ERROR_FRAGMENTATION)
        INFER_VK_NAME(VK_ERROR_INVALID_OPAQUE_CAPTURE_ADDRESS)
        INFER_VK_NAME(VK_ERROR_INVALID_SHADER_NV)
#undef INFER_VK_NAME
    default: return nullptr;
    }
}

Status vk_error(const char *call, VkResult result) {
    infer_status code = INFER_ERR_INTERNAL;
    switch (result) {
    case VK_ERROR_OUT_OF_HOST_MEMORY:
    case VK_ERROR_OUT_OF_DEVICE_MEMORY:
    case VK_ERROR_OUT_OF_POOL_MEMORY:
    case VK_ERROR_FRAGMENTED_POOL:
    case VK_ERROR_FRAGMENTATION:
    case VK_ERROR_TOO_MANY_OBJECTS: code = INFER_ERR_OUT_OF_MEMORY; break;
    case VK_ERROR_INCOMPATIBLE_DRIVER:
    case VK_ERROR_INITIALIZATION_FAILED:
    case VK_ERROR_LAYER_NOT_PRESENT:
    case VK_ERROR_EXTENSION_NOT_PRESENT:
    case VK_ERROR_FEATURE_NOT_PRESENT: code = INFER_ERR_UNSUPPORTED; break;
    default: break;
    }
    const char *name = result_name(result);
    if (name) return make_error(code, "%s failed: %s", call, name);
    return make_error(code, "%s failed: VkResult(%d)", call, static_cast<int>(result));
}

} // namespace infer::vulkan
