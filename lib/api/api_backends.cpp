// Which backends this build has and how many devices each finds.
#include "api/api_util.h"

#include <string>

#if INFER_HAVE_CUDA
#include "cuda/cuda_devices.h"
#endif
#if INFER_HAVE_VULKAN
#include "vulkan/vk_device.h"
#endif

using infer::api::fail;

extern "C" infer_status infer_backend_device_count(int32_t backend, int32_t *out_count) {
    return infer::api::guarded(__func__, [&]() -> infer_status {
        if (!out_count) return fail(INFER_ERR_INVALID_ARGUMENT, "out_count is NULL");
        *out_count = 0;
        std::string why;
        switch (backend) {
        case INFER_BACKEND_CPU:
            *out_count = 1;
            return INFER_OK;
        case INFER_BACKEND_CUDA:
#if INFER_HAVE_CUDA
            *out_count = infer::cuda::device_count(&why);
            if (*out_count == 0) infer::api::note(why);
            return INFER_OK;
#else
            return fail(INFER_ERR_UNSUPPORTED, "this libinfer was built without CUDA");
#endif
        case INFER_BACKEND_VULKAN:
#if INFER_HAVE_VULKAN
            *out_count = infer::vulkan::device_count(&why);
            if (*out_count == 0) infer::api::note(why);
            return INFER_OK;
#else
            return fail(INFER_ERR_UNSUPPORTED, "this libinfer was built without Vulkan");
#endif
        default:
            return fail(INFER_ERR_INVALID_ARGUMENT, "unknown backend %d", backend);
        }
    });
}
