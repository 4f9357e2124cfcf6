#include "vulkan/vk_backend.h"

#include "vulkan/vk_device.h"

namespace infer::vulkan {
namespace {

Status no_graph_kernels(const graph::Node &node, const graph::Graph &) {
    return make_error(INFER_ERR_UNSUPPORTED, "%s (layer %d): the Vulkan backend runs no graph ops yet",
                      graph::op_name(node.op), node.layer);
}

} // namespace

BackendEntry backend_entry() {
    BackendEntry e;
    e.id = INFER_BACKEND_VULKAN;
    e.name = "Vulkan";
    e.is_device = true;
    e.device_count = device_count;
    e.supports = no_graph_kernels;
    return e;
}

} // namespace infer::vulkan
