// The Vulkan backend's registry entry: devices, weight upload (vk_weights.h), the per-context
// backend (vk_runner.h), and which nodes its shaders run.
#pragma once

#include "runtime/backend_registry.h"

namespace infer::vulkan {

BackendEntry backend_entry();

} // namespace infer::vulkan
