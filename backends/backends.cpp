// The one place that names every backend: the registry's entries of this build, CPU first.
// Adding a backend is a directory in backends/ with an entry function, and a line here.
#include "runtime/backend_registry.h"

#include "cpu/cpu_backend.h"
#if INFER_HAVE_CUDA
#include "cuda/cuda_backend.h"
#endif
#if INFER_HAVE_VULKAN
#include "vulkan/vk_backend.h"
#endif

#include <vector>

namespace infer {

const std::vector<BackendEntry> &builtin_backends() {
    static const std::vector<BackendEntry> entries = [] {
        std::vector<BackendEntry> list{cpu_backend_entry_of_build()};
#if INFER_HAVE_CUDA
        list.push_back(cuda::backend_entry());
#endif
#if INFER_HAVE_VULKAN
        list.push_back(vulkan::backend_entry());
#endif
        return list;
    }();
    return entries;
}

} // namespace infer
