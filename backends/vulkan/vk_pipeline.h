// Compute pipelines made from the embedded SPIR-V (vk_ops.h makes the backend's). Every shader
// of this backend has its storage buffers at bindings 0..n-1 of set 0, one push-constant block,
// and workgroups along x only (shaders that need more loop over their work, so a dispatch never
// exceeds the device's workgroup-count limit).
#pragma once

#include "core/status.h"

#include <vulkan/vulkan.h>

#include <cstdint>

namespace infer::vulkan {

struct SpirvShader;

// The compute pipeline of embedded shader `spirv` ("main") under `layout`, with its
// specialization constants set by `spec` (null: their defaults).
Status create_compute_pipeline(VkDevice device, const SpirvShader &spirv, VkPipelineLayout layout,
                               VkPipeline *out, const VkSpecializationInfo *spec = nullptr);

} // namespace infer::vulkan
