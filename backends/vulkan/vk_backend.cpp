#include "vulkan/vk_backend.h"

#include "core/types.h"
#include "runtime/device_node_checks.h"
#include "vulkan/vk_device.h"
#include "vulkan/vk_ops.h"
#include "vulkan/vk_runner.h"
#include "vulkan/vk_weights.h"

#include <string>

namespace infer::vulkan {
namespace {

using graph::Node;
using graph::Op;

// What the shaders take (runtime/device_node_checks.h). A MoeFfn of experts left to the CPU is
// the CPU's: this backend has no prefill streaming.
const DeviceKernelLimits kLimits{.backend = "Vulkan",
                                 .type_readable = shader_reads,
                                 .max_head_dim = kAttentionWideHeadDim,
                                 .computes_cpu_experts = false,
                                 .rope_yarn = true,
                                 .attention_sinks = true,
                                 .routing_general = true,
                                 .swiglu_oai_and_expert_biases = true,
                                 .latent_attention = true};

Status supports_node(const Node &n, const graph::Graph &g) {
    return check_device_node(kLimits, n, g);
}

Status make_backend(const BackendConfig &config, std::unique_ptr<Backend> *out) {
    if (!config.weights)
        return make_error(INFER_ERR_INTERNAL, "a Vulkan backend needs the model's device weights");
    *out = std::make_unique<VulkanBackend>(static_cast<const VulkanWeights &>(*config.weights));
    return Status::ok();
}

} // namespace

BackendEntry backend_entry() {
    BackendEntry e;
    e.id = INFER_BACKEND_VULKAN;
    e.name = "Vulkan";
    e.is_device = true;
    e.device_count = device_count;
    e.memory_info = memory_info;
    e.describe = device_description;
    e.upload_weights = upload_weights;
    e.make_backend = make_backend;
    e.supports = supports_node;
    return e;
}

} // namespace infer::vulkan
