// The CPU backend: runs a whole graph inside one ThreadPool::run, every thread walking the nodes
// in order with a barrier after each, each node split statically across the threads (prefill
// matmuls claim chunks of rows as they go: cpu_matmul.cpp). One-token runs leave out the
// barriers between nodes that share no written byte (cpu_decode_groups.h). Nothing is allocated
// while running: tensors and kernel scratch live in the planned arena.
#include "cpu/cpu_backend.h"

#include "cpu/cpu_decode_groups.h"
#include "cpu/cpu_head_matmul.h"
#include "cpu/cpu_matmul.h"
#include "cpu/cpu_moe.h"
#include "cpu/cpu_ops.h"
#include "cpu/cpu_repack.h"
#include "cpu/cpu_vec_dot.h"
#include "cpu/moe_node_log.h"
#include "cpu/node_profile.h"
#include "cpu/thread_pool.h"

#include "core/dequant.h"
#include "core/types.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <memory>

namespace infer {
namespace {

using graph::Node;
using graph::Op;

constexpr uint64_t kAlignment = 64;

uint64_t align64(uint64_t n) { return (n + kAlignment - 1) & ~(kAlignment - 1); }

// The cache of the layer a KvStore or Attention node names.
cpu::KvLayout kv_layout(const KvCacheLayout &kv, int32_t layer) {
    const KvLayerLayout &l = kv.layer(layer);
    return {static_cast<int>(l.n_head_kv),   static_cast<int>(l.head_dim),
            static_cast<int>(kv.n_ctx),      kv.type == 0 ? cpu::KvType::f32 : cpu::KvType::f16,
            static_cast<int>(l.value_dim()), l.v_in_k};
}

cpu::RopeParams rope_params(const Node &n) {
    return {n.n_head,
            n.head_dim,
            n.n_rot,
            n.freq_base,
            n.freq_scale,
            n.freq_factors,
            n.rope_mode == graph::RopeMode::Neox ? cpu::RopeMode::neox : cpu::RopeMode::normal,
            n.yarn.ext_factor,
            n.yarn.attn_factor,
            {n.yarn.corr_dims[0], n.yarn.corr_dims[1]}};
}

cpu::AttnParams attn_params(const Node &n) {
    return {n.n_head, n.scale, n.softcap, n.window, n.sinks};
}

cpu::GluAct glu_act(graph::Activation act) {
    switch (act) {
    case graph::Activation::GeluTanh:
        return cpu::GluAct::gelu_tanh;
    case graph::Activation::SwigluOai:
        return cpu::GluAct::swiglu_oai;
    case graph::Activation::Silu:
        break;
    }
    return cpu::GluAct::silu;
}

cpu::RouteFn route_fn(graph::RouteFn fn) {
    switch (fn) {
    case graph::RouteFn::SoftmaxTopK:
        return cpu::RouteFn::softmax_topk;
    case graph::RouteFn::Sigmoid:
        return cpu::RouteFn::sigmoid;
    case graph::RouteFn::Softmax:
        break;
    }
    return cpu::RouteFn::softmax;
}

cpu::RouteOptions route_options(const Node &n) {
    return {n.w ? static_cast<const float *>(n.w->data) : nullptr, n.n_group, n.n_group_used,
            n.route_scale};
}

const float *bias_data(const graph::WeightRef *w) {
    return w ? static_cast<const float *>(w->data) : nullptr;
}

// The CPU's view of a weight matrix: its repacked copy when the model made one.
cpu::WeightView weight_view(const graph::WeightRef &w) {
    const auto layout = static_cast<cpu::WeightLayout>(w.cpu_layout);
    return {w.type, w.ne[0], w.ne[1], w.cpu_data ? w.cpu_data : w.data, w.row_bytes,
            w.cpu_data ? layout : cpu::WeightLayout::Rows};
}

cpu::ExpertWeights expert_weights(const graph::WeightRef &w) {
    const cpu::WeightView v = weight_view(w);
    const uint64_t stride = v.layout == cpu::WeightLayout::Rows
                                ? w.row_bytes * static_cast<uint64_t>(w.ne[1])
                                : cpu::layout_matrix_bytes(w.type, v.layout, w.ne[0], w.ne[1]);
    return {w.type, w.ne[0], w.ne[1], w.ne[2], v.data, v.row_bytes, stride, v.layout};
}

// streamed: the run's prefill streaming (a CPU subset leaves those experts out), or null.
cpu::MoeFfn moe_ffn_of(const Node &n, const StreamedExperts *streamed_experts = nullptr) {
    const uint8_t *streamed = streamed_experts && n.expert_slot && !n.experts_resident
                                  ? streamed_experts->layer(n.layer)
                                  : nullptr;
    return {expert_weights(*n.w),        expert_weights(*n.w2),
            expert_weights(*n.w3),       glu_act(n.act),
            bias_data(n.expert_bias[0]), bias_data(n.expert_bias[1]),
            bias_data(n.expert_bias[2]), n.expert_slot,
            n.experts_resident,          streamed};
}

const char *type_name(uint32_t type) {
    const TypeTraits *t = type_traits(type);
    return t ? t->name : "unknown";
}

// Everything one run needs, shared by the pool's threads.
struct RunState {
    const BoundGraph *bound;
    NodeRange nodes;
    int64_t n_tokens;
    KvCache *kv;
    const StopSignal *stop;
    cpu::ThreadPool *pool;
    bool reference; // run the scalar *_ref kernels (one thread)
    cpu::MoeNodeLog *node_log; // null unless INFER_DEBUG_MOE_NODES is set
    cpu::NodeProfile *profile; // null unless INFER_PROFILE is set
    // Per node: 1 when it starts without a barrier after the node before it (one-token runs of
    // a prepared graph: cpu_decode_groups.h), or null: a barrier after every node.
    const uint8_t *joins;
    // Index of the node after which the run stops (kNoStop: none). Thread 0 writes it once, after
    // finishing that node and before the barrier that ends it; see run_graph_on_thread.
    static constexpr size_t kNoStop = SIZE_MAX;
    std::atomic<size_t> stop_after{kNoStop};
};

// A tensor's data; null for an absent input (KvStore's values when they live in the keys).
float *f32(const RunState &s, graph::TensorId id) {
    return id == graph::kNoTensor ? nullptr : reinterpret_cast<float *>(s.bound->tensor_data[id]);
}
const int32_t *i32(const RunState &s, graph::TensorId id) {
    return reinterpret_cast<const int32_t *>(s.bound->tensor_data[id]);
}
int32_t *i32_out(const RunState &s, graph::TensorId id) {
    return reinterpret_cast<int32_t *>(s.bound->tensor_data[id]);
}
int64_t rows_of(const RunState &s, graph::TensorId id) {
    return s.bound->graph->tensors[id].per_token ? s.n_tokens : 1;
}
// This thread's slice of a node's per-thread scratch.
void *thread_scratch(const RunState &s, const Node &n, int ith, int nth) {
    const uint64_t per_thread = s.bound->graph->tensors[n.scratch].raw_bytes / nth;
    return s.bound->tensor_data[n.scratch] + per_thread * ith;
}

// Row `token` of w dequantized into out; a repacked table (tied embeddings: the output matrix
// too) block by block.
void embed_row(const cpu::WeightView &w, int64_t token, float *out) {
    if (w.layout == cpu::WeightLayout::Rows) {
        const auto *row = static_cast<const uint8_t *>(w.data) + token * w.row_bytes;
        dequantize_row_ref(w.type, row, out, w.k);
        return;
    }
    const TypeTraits *t = type_traits(w.type);
    alignas(16) uint8_t block[512]; // any format's block
    for (int64_t ib = 0; ib < w.k / t->block_elems; ++ib) {
        cpu::unpack_block(w, token, ib, block);
        dequantize_row_ref(w.type, block, out + ib * t->block_elems, t->block_elems);
    }
}

void run_embed(const RunState &s, const Node &n, int ith, int nth) {
    const int64_t width = n.w->ne[0];
    const cpu::WeightView w = weight_view(*n.w);
    const int32_t *tokens = i32(s, n.in[0]);
    float *out = f32(s, n.out);
    const cpu::Range r = cpu::split_range(s.n_tokens, ith, nth);
    for (int64_t t = r.begin; t < r.end; ++t) {
        embed_row(w, tokens[t], out + t * width);
        if (n.scale != 1.0f)
            for (int64_t i = 0; i < width; ++i) out[t * width + i] *= n.scale;
    }
}

void run_matmul(const RunState &s, const Node &n, int ith, int nth) {
    const cpu::WeightView w = weight_view(*n.w);
    const int64_t rows = rows_of(s, n.in[0]);
    float *y = f32(s, n.out);
    cpu::matmul(w, f32(s, n.in[0]), rows, y, s.bound->tensor_data[n.scratch], ith, nth, *s.pool,
                cpu::cpu_isa_dispatch(), cpu::act_in_scratch(*s.bound->graph, n, s.nodes.begin));
    if (n.w2) {
        s.pool->barrier(ith); // the bias touches columns other threads computed
        const auto *bias = static_cast<const float *>(n.w2->data);
        const cpu::Range r = cpu::split_range(rows, ith, nth);
        for (int64_t t = r.begin; t < r.end; ++t)
            cpu::add(y + t * w.n, y + t * w.n, bias, w.n, 0, 1);
    }
}

// This MoeFfn node's layer's selection counters, or null when the run does not count.
uint64_t *expert_counts(const RunState &s, const Node &n) {
    if (!s.bound->expert_counts || n.layer < 0) return nullptr;
    return s.bound->expert_counts + static_cast<int64_t>(n.layer) * n.n_expert;
}

void run_node(const RunState &s, const Node &n, int ith, int nth);

// The readable scalar kernels, on one thread (n_threads is 1 in reference mode).
void run_node_reference(const RunState &s, const Node &n) {
    const graph::Graph &g = *s.bound->graph;
    const int64_t n_elems = n.out == graph::kNoTensor ? 0 : rows_of(s, n.out) * g.tensors[n.out].n;
    switch (n.op) {
    case Op::Embed:
        run_embed(s, n, 0, 1); // dequantize_row_ref already
        break;
    case Op::RmsNorm:
        cpu::rms_norm_ref(f32(s, n.out), f32(s, n.in[0]),
                          n.w ? static_cast<const float *>(n.w->data) : nullptr, n_elems / n.group,
                          static_cast<int>(n.group), n.eps);
        break;
    case Op::MatMul: {
        const cpu::WeightView w = weight_view(*n.w);
        const int64_t rows = rows_of(s, n.in[0]);
        float *y = f32(s, n.out);
        cpu::matmul_ref(w, f32(s, n.in[0]), rows, y);
        if (n.w2)
            for (int64_t t = 0; t < rows; ++t)
                cpu::add_ref(y + t * w.n, y + t * w.n, static_cast<const float *>(n.w2->data), w.n);
        break;
    }
    case Op::Add:
        cpu::add_ref(f32(s, n.out), f32(s, n.in[0]), f32(s, n.in[1]), n_elems);
        break;
    case Op::Scale:
        cpu::scale_ref(f32(s, n.out), f32(s, n.in[0]), n.scale, n_elems);
        break;
    case Op::Rope:
        cpu::rope_ref(f32(s, n.out), i32(s, n.in[1]), static_cast<int>(s.n_tokens), rope_params(n));
        break;
    case Op::KvStore:
        cpu::kv_store_ref(s.kv->k(n.layer), s.kv->v(n.layer), f32(s, n.in[0]), f32(s, n.in[1]),
                          i32(s, n.in[2]), static_cast<int>(s.n_tokens),
                          kv_layout(s.kv->layout, n.layer));
        break;
    case Op::Attention:
        cpu::attention_ref(f32(s, n.out), f32(s, n.in[0]), s.kv->k(n.layer), s.kv->v(n.layer),
                           i32(s, n.in[1]), static_cast<int>(s.n_tokens),
                           kv_layout(s.kv->layout, n.layer), attn_params(n));
        break;
    case Op::Glu:
        cpu::glu_ref(f32(s, n.out), f32(s, n.in[0]), f32(s, n.in[1]), n_elems, glu_act(n.act));
        break;
    case Op::SelectLast:
        run_node(s, n, 0, 1);
        break;
    case Op::MoeRoute:
        cpu::moe_route_ref(f32(s, n.in[0]), rows_of(s, n.in[0]), n.n_expert, n.n_expert_used,
                           n.norm_weights, i32_out(s, n.out), f32(s, n.out2), route_fn(n.route_fn),
                           route_options(n));
        break;
    case Op::MoeFfn: {
        const int64_t rows = rows_of(s, n.in[0]);
        const int32_t *ids = i32(s, n.in[1]);
        const cpu::MoeFfn f = moe_ffn_of(n, s.bound->streamed);
        cpu::moe_ffn_ref(f, f32(s, n.in[0]), ids, f32(s, n.in[2]), rows, n.n_expert_used,
                         f32(s, n.out));
        if (uint64_t *counts = expert_counts(s, n))
            cpu::moe_count_selected(f, ids, rows * n.n_expert_used, counts);
        break;
    }
    case Op::SigmoidGate:
        cpu::sigmoid_gate_ref(f32(s, n.out), f32(s, n.in[0]), f32(s, n.in[1]), rows_of(s, n.out),
                              static_cast<int>(g.tensors[n.out].n));
        break;
    case Op::Slice:
    case Op::Concat: // copies: one loop serves both paths
        run_node(s, n, 0, 1);
        break;
    case Op::HeadMatMul:
        cpu::head_matmul_ref(expert_weights(*n.w), f32(s, n.in[0]), g.tensors[n.in[0]].n, n.stride,
                             rows_of(s, n.in[0]), f32(s, n.out));
        break;
    }
}

void run_node(const RunState &s, const Node &n, int ith, int nth) {
    const graph::Graph &g = *s.bound->graph;
    switch (n.op) {
    case Op::Embed:
        run_embed(s, n, ith, nth);
        break;
    case Op::RmsNorm: {
        const int64_t n_elems = rows_of(s, n.out) * g.tensors[n.out].n;
        cpu::rms_norm(f32(s, n.out), f32(s, n.in[0]),
                      n.w ? static_cast<const float *>(n.w->data) : nullptr, n_elems / n.group,
                      static_cast<int>(n.group), n.eps, ith, nth);
        break;
    }
    case Op::MatMul:
        run_matmul(s, n, ith, nth);
        break;
    case Op::Add:
        cpu::add(f32(s, n.out), f32(s, n.in[0]), f32(s, n.in[1]),
                 rows_of(s, n.out) * g.tensors[n.out].n, ith, nth);
        break;
    case Op::Scale:
        cpu::scale(f32(s, n.out), f32(s, n.in[0]), n.scale,
                   rows_of(s, n.out) * g.tensors[n.out].n, ith, nth);
        break;
    case Op::Rope:
        cpu::rope(f32(s, n.out), i32(s, n.in[1]), static_cast<int>(s.n_tokens), rope_params(n),
                  thread_scratch(s, n, ith, nth), ith, nth);
        break;
    case Op::KvStore:
        cpu::kv_store(s.kv->k(n.layer), s.kv->v(n.layer), f32(s, n.in[0]), f32(s, n.in[1]),
                      i32(s, n.in[2]), static_cast<int>(s.n_tokens),
                      kv_layout(s.kv->layout, n.layer), ith, nth);
        break;
    case Op::Attention: {
        const cpu::AttnParams p = attn_params(n);
        cpu::attention(f32(s, n.out), f32(s, n.in[0]), s.kv->k(n.layer), s.kv->v(n.layer),
                       i32(s, n.in[1]), static_cast<int>(s.n_tokens),
                       kv_layout(s.kv->layout, n.layer), p, thread_scratch(s, n, ith, nth), ith,
                       nth);
        break;
    }
    case Op::Glu:
        cpu::glu(f32(s, n.out), f32(s, n.in[0]), f32(s, n.in[1]),
                 rows_of(s, n.out) * g.tensors[n.out].n, glu_act(n.act), ith, nth);
        break;
    case Op::MoeRoute:
        cpu::moe_route(f32(s, n.in[0]), rows_of(s, n.in[0]), n.n_expert, n.n_expert_used,
                       n.norm_weights, i32_out(s, n.out), f32(s, n.out2), ith, nth,
                       route_fn(n.route_fn), route_options(n));
        break;
    case Op::MoeFfn:
        cpu::moe_ffn(moe_ffn_of(n, s.bound->streamed), f32(s, n.in[0]), i32(s, n.in[1]), f32(s, n.in[2]),
                     rows_of(s, n.in[0]), n.n_expert_used, f32(s, n.out),
                     s.bound->tensor_data[n.scratch], expert_counts(s, n), ith, nth, *s.pool);
        break;
    case Op::SigmoidGate:
        cpu::sigmoid_gate(f32(s, n.out), f32(s, n.in[0]), f32(s, n.in[1]), rows_of(s, n.out),
                          static_cast<int>(g.tensors[n.out].n), ith, nth);
        break;
    case Op::SelectLast:
        if (ith == 0) {
            const int64_t width = g.tensors[n.out].n;
            std::memcpy(f32(s, n.out), f32(s, n.in[0]) + (s.n_tokens - 1) * width,
                        static_cast<size_t>(width) * sizeof(float));
        }
        break;
    case Op::Slice:
        cpu::slice_heads(f32(s, n.out), f32(s, n.in[0]), rows_of(s, n.out), g.tensors[n.in[0]].n,
                         n.n_head, n.head_dim, n.stride, n.offset, ith, nth);
        break;
    case Op::Concat:
        cpu::concat_heads(f32(s, n.out), f32(s, n.in[0]), f32(s, n.in[1]), rows_of(s, n.out),
                          n.n_head, static_cast<int>(g.tensors[n.in[0]].n / n.n_head),
                          static_cast<int>(g.tensors[n.in[1]].n / n.n_head), ith, nth);
        break;
    case Op::HeadMatMul:
        cpu::head_matmul(expert_weights(*n.w), f32(s, n.in[0]), g.tensors[n.in[0]].n, n.stride,
                         rows_of(s, n.in[0]), f32(s, n.out), s.bound->tensor_data[n.scratch], ith,
                         nth, *s.pool);
        break;
    }
}

void run_graph_on_thread(void *ctx, int ith, int nth) {
    RunState &s = *static_cast<RunState *>(ctx);
    const std::vector<Node> &nodes = s.bound->graph->nodes;
    const auto end = static_cast<size_t>(s.nodes.end);
    for (size_t i = static_cast<size_t>(s.nodes.begin); i < end; ++i) {
        // Thread 0 times MoeFfn nodes (every node when profiling) up to their closing barrier:
        // the slowest thread's finish. A node the next one joins without a barrier is timed to
        // thread 0's own finish.
        const bool timed =
            ith == 0 && ((s.bound->moe_ffn_seconds && nodes[i].op == Op::MoeFfn) || s.profile);
        const auto started = timed ? std::chrono::steady_clock::now()
                                   : std::chrono::steady_clock::time_point{};
        if (s.reference)
            run_node_reference(s, nodes[i]);
        else
            run_node(s, nodes[i], ith, nth);
        const bool barrier = i + 1 == end || !s.joins || !s.joins[i + 1];
        // Every thread must leave at the same node boundary, or those that stay wait forever at
        // the next barrier. So the stop is decided once, by thread 0, as "after node i", and read
        // only after node i's barrier. A thread still reading after barrier j < i (thread 0 can
        // already be in node i) sees i > j and runs on to node i's barrier with everyone else.
        // A run that finished its last node has completed: a stop asked for now is left to the
        // next run (a pending cancel stays set). Stops fall only where barriers do.
        if (barrier) {
            if (ith == 0 && i + 1 < end && s.stop->should_stop())
                s.stop_after.store(i, std::memory_order_relaxed);
            s.pool->barrier(ith); // orders the store above before every thread's load below
        }
        if (timed) {
            const double seconds =
                std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
            if (s.profile) // a node after SelectLast computes one row whatever the batch
                s.profile->add(nodes[i], s.n_tokens,
                               nodes[i].in[0] == graph::kNoTensor ? s.n_tokens
                                                                  : rows_of(s, nodes[i].in[0]),
                               seconds);
            if (nodes[i].op == Op::MoeFfn && s.bound->moe_ffn_seconds) {
                *s.bound->moe_ffn_seconds += seconds;
                if (s.node_log && s.n_tokens == 1) s.node_log->add(nodes[i].layer, seconds);
            }
        }
        if (barrier && s.stop_after.load(std::memory_order_relaxed) <= i) return;
    }
}

// Every op runs on the CPU; what can be refused is a weight type.
Status supports_node(const Node &n, const graph::Graph &) {
    for (const graph::WeightRef *matrix :
         {n.op == Op::MatMul || n.op == Op::MoeFfn || n.op == Op::HeadMatMul ? n.w : nullptr,
          n.op == Op::MoeFfn ? n.w2 : nullptr, n.op == Op::MoeFfn ? n.w3 : nullptr})
        if (matrix && !cpu::matmul_supported(matrix->type))
            return make_error(INFER_ERR_MODEL_TENSOR_TYPE,
                              "%s: tensor '%.*s' has type %s, which the CPU backend cannot "
                              "multiply",
                              graph::op_name(n.op), static_cast<int>(matrix->name.size()),
                              matrix->name.data(), type_name(matrix->type));
    if (n.op == Op::Embed) {
        const TypeTraits *t = type_traits(n.w->type);
        if (!t || !t->has_dequant)
            return make_error(INFER_ERR_MODEL_TENSOR_TYPE,
                              "Embed: tensor '%.*s' has type %s, which cannot be dequantized",
                              static_cast<int>(n.w->name.size()), n.w->name.data(),
                              type_name(n.w->type));
    }
    for (const graph::WeightRef *f32_weight :
         {n.op == Op::RmsNorm || n.op == Op::MoeRoute ? n.w : nullptr,
          n.op == Op::MatMul ? n.w2 : nullptr})
        if (f32_weight && f32_weight->type != static_cast<uint32_t>(TypeId::F32))
            return make_error(INFER_ERR_MODEL_TENSOR_TYPE,
                              "%s: tensor '%.*s' has type %s; norms and biases must be F32",
                              graph::op_name(n.op), static_cast<int>(f32_weight->name.size()),
                              f32_weight->name.data(), type_name(f32_weight->type));
    return Status::ok();
}

class CpuBackend final : public Backend {
public:
    CpuBackend(int32_t n_threads, CpuKernels kernels)
        : n_threads_(kernels == CpuKernels::Reference ? 1 : std::max(1, n_threads)),
          kernels_(kernels) {}

