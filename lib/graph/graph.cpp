#include "graph/graph.h"

#include <algorithm>
#include <cmath>
#include <numbers>

namespace infer::graph {

const char *op_name(Op op) {
    switch (op) {
    case Op::Embed:
        return "Embed";
    case Op::RmsNorm:
        return "RmsNorm";
    case Op::MatMul:
        return "MatMul";
    case Op::Add:
        return "Add";
    case Op::Scale:
        return "Scale";
    case Op::Rope:
        return "Rope";
    case Op::KvStore:
        return "KvStore";
    case Op::Attention:
        return "Attention";
    case Op::Glu:
        return "Glu";
    case Op::SelectLast:
        return "SelectLast";
    case Op::MoeRoute:
        return "MoeRoute";
    case Op::MoeFfn:
        return "MoeFfn";
    case Op::SigmoidGate:
        return "SigmoidGate";
    case Op::Slice:
        return "Slice";
    case Op::Concat:
        return "Concat";
    case Op::HeadMatMul:
        return "HeadMatMul";
    }
    return "unknown";
}

uint64_t Graph::max_bytes(TensorId id) const {
    const TensorDesc &t = tensors[id];
    if (t.dtype == DType::Raw) return t.raw_bytes;
    const uint64_t rows = t.per_token ? static_cast<uint64_t>(max_tokens) : 1;
    return rows * static_cast<uint64_t>(t.n) * 4; // F32 and I32 are both 4 bytes
}

TensorId Graph::storage_of(TensorId id) const {
    while (tensors[id].alias_of != kNoTensor) id = tensors[id].alias_of;
    return id;
}

uint64_t Graph::storage_offset(TensorId id) const {
    uint64_t offset = 0;
    for (; tensors[id].alias_of != kNoTensor; id = tensors[id].alias_of)
        offset += tensors[id].alias_offset;
    return offset;
}

GraphBuilder::GraphBuilder(int64_t max_tokens) {
    graph_.max_tokens = max_tokens;
    graph_.tokens = new_tensor(DType::I32, 1, true, "tokens");
    graph_.positions = new_tensor(DType::I32, 1, true, "positions");
}

TensorId GraphBuilder::new_tensor(DType dtype, int64_t n, bool per_token, const char *label) {
    TensorDesc t;
    t.dtype = dtype;
    t.n = n;
    t.per_token = per_token;
    t.label = label;
    t.layer = layer_;
    graph_.tensors.push_back(t);
    return static_cast<TensorId>(graph_.tensors.size() - 1);
}

Node &GraphBuilder::push(Op op, TensorId out) {
    Node node;
    node.op = op;
    node.out = out;
    node.layer = layer_;
    graph_.nodes.push_back(node);
    return graph_.nodes.back();
}

TensorId GraphBuilder::embed(const WeightRef &table, float scale) {
    const TensorId out = new_tensor(DType::F32, table.ne[0], true, "embed");
    Node &n = push(Op::Embed, out);
    n.in[0] = graph_.tokens;
    n.w = &table;
    n.scale = scale;
    return out;
}

TensorId GraphBuilder::rms_norm(TensorId x, const WeightRef *w, float eps, int64_t group) {
    const TensorDesc in = graph_.tensors[x]; // a copy: new_tensor() may reallocate
    const TensorId out = new_tensor(DType::F32, in.n, in.per_token, "norm");
    Node &n = push(Op::RmsNorm, out);
    n.in[0] = x;
    n.w = w;
    n.eps = eps;
    n.group = group ? group : in.n;
    return out;
}

TensorId GraphBuilder::matmul(const WeightRef &w, TensorId x, const WeightRef *bias) {
    const bool per_token = graph_.tensors[x].per_token;
    const TensorId out = new_tensor(DType::F32, w.ne[1], per_token, "matmul");
    // Q, K and V read one input, as do gate and up: one scratch for them all, so that a backend
    // can convert the input once (Node::act_shared).
    if (matmul_scratch_.size() <= static_cast<size_t>(x)) matmul_scratch_.resize(x + 1, kNoTensor);
    const bool shared = matmul_scratch_[x] != kNoTensor;
    const TensorId scratch =
        shared ? matmul_scratch_[x] : new_tensor(DType::Raw, 0, false, "matmul scratch");
    matmul_scratch_[x] = scratch;
    Node &n = push(Op::MatMul, out);
    n.in[0] = x;
    n.w = &w;
    n.w2 = bias;
    n.scratch = scratch;
    n.act_shared = shared;
    return out;
}

TensorId GraphBuilder::binary(Op op, TensorId a, TensorId b, const char *label) {
    const TensorDesc in = graph_.tensors[a]; // a copy: new_tensor() may reallocate
    const TensorId out = new_tensor(DType::F32, in.n, in.per_token, label);
    Node &n = push(op, out);
    n.in[0] = a;
    n.in[1] = b;
    return out;
}

TensorId GraphBuilder::add(TensorId a, TensorId b) { return binary(Op::Add, a, b, "add"); }

TensorId GraphBuilder::scale(TensorId x, float s) {
    const TensorDesc in = graph_.tensors[x]; // a copy: new_tensor() may reallocate
    const TensorId out = new_tensor(DType::F32, in.n, in.per_token, "scale");
    Node &n = push(Op::Scale, out);
    n.in[0] = x;
    n.scale = s;
    return out;
}

TensorId GraphBuilder::rope(TensorId x, int32_t n_head, int32_t head_dim, int32_t n_rot,
                            RopeMode mode, float freq_base, float freq_scale,
                            const float *freq_factors, const RopeYarn &yarn) {
    // In place: the unrotated tensor is never read again.
    const TensorDesc in = graph_.tensors[x]; // a copy: new_tensor() may reallocate
    const TensorId out = new_tensor(DType::F32, in.n, in.per_token, "rope");
    graph_.tensors[out].alias_of = x;
    const TensorId scratch = new_tensor(DType::Raw, 0, false, "rope scratch");
    Node &n = push(Op::Rope, out);
    n.scratch = scratch;
    n.in[0] = x;
    n.in[1] = graph_.positions;
    n.n_head = n_head;
    n.head_dim = head_dim;
    n.n_rot = n_rot;
    n.rope_mode = mode;
    n.freq_base = freq_base;
    n.freq_scale = freq_scale;
    n.freq_factors = freq_factors;
    n.yarn = yarn;
    return out;
}

TensorId GraphBuilder::rope(TensorId x, int32_t n_head, int32_t head_dim, const Rope &r) {
    return rope(x, n_head, head_dim, r.n_rot, r.mode, r.base, r.scaling.freq_scale(),
                r.freq_factors, r.yarn());
}

void GraphBuilder::kv_store(int32_t layer, TensorId k, TensorId v, int32_t n_head_kv,
                            int32_t head_dim) {
    Node &n = push(Op::KvStore, kNoTensor);
    n.layer = layer;
    n.in[0] = k;
    n.in[1] = v;
    n.in[2] = graph_.positions;
    n.n_head_kv = n_head_kv;
    n.head_dim = head_dim;
    n.v_in_k = v == kNoTensor;
    // Each KV head's values; with them in the keys (v_in_k) the attentions say how many.
    if (!n.v_in_k && n_head_kv > 0) n.head_dim_v = static_cast<int32_t>(width(v) / n_head_kv);
}

TensorId GraphBuilder::attention(int32_t layer, TensorId q, int32_t n_head, int32_t n_head_kv,
                                 int32_t head_dim, float scale, float softcap, int32_t window,
                                 const float *sinks) {
    return attention(layer, q, n_head, n_head_kv, KvDims{head_dim, head_dim, false}, scale, softcap,
                     window, sinks);
}

TensorId GraphBuilder::attention(int32_t layer, TensorId q, int32_t n_head, int32_t n_head_kv,
                                 KvDims dims, float scale, float softcap, int32_t window,
                                 const float *sinks) {
    const TensorId out = new_tensor(DType::F32, int64_t{n_head} * dims.v, true, "attention");
    const TensorId scratch = new_tensor(DType::Raw, 0, false, "attention scratch");
    Node &n = push(Op::Attention, out);
    n.layer = layer;
    n.in[0] = q;
    n.in[1] = graph_.positions;
    n.scratch = scratch;
    n.n_head = n_head;
    n.n_head_kv = n_head_kv;
    n.head_dim = dims.k;
    n.head_dim_v = dims.v;
    n.v_in_k = dims.v_in_k;
    n.scale = scale;
    n.softcap = softcap;
    n.window = window;
    n.sinks = sinks;
    return out;
}

TensorId GraphBuilder::glu(TensorId gate, TensorId up, Activation act) {
    const TensorId out = binary(Op::Glu, gate, up, "glu");
    graph_.nodes.back().act = act;
    return out;
}

TensorId GraphBuilder::select_last(TensorId x) {
    const TensorId out = new_tensor(DType::F32, graph_.tensors[x].n, false, "last");
    Node &n = push(Op::SelectLast, out);
    n.in[0] = x;
    return out;
}

TensorId GraphBuilder::slice(TensorId x, int32_t n_groups, int32_t width, int64_t stride,
                             int64_t offset) {
    const bool per_token = graph_.tensors[x].per_token;
    const bool one_row = !per_token || graph_.max_tokens == 1;
    const bool contiguous = n_groups == 1 || stride == width;
    const uint64_t byte_offset = static_cast<uint64_t>(offset) * 4;
    if (one_row && contiguous && byte_offset % kViewAlignment == 0) {
        const TensorId view =
            new_tensor(DType::F32, int64_t{n_groups} * width, per_token, "slice view");
        graph_.tensors[view].alias_of = x;
        graph_.tensors[view].alias_offset = byte_offset;
        return view;
    }
    const TensorId out = new_tensor(DType::F32, int64_t{n_groups} * width, per_token, "slice");
    Node &n = push(Op::Slice, out);
    n.in[0] = x;
    n.n_head = n_groups;
    n.head_dim = width;
    n.stride = stride;
    n.offset = offset;
    return out;
}

TensorId GraphBuilder::concat(TensorId a, TensorId b, int32_t n_groups) {
    const TensorDesc in = graph_.tensors[a]; // a copy: new_tensor() may reallocate
    const TensorId out = new_tensor(DType::F32, in.n + graph_.tensors[b].n, in.per_token, "concat");
    Node &n = push(Op::Concat, out);
    n.in[0] = a;
    n.in[1] = b;
    n.n_head = n_groups;
    return out;
}

TensorId GraphBuilder::head_matmul(const WeightRef &w, TensorId x, int64_t stride) {
    const bool per_token = graph_.tensors[x].per_token;
    const TensorId out = new_tensor(DType::F32, w.ne[1] * w.ne[2], per_token, "head matmul");
    const TensorId scratch = new_tensor(DType::Raw, 0, false, "head matmul scratch");
    Node &n = push(Op::HeadMatMul, out);
    n.in[0] = x;
    n.w = &w;
    n.scratch = scratch;
    n.n_head = static_cast<int32_t>(w.ne[2]);
    n.head_dim = static_cast<int32_t>(w.ne[0]);
    n.stride = stride;
    return out;
}

GraphBuilder::Route GraphBuilder::moe_route(TensorId logits, int32_t n_expert_used,
                                            bool norm_weights, RouteFn fn) {
    Routing r;
    r.fn = fn;
    r.norm_weights = norm_weights;
    return moe_route(logits, n_expert_used, r);
}

GraphBuilder::Route GraphBuilder::moe_route(TensorId logits, int32_t n_expert_used,
                                            const Routing &routing) {
    const auto n_expert = static_cast<int32_t>(graph_.tensors[logits].n);
    Route r;
    r.ids = new_tensor(DType::I32, n_expert_used, true, "expert ids");
    r.weights = new_tensor(DType::F32, n_expert_used, true, "expert weights");
    Node &n = push(Op::MoeRoute, r.ids);
    n.out2 = r.weights;
    n.in[0] = logits;
    n.n_expert = n_expert;
    n.n_expert_used = n_expert_used;
    n.norm_weights = routing.norm_weights;
    n.route_fn = routing.fn;
    n.route_scale = routing.scale;
    n.w = routing.bias;
    n.n_group = routing.n_group;
    n.n_group_used = routing.n_group_used;
    return r;
}

TensorId GraphBuilder::moe_ffn(TensorId x, const Route &route, const WeightRef &gate_exps,
                               const WeightRef &up_exps, const WeightRef &down_exps, Activation act,
                               const WeightRef *const *biases) {
    const TensorId out = new_tensor(DType::F32, down_exps.ne[1], true, "moe");
    const TensorId scratch = new_tensor(DType::Raw, 0, false, "moe scratch");
    Node &n = push(Op::MoeFfn, out);
    n.in[0] = x;
    n.in[1] = route.ids;
    n.in[2] = route.weights;
    n.scratch = scratch;
    n.w = &gate_exps;
    n.w2 = &up_exps;
    n.w3 = &down_exps;
    n.act = act;
    if (biases)
        for (int i = 0; i < 3; ++i)
            n.expert_bias[i] = biases[i];
    n.n_expert = static_cast<int32_t>(gate_exps.ne[2]);
    n.n_expert_used = static_cast<int32_t>(graph_.tensors[route.ids].n);
    return out;
}

TensorId GraphBuilder::sigmoid_gate(TensorId x, TensorId gate) {
    return binary(Op::SigmoidGate, x, gate, "sigmoid gate");
}

Graph GraphBuilder::finish(TensorId logits) {
    graph_.logits = logits;
    compute_lifetimes(graph_);
    return std::move(graph_);
}

RopeYarn rope_yarn(int32_t n_rot, int64_t n_ctx_orig, float freq_base, float attn_factor,
                   float beta_fast, float beta_slow) {
    // ggml_rope_yarn_corr_dim in its float operations: the dimension where n_ctx_orig positions
    // turn n_turns times.
    auto corr_dim = [&](float n_turns) {
        return float(n_rot) *
               std::log(float(n_ctx_orig) / (n_turns * 2 * std::numbers::pi_v<float>)) /
               (2 * std::log(freq_base));
    };
    RopeYarn y;
    y.ext_factor = 1.0f;
    y.attn_factor = attn_factor;
    y.corr_dims[0] = std::max(0.0f, std::floor(corr_dim(beta_fast)));
    y.corr_dims[1] = std::min(float(n_rot - 1), std::ceil(corr_dim(beta_slow)));
    return y;
}

RopeYarn Rope::yarn() const {
    if (scaling.kind == RopeScalingKind::Yarn)
        return rope_yarn(n_rot, scaling.orig_ctx, base, scaling.attn_factor, scaling.beta_fast,
                         scaling.beta_slow);
    RopeYarn plain;
    plain.attn_factor = scaling.attn_factor;
    return plain;
}

void compute_lifetimes(Graph &g) {
    for (TensorDesc &t : g.tensors) t.first_use = t.last_use = -1;
    auto touch = [&](TensorId id, int32_t step) {
        if (id == kNoTensor) return;
        TensorDesc &t = g.tensors[g.storage_of(id)];
        if (t.first_use < 0) t.first_use = step;
        t.first_use = std::min(t.first_use, step);
        t.last_use = std::max(t.last_use, step);
    };
    // Inputs are written before node 0 runs; the output is read after the last node.
    const auto n_nodes = static_cast<int32_t>(g.nodes.size());
    touch(g.tokens, 0);
    touch(g.positions, 0);
    for (int32_t step = 0; step < n_nodes; ++step) {
        const Node &node = g.nodes[step];
        touch(node.out, step);
        touch(node.out2, step);
        touch(node.scratch, step);
        for (TensorId in : node.in) touch(in, step);
    }
    touch(g.logits, n_nodes);
}

void clear_scratch_sizes(Graph &g) {
    for (const Node &n : g.nodes)
        if (n.scratch != kNoTensor) g.tensors[n.scratch].raw_bytes = 0;
}

void grow_scratch(Graph &g, const Node &n, uint64_t bytes) {
    uint64_t &size = g.tensors[n.scratch].raw_bytes;
    size = std::max(size, bytes);
}

uint64_t expert_counter_slots(const Graph &g) {
    uint64_t slots = 0;
    for (const Node &n : g.nodes)
        if (n.op == Op::MoeFfn && n.layer >= 0)
            slots = std::max(slots, static_cast<uint64_t>(n.layer + 1) *
                                        static_cast<uint64_t>(n.n_expert));
    return slots;
}

} // namespace infer::graph
