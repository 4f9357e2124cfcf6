#include "node_runner.h"

#include "graph/planner.h"

#include <algorithm>

namespace infer::conformance {
namespace {

// The host bytes a device backend must hold for a case's node: its weights (expert biases
// included), RoPE factors and attention sinks.
void add_spans(const OpCase &c, std::vector<WeightSpan> *spans) {
    const graph::Node &n = c.node();
    for (const graph::WeightRef *w :
         {n.w, n.w2, n.w3, n.expert_bias[0], n.expert_bias[1], n.expert_bias[2]})
        if (w) spans->push_back({w->data, w->n_bytes});
    if (n.freq_factors) spans->push_back({n.freq_factors, c.freq_factors.size() * sizeof(float)});
    if (n.op == graph::Op::Attention && n.sinks)
        spans->push_back({n.sinks, static_cast<uint64_t>(n.n_head) * sizeof(float)});
}

// Context memory, given back to the backend that allocated it.
struct ContextMemory {
    Backend &backend;
    uint8_t *data = nullptr;
    ~ContextMemory() {
        if (data) backend.release(MemoryKind::Context, data);
    }
};

uint64_t align_up(uint64_t n, uint64_t alignment) {
    return (n + alignment - 1) / alignment * alignment;
}

} // namespace

Status NodeRunner::start(const BackendEntry &entry, CpuKernels kernels, const Cases &cases) {
    if (!entry.make_backend)
        return make_error(INFER_ERR_UNSUPPORTED, "%s makes no backend", entry.name);
    BackendConfig config;
    config.kernels = kernels;
    config.n_threads = kernels == CpuKernels::Reference ? 1 : kFastThreads;
    if (entry.upload_weights) {
        std::vector<WeightSpan> spans;
        for (const std::unique_ptr<OpCase> &c : cases)
            add_spans(*c, &spans);
        INFER_TRY(entry.upload_weights(spans, 0, 0, {}, {}, &weights_));
        config.weights = weights_.get();
    }
    INFER_TRY(entry.make_backend(config, &backend_));
    // Before any copy: a device backend orders its copies on the stream start() makes.
    return backend_->start();
}

Status NodeRunner::run(const OpCase &c, Outputs *out) {
    graph::Graph &g = graphs_.emplace_back(c.graph);
    backend_->size_scratch(g, c.kv);
    std::vector<BufferRequest> requests(g.tensors.size());
    for (size_t i = 0; i < g.tensors.size(); ++i) {
        const graph::TensorDesc &t = g.tensors[i];
        if (t.alias_of != graph::kNoTensor || t.first_use < 0) continue; // no storage of its own
        requests[i].size = g.max_bytes(static_cast<graph::TensorId>(i));
        requests[i].first_use = static_cast<uint32_t>(t.first_use);
        requests[i].last_use = static_cast<uint32_t>(t.last_use);
    }
    const uint64_t alignment = std::max<uint64_t>(64, backend_->alignment());
    Plan plan;
    INFER_TRY(plan_memory(requests, alignment, &plan));
    const uint64_t kv_bytes = align_up(c.kv.total_bytes(), alignment);
    const uint64_t total = kv_bytes + plan.arena_size;
    ContextMemory memory{*backend_};
    INFER_TRY(backend_->allocate(MemoryKind::Context, total, &memory.data));
    const std::vector<uint8_t> poison(total, 0xff);
    INFER_TRY(backend_->copy_in(memory.data, poison.data(), total));

    KvCache kv;
    kv.layout = c.kv;
    uint8_t *layer = memory.data;
    for (int64_t l = 0; l < c.kv.n_layer(); ++l) { // K, then V (K again when the values live in K)
        kv.planes.push_back(layer);
        kv.planes.push_back(c.kv.layer(l).v_in_k ? layer : layer + c.kv.plane_bytes(l));
        layer += c.kv.layer_bytes(l);
    }
    INFER_TRY(backend_->copy_in(memory.data, c.kv_init.data(), c.kv_init.size()));

    BoundGraph &bound = bound_.emplace_back();
    bound.graph = &g;
    bound.tensor_data.assign(g.tensors.size(), nullptr);
    for (size_t i = 0; i < g.tensors.size(); ++i) {
        const graph::TensorId root = g.storage_of(static_cast<graph::TensorId>(i));
        if (g.tensors[root].first_use >= 0)
            bound.tensor_data[i] = memory.data + kv_bytes + plan.offsets[root] +
                                   g.storage_offset(static_cast<graph::TensorId>(i));
    }
    const graph::Node &node = g.nodes.back();
    std::vector<uint64_t> counts(node.op == graph::Op::MoeFfn ? node.n_expert : 0, 0);
    if (!counts.empty()) bound.expert_counts = counts.data();
    for (const Input &in : c.inputs)
        INFER_TRY(backend_->copy_in(bound.tensor_data[in.id], in.bytes.data(), in.bytes.size()));

    const auto last = static_cast<int32_t>(g.nodes.size() - 1);
    INFER_TRY(backend_->run(bound, {last, last + 1}, c.n_tokens, kv, StopSignal{}));

    out->tensors.clear();
    for (graph::TensorId id : {node.out, node.out2}) {
        if (id == graph::kNoTensor) continue;
        const graph::TensorDesc &t = g.tensors[id];
        const int64_t rows = t.per_token ? c.n_tokens : 1;
        std::vector<uint8_t> &bytes =
            out->tensors.emplace_back(static_cast<size_t>(rows * t.n * 4));
        INFER_TRY(backend_->copy_out(bytes.data(), bound.tensor_data[id], bytes.size()));
    }
    out->kv.resize(c.kv.total_bytes());
    INFER_TRY(backend_->copy_out(out->kv.data(), memory.data, out->kv.size()));
    out->expert_counts = counts;
    bound.expert_counts = nullptr; // the counters go with this call
    return Status::ok();
}

} // namespace infer::conformance