    const char *name() const override { return "CPU"; }
    uint64_t alignment() const override { return kAlignment; }

    void size_scratch(graph::Graph &g, const KvCacheLayout &kv) const override {
        const uint64_t nth = static_cast<uint64_t>(n_threads_);
        graph::clear_scratch_sizes(g);
        for (const Node &n : g.nodes) {
            if (n.scratch == graph::kNoTensor) continue;
            uint64_t bytes = 0;
            if (n.op == Op::MatMul)
                bytes = cpu::matmul_scratch_bytes(n.w->type, n.w->ne[0], g.max_tokens);
            else if (n.op == Op::Rope)
                bytes = nth * align64(cpu::rope_scratch_bytes(rope_params(n)));
            else if (n.op == Op::Attention)
                bytes = nth * align64(cpu::attention_scratch_bytes(kv_layout(kv, n.layer)));
            else if (n.op == Op::MoeFfn)
                bytes = cpu::moe_ffn_scratch_bytes(moe_ffn_of(n), g.max_tokens, n.n_expert_used,
                                                   n_threads_);
            else if (n.op == Op::HeadMatMul)
                bytes = cpu::head_matmul_scratch_bytes(expert_weights(*n.w), g.max_tokens);
            graph::grow_scratch(g, n, bytes);
        }
    }

