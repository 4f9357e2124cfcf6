// The Vulkan backend's registry entry. It finds devices; it cannot run graphs yet (no
// make_backend, every node refused), so a model asking for it gets INFER_ERR_UNSUPPORTED.
#pragma once

#include "runtime/backend_registry.h"

namespace infer::vulkan {

BackendEntry backend_entry();

} // namespace infer::vulkan
