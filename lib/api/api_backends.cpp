// Which backends this build has and how many devices each finds (the backend registry).
#include "api/api_util.h"
#include "runtime/backend_registry.h"

#include <string>

using infer::api::fail;

namespace {

// The registry entry of `backend`, or the error the API reports for it.
infer_status entry_of(int32_t backend, const infer::BackendEntry **out) {
    if (backend != INFER_BACKEND_CPU && backend != INFER_BACKEND_CUDA &&
        backend != INFER_BACKEND_VULKAN)
        return fail(INFER_ERR_INVALID_ARGUMENT, "unknown backend %d", backend);
    *out = infer::find_backend(backend);
    if (!*out)
        return fail(INFER_ERR_UNSUPPORTED, "this libinfer was built without %s",
                    backend == INFER_BACKEND_CUDA ? "CUDA" : "Vulkan");
    return INFER_OK;
}

} // namespace

extern "C" infer_status infer_backend_device_count(int32_t backend, int32_t *out_count) {
    return infer::api::guarded(__func__, [&]() -> infer_status {
        if (!out_count) return fail(INFER_ERR_INVALID_ARGUMENT, "out_count is NULL");
        *out_count = 0;
        const infer::BackendEntry *entry = nullptr;
        if (const infer_status s = entry_of(backend, &entry); s != INFER_OK) return s;
        std::string why;
        *out_count = entry->device_count(&why);
        if (*out_count == 0) infer::api::note(why);
        return INFER_OK;
    });
}

extern "C" infer_status infer_backend_device_describe(int32_t backend, int32_t device, char *buf,
                                                      size_t capacity, size_t *out_length) {
    return infer::api::guarded(__func__, [&]() -> infer_status {
        if (capacity > 0 && !buf) return fail(INFER_ERR_INVALID_ARGUMENT, "buf is NULL");
        const infer::BackendEntry *entry = nullptr;
        if (const infer_status s = entry_of(backend, &entry); s != INFER_OK) return s;
        std::string why;
        const int32_t count = entry->device_count(&why);
        if (device < 0 || device >= count)
            return fail(INFER_ERR_INVALID_ARGUMENT, "%s device %d does not exist (%d found%s%s)",
                        entry->name, device, count, why.empty() ? "" : ": ", why.c_str());
        std::string text;
        if (entry->describe) {
            const infer::Status status = entry->describe(device, &text);
            if (!status.is_ok()) return fail(status);
        } else {
            text = std::string(entry->name) + (entry->kernel_level ? " " : "") +
                   (entry->kernel_level ? entry->kernel_level() : "");
        }
        return infer::api::copy_text(text, buf, capacity, out_length);
    });
}

extern "C" const char *infer_cpu_kernel_level(void) {
    const infer::BackendEntry &cpu = infer::cpu_backend_entry();
    return cpu.kernel_level ? cpu.kernel_level() : "scalar";
}