    Status start() override {
        if (!pool_) pool_ = std::make_unique<cpu::ThreadPool>(n_threads_);
        if (!node_log_ && cpu::MoeNodeLog::wanted()) node_log_ = std::make_unique<cpu::MoeNodeLog>();
        if (!profile_ && cpu::NodeProfile::wanted())
            profile_ = std::make_unique<cpu::NodeProfile>();
        return Status::ok();
    }

    Status run(const BoundGraph &bound, NodeRange nodes, int64_t n_tokens, KvCache &kv,
               const StopSignal &stop) override {
        if (!pool_) return make_error(INFER_ERR_INTERNAL, "CPU backend run before start");
        RunState state;
        state.bound = &bound;
        state.nodes = nodes;
        state.n_tokens = n_tokens;
        state.kv = &kv;
        state.stop = &stop;
        state.pool = pool_.get();
        state.reference = kernels_ == CpuKernels::Reference;
        state.node_log = node_log_.get();
        state.profile = profile_.get();
        state.joins = nullptr;
        if (n_tokens == 1 && !state.reference)
            for (const PreparedGraph &p : prepared_)
                if (p.bound == &bound) state.joins = p.joins.data();
        if (stop.should_stop()) return make_error(INFER_ERR_CANCELLED, "decode cancelled");
        pool_->run(run_graph_on_thread, &state);
        if (state.stop_after.load() != RunState::kNoStop)
            return make_error(INFER_ERR_CANCELLED, "decode cancelled");
        return Status::ok();
    }

