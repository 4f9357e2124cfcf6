#include "runtime/device_node_checks.h"

#include "core/types.h"

#include <cstdarg>
#include <cstdio>
#include <string>

namespace infer {
namespace {

using graph::Node;
using graph::Op;

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

__attribute__((format(printf, 4, 5))) Status refuse(const DeviceKernelLimits &limits, const Node &n,
                                                    const graph::Graph &g, const char *format,
                                                    ...) {
    char why[256];
    va_list args;
    va_start(args, format);
    std::vsnprintf(why, sizeof why, format, args);
    va_end(args);
    return make_error(INFER_ERR_UNSUPPORTED, "the %s backend cannot run %s: %s", limits.backend,
                      node_name(n, g).c_str(), why);
}

} // namespace

Status check_device_node(const DeviceKernelLimits &limits, const Node &n, const graph::Graph &g) {
    if (limits.max_tokens > 0 && g.max_tokens > limits.max_tokens)
        return refuse(limits, n, g, "the %s backend takes n_batch <= %lld (got %lld)",
                      limits.backend, static_cast<long long>(limits.max_tokens),
                      static_cast<long long>(g.max_tokens));
    char cannot_read[64];
    std::snprintf(cannot_read, sizeof cannot_read, "which the %s backend cannot read",
                  limits.backend);
    auto readable = [&](const graph::WeightRef *w) {
        return !w || limits.type_readable(w->type) ? Status::ok()
                                                   : refuse_type(*w, n, g, cannot_read);
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
        if (n.head_dim > limits.max_head_dim || n.head_dim_v > limits.max_head_dim ||
            n.n_head_kv < 1 || n.n_head % n.n_head_kv != 0)
            return refuse(limits, n, g,
                          "%s attention takes key and value heads of <= %d and n_head a multiple "
                          "of n_head_kv (got %d, %d, %d, %d)",
                          limits.backend, limits.max_head_dim, n.head_dim, n.head_dim_v, n.n_head,
                          n.n_head_kv);
        if (n.sinks && !limits.attention_sinks)
            return refuse(limits, n, g, "attention sinks have no %s kernel yet", limits.backend);
        if (!limits.latent_attention && (n.v_in_k || (n.head_dim_v && n.head_dim_v != n.head_dim)))
            return refuse(
                limits, n, g, "value heads unlike the keys (%d, %d%s) have no %s kernel yet",
                n.head_dim, n.head_dim_v, n.v_in_k ? ", inside the keys" : "", limits.backend);
        return Status::ok();
    case Op::Rope:
        if (n.n_rot % 2 != 0 || n.n_rot > n.head_dim)
            return refuse(limits, n, g, "n_rot %d with head_dim %d", n.n_rot, n.head_dim);
        if (!limits.rope_yarn && (n.yarn.ext_factor != 0 || n.yarn.attn_factor != 1))
            return refuse(limits, n, g, "YaRN rope scaling has no %s kernel yet", limits.backend);
        return Status::ok();
    case Op::MoeRoute:
    case Op::MoeFfn:
        if (n.n_expert < 1 || (limits.max_experts > 0 && n.n_expert > limits.max_experts) ||
            n.n_expert_used < 1 || n.n_expert_used > n.n_expert) {
            char most[64] = "";
            if (limits.max_experts > 0)
                std::snprintf(most, sizeof most, " (the %s kernels take 1..%d experts)",
                              limits.backend, limits.max_experts);
            return refuse(limits, n, g, "%d experts, %d per token%s", n.n_expert, n.n_expert_used,
                          most);
        }
        if (n.op == Op::MoeFfn && n.expert_slot && !n.experts_resident &&
            !limits.computes_cpu_experts)
            return refuse(limits, n, g, "its experts are the CPU's");
        if (n.op == Op::MoeRoute && !limits.routing_general &&
            n.route_fn != graph::RouteFn::Softmax)
            return refuse(limits, n, g, "%s routing has no device kernel yet",
                          n.route_fn == graph::RouteFn::Sigmoid ? "sigmoid" : "top-k-then-softmax");
        if (n.op == Op::MoeRoute && !limits.routing_general &&
            (n.w || n.n_group > 0 || n.route_scale != 1))
            return refuse(limits, n, g,
                          "a selection bias, expert groups and scaled weights have no device "
                          "kernel yet");
        if (n.op == Op::MoeFfn && !limits.swiglu_oai_and_expert_biases &&
            (n.expert_bias[0] || n.act == graph::Activation::SwigluOai))
            return refuse(limits, n, g,
                          "expert biases and the clamped SwiGLU have no device kernel yet");
        for (const graph::WeightRef *w : {n.w, n.w2, n.w3})
            INFER_TRY(readable(w));
        return Status::ok();
    case Op::Glu:
        if (n.act == graph::Activation::SwigluOai && !limits.swiglu_oai_and_expert_biases)
            return refuse(limits, n, g, "the clamped SwiGLU has no device kernel yet");
        return Status::ok();
    case Op::KvStore:
        if (n.v_in_k && !limits.latent_attention)
            return refuse(limits, n, g, "a cache of keys alone (MLA) has no %s kernel yet",
                          limits.backend);
        return Status::ok();
    case Op::Slice:
    case Op::Concat:
    case Op::HeadMatMul:
        if (!limits.latent_attention)
            return refuse(limits, n, g, "no %s kernel yet", limits.backend);
        if (n.op == Op::HeadMatMul) INFER_TRY(readable(n.w));
        return Status::ok();
    case Op::Add:
    case Op::Scale:
    case Op::SelectLast:
    case Op::SigmoidGate:
        return Status::ok();
    }
    return refuse(limits, n, g, "no kernel for this op");
}

} // namespace infer
