// Which backends this build has and how many devices each finds (the backend registry).
#include "api/api_util.h"
#include "runtime/backend_registry.h"

#include <string>

using infer::api::fail;

extern "C" infer_status infer_backend_device_count(int32_t backend, int32_t *out_count) {
    return infer::api::guarded(__func__, [&]() -> infer_status {
        if (!out_count) return fail(INFER_ERR_INVALID_ARGUMENT, "out_count is NULL");
        *out_count = 0;
        if (backend != INFER_BACKEND_CPU && backend != INFER_BACKEND_CUDA &&
            backend != INFER_BACKEND_VULKAN)
            return fail(INFER_ERR_INVALID_ARGUMENT, "unknown backend %d", backend);
        const infer::BackendEntry *entry = infer::find_backend(backend);
        if (!entry)
            return fail(INFER_ERR_UNSUPPORTED, "this libinfer was built without %s",
                        backend == INFER_BACKEND_CUDA ? "CUDA" : "Vulkan");
        std::string why;
        *out_count = entry->device_count(&why);
        if (*out_count == 0) infer::api::note(why);
        return INFER_OK;
    });
}

extern "C" const char *infer_cpu_kernel_level(void) {
    const infer::BackendEntry &cpu = infer::cpu_backend_entry();
    return cpu.kernel_level ? cpu.kernel_level() : "scalar";
}
