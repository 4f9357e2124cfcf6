// Vulkan results as Status values: every Vk call in the backend goes through INFER_VK_TRY, so an
// error names the failing call and its VkResult.
#pragma once

#include "core/status.h"

#include <vulkan/vulkan.h>

namespace infer::vulkan {

// "VK_ERROR_OUT_OF_DEVICE_MEMORY" etc.; nullptr for codes this file does not name.
const char *result_name(VkResult result);

// An error Status for `call` having returned `result`: out-of-memory results map to
// INFER_ERR_OUT_OF_MEMORY, missing drivers/features to INFER_ERR_UNSUPPORTED, the rest to
// INFER_ERR_INTERNAL.
Status vk_error(const char *call, VkResult result);

} // namespace infer::vulkan

// Calls fn(args...) and returns its error from the enclosing Status function unless VK_SUCCESS.
// Non-error success codes (VK_INCOMPLETE, VK_TIMEOUT, ...) are errors here too: callers that
// expect them call the function directly.
#define INFER_VK_TRY(fn, ...)                                                                      \
    do {                                                                                           \
        const VkResult infer_vk_result_ = fn(__VA_ARGS__);                                         \
        if (infer_vk_result_ != VK_SUCCESS)                                                        \
            return ::infer::vulkan::vk_error(#fn, infer_vk_result_);                               \
    } while (0)
