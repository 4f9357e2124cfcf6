#include "vulkan/vk_backend.h"

#include "core/types.h"
#include "vulkan/vk_device.h"
#include "vulkan/vk_runner.h"
#include "vulkan/vk_weights.h"

#include <cstdarg>
#include <cstdio>
#include <string>

namespace infer::vulkan {
namespace {

using graph::Node;
using graph::Op;

// The weight types shaders/blocks.glsl decodes (ggml ids).
bool type_readable(uint32_t type) {
    switch (static_cast<TypeId>(type)) {
    case TypeId::F32:
    case TypeId::F16:
    case TypeId::BF16:
    case TypeId::Q4_0:
    case TypeId::Q4_1:
    case TypeId::Q5_0:
    case TypeId::Q5_1:
    case TypeId::Q8_0:
    case TypeId::Q2_K:
    case TypeId::Q3_K:
    case TypeId::Q4_K:
    case TypeId::Q5_K:
    case TypeId::Q6_K:
        return true;
    default:
        return false;
    }
}

// The largest head_dim the attention shader takes (its accumulators per invocation).
constexpr int32_t kMaxHeadDim = 512;

// "MoeFfn (layer 3, output 'moe')": the node a refusal names.
std::string node_name(const Node &n, const graph::Graph &g) {
    const char *label = n.out == graph::kNoTensor ? "" : g.tensors[n.out].label;
    char text[160];
    std::snprintf(text, sizeof text, "%s (layer %d%s%s%s)", graph::op_name(n.op), n.layer,
                  *label ? ", output '" : "", label, *label ? "'" : "");
    return text;
}

Status refuse_type(const graph::WeightRef &w, const Node &n, const graph::Graph &g,
                   const char *why) {
    const TypeTraits *t = type_traits(w.type);
    return make_error(INFER_ERR_MODEL_TENSOR_TYPE, "tensor '%.*s' of %s has type %s, %s",
                      static_cast<int>(w.name.size()), w.name.data(), node_name(n, g).c_str(),
                      t ? t->name : "unknown", why);
}

__attribute__((format(printf, 3, 4))) Status refuse(const Node &n, const graph::Graph &g,
                                                    const char *format, ...) {
    char why[256];
    va_list args;
    va_start(args, format);
    std::vsnprintf(why, sizeof why, format, args);
    va_end(args);
    return make_error(INFER_ERR_UNSUPPORTED, "the Vulkan backend cannot run %s: %s",
                      node_name(n, g).c_str(), why);
}

Status supports_node(const Node &n, const graph::Graph &g) {
    auto readable = [&](const graph::WeightRef *w) {
        return !w || type_readable(w->type)
                   ? Status::ok()
                   : refuse_type(*w, n, g, "which the Vulkan backend cannot read");
    };
    switch (n.op) {
    case Op::Embed:
    case Op::MatMul:
        INFER_TRY(readable(n.w));
        if (n.w2 && n.w2->type != static_cast<uint32_t>(TypeId::F32))
            return refuse_type(*n.w2, n, g, "but biases must be F32");
        return Status::ok();
    case Op::RmsNorm:
        if (n.w && n.w->type != static_cast<uint32_t>(TypeId::F32))
            return refuse_type(*n.w, n, g, "but norm weights must be F32");
        return Status::ok();
    case Op::Attention:
        if (n.head_dim > kMaxHeadDim || n.n_head_kv < 1 || n.n_head % n.n_head_kv != 0)
            return refuse(n, g,
                          "Vulkan attention takes head_dim <= %d and n_head a multiple of "
                          "n_head_kv (got %d, %d, %d)",
                          kMaxHeadDim, n.head_dim, n.n_head, n.n_head_kv);
        return Status::ok();
    case Op::Rope:
        if (n.n_rot % 2 != 0 || n.n_rot > n.head_dim)
            return refuse(n, g, "n_rot %d with head_dim %d", n.n_rot, n.head_dim);
        return Status::ok();
    case Op::MoeRoute:
    case Op::MoeFfn:
        if (n.n_expert < 1 || n.n_expert_used < 1 || n.n_expert_used > n.n_expert)
            return refuse(n, g, "%d experts, %d per token", n.n_expert, n.n_expert_used);
        if (n.op == Op::MoeFfn && n.expert_slot && !n.experts_resident)
            return refuse(n, g, "its experts are the CPU's");
        for (const graph::WeightRef *w : {n.w, n.w2, n.w3})
            INFER_TRY(readable(w));
        return Status::ok();
    case Op::Add:
    case Op::Scale:
    case Op::KvStore:
    case Op::Glu:
    case Op::SelectLast:
    case Op::SigmoidGate:
        return Status::ok();
    }
    return refuse(n, g, "no kernel for this op");
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
    e.upload_weights = upload_weights;
    e.make_backend = make_backend;
    e.supports = supports_node;
    return e;
}

} // namespace infer::vulkan
