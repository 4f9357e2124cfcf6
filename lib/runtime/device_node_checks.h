// What every device backend checks of a node before taking it (BackendEntry::supports): weight
// types its kernels decode, F32 biases and norm weights, attention's head_dim and GQA ratio,
// RoPE's n_rot, the expert counts. Each backend states its limits; the checks and the wording
// of a refusal, naming the node and the tensor, are shared.
#pragma once

#include "core/status.h"
#include "graph/graph.h"

#include <cstdint>

namespace infer {

struct DeviceKernelLimits {
    const char *backend = "";                       // "CUDA": named in every refusal
    bool (*type_readable)(uint32_t type) = nullptr; // weight types the kernels decode
    int32_t max_head_dim = 0;
    int32_t max_experts = 0;          // 0: any count
    int64_t max_tokens = 0;           // most tokens per run (the graph's n_batch); 0: any
    bool computes_cpu_experts = true; // false: a MoeFfn of experts left to the CPU is refused
    bool rope_yarn = false;           // its RoPE has YaRN's blend and magnitude scale
    bool attention_sinks = false;     // its attention takes a sink logit per head
    // Its MoeRoute has every RouteFn (top-k softmax, sigmoid), a selection bias, expert groups
    // and a weight scale (gpt-oss's and DeepSeek's routing).
    bool routing_general = false;
    // Its Glu and MoeFfn have the clamped SwiGLU, and its MoeFfn expert biases (gpt-oss).
    bool swiglu_oai_and_expert_biases = false;
    // Multi-head latent attention (DeepSeek): Attention with value heads unlike the keys or
    // inside them, a KvStore of keys alone, and Slice, Concat and HeadMatMul.
    bool latent_attention = false;
};

// Ok when a device backend with `limits` can run node `n` of `g`; otherwise INFER_ERR_UNSUPPORTED
// or INFER_ERR_MODEL_TENSOR_TYPE saying why, naming the op, the layer and the tensor.
Status check_device_node(const DeviceKernelLimits &limits, const graph::Node &n,
                         const graph::Graph &g);

} // namespace infer
