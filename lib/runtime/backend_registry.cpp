#include "runtime/backend_registry.h"

namespace infer {

const std::vector<BackendEntry> &backend_registry() { return builtin_backends(); }

const BackendEntry *find_backend(int32_t id) {
    for (const BackendEntry &e : backend_registry())
        if (e.id == id) return &e;
    return nullptr;
}

const BackendEntry &cpu_backend_entry() { return backend_registry().front(); }

} // namespace infer