    Status prepare(const BoundGraph &bound) override {
        PreparedGraph *p = nullptr;
        for (PreparedGraph &q : prepared_)
            if (q.bound == &bound) p = &q;
        if (!p) p = &prepared_.emplace_back(PreparedGraph{&bound, {}});
        cpu::decode_joins(*bound.graph, bound.tensor_data, &p->joins);
        return Status::ok();
    }

private:
    // A graph's barriers, worked out once (prepare) for the runs of its bound copy.
    struct PreparedGraph {
        const BoundGraph *bound;
        std::vector<uint8_t> joins;
    };

    int32_t n_threads_;
    CpuKernels kernels_;
    std::vector<PreparedGraph> prepared_;
    std::unique_ptr<cpu::ThreadPool> pool_; // made by start()
    std::unique_ptr<cpu::MoeNodeLog> node_log_;
    std::unique_ptr<cpu::NodeProfile> profile_;
};

} // namespace

std::unique_ptr<Backend> make_cpu_backend(int32_t n_threads, CpuKernels kernels) {
    return std::make_unique<CpuBackend>(n_threads, kernels);
}

namespace {

int32_t one_device(std::string *) { return 1; }

// Weights the CPU multiplies are repacked for the kernels of the level whole-model runs use.
// Expert stacks are repacked expert by expert, so an expert stays one contiguous matrix. On a
// level with interleaved layouts, a matrix of a type without one is copied as its rows: the copy
// lies in 2 MiB pages (host_weights.cpp), which decode streams 20-25% faster than the file's
// 4 KiB ones (llama-1B IQ4_XS tg32, 2 threads, AVX2: 18.5 -> 23.3 GB/s of weights). Expert
// stacks of such types stay in place: a stack split with a device keeps the file's layout.
uint64_t relayout_bytes(const graph::WeightRef &w) {
    const cpu::CpuIsa isa = cpu::cpu_isa_dispatch();
    const cpu::WeightLayout layout = cpu::repack_layout(w.type, isa);
    if (w.ne[3] != 1) return 0;
    if (layout == cpu::WeightLayout::Rows) {
        const bool level_repacks = cpu::repack_layout(static_cast<uint32_t>(TypeId::Q4_0), isa) !=
                                   cpu::WeightLayout::Rows;
        if (!level_repacks || w.ne[2] != 1 ||
            w.row_bytes != cpu::layout_matrix_bytes(w.type, layout, w.ne[0], 1))
            return 0;
    }
    return cpu::layout_matrix_bytes(w.type, layout, w.ne[0], w.ne[1]) *
           static_cast<uint64_t>(w.ne[2]);
}

// Source rows repacked between two read_done calls: the transient second copy of a weight.
constexpr uint64_t kRelayoutSliceBytes = uint64_t(4) << 20;

uint8_t relayout(const graph::WeightRef &w, void *dst, const int32_t *expert_slot,
                 const std::function<void(const void *, uint64_t)> &read_done) {
    const cpu::WeightLayout layout = cpu::repack_layout(w.type, cpu::cpu_isa_dispatch());
    const int64_t k = w.ne[0], n = w.ne[1];
    const uint64_t matrix = cpu::layout_matrix_bytes(w.type, layout, k, n);
    const uint64_t tile = cpu::layout_matrix_bytes(w.type, layout, k, cpu::kRepackRows);
    const uint64_t src_matrix = w.row_bytes * static_cast<uint64_t>(n);
    // Whole tiles per slice; the last slice takes the rows after the last tile too, which
    // repack_matrix then puts after its tiles: where the whole matrix's layout has them.
    const int64_t slice_rows =
        std::max<int64_t>(1, static_cast<int64_t>(kRelayoutSliceBytes / w.row_bytes) /
                                 cpu::kRepackRows) *
        cpu::kRepackRows;
    for (int64_t e = 0; e < w.ne[2]; ++e) {
        if (expert_slot && expert_slot[e] >= 0) continue; // resident: the device computes it
        const uint8_t *src = static_cast<const uint8_t *>(w.data) + e * src_matrix;
        uint8_t *out = static_cast<uint8_t *>(dst) + e * matrix;
        for (int64_t r = 0; r < n; r += slice_rows) {
            const int64_t rows = n - r <= slice_rows + cpu::kRepackRows ? n - r : slice_rows;
            cpu::repack_matrix(w.type, layout, k, rows, src + r * w.row_bytes, w.row_bytes,
                               out + r / cpu::kRepackRows * tile);
            if (read_done) read_done(src + r * w.row_bytes, rows * w.row_bytes);
            if (rows != slice_rows) break;
        }
    }
    return static_cast<uint8_t>(layout);
}

Status make_from_config(const BackendConfig &config, std::unique_ptr<Backend> *out) {
    *out = make_cpu_backend(config.n_threads, config.kernels);
    return Status::ok();
}

} // namespace

BackendEntry cpu_backend_entry_of_build() {
    BackendEntry e;
    e.id = INFER_BACKEND_CPU;
    e.name = "CPU";
    e.is_device = false;
    e.device_count = one_device;
    e.make_backend = make_from_config;
    e.supports = supports_node;
    e.relayout_bytes = relayout_bytes;
    e.relayout = relayout;
    e.kernel_level = [] { return cpu::cpu_isa_name(cpu::cpu_isa_dispatch()); };
    return e;
}

} // namespace infer
