#include "runtime/context.h"

#include "core/checked_math.h"
#include "core/log.h"
#include "runtime/expert_split.h"
#include "runtime/offload_plan.h"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <new>
#include <thread>

namespace infer {
namespace {

// Which arena holds a tensor whose storage root has `sides`: the host arena for the CPU's own,
// the device arena for any the device touches, the transfer arena for the host copy of a tensor
// both touch.
enum class Arena { Host, Device, Transfer };

bool in_arena(Arena arena, uint8_t sides) {
    switch (arena) {
    case Arena::Host: return sides == kOnHost;
    case Arena::Device: return (sides & kOnDevice) != 0;
    case Arena::Transfer: return sides == (kOnHost | kOnDevice);
    }
    return false;
}

// Planner requests for the tensors of one arena that own storage (aliases share their root's
// bytes); the others take no space.
std::vector<BufferRequest> requests_of(const graph::Graph &g, const SegmentPlan &split,
                                       Arena arena) {
    std::vector<BufferRequest> requests(g.tensors.size());
    for (size_t i = 0; i < g.tensors.size(); ++i) {
        const graph::TensorDesc &t = g.tensors[i];
        if (t.alias_of != graph::kNoTensor || t.first_use < 0) continue; // size 0: no space
        if (!in_arena(arena, split.sides[i])) continue;
        requests[i].size = g.max_bytes(static_cast<graph::TensorId>(i));
        requests[i].first_use = static_cast<uint32_t>(t.first_use);
        requests[i].last_use = static_cast<uint32_t>(t.last_use);
    }
    return requests;
}

// Plans one arena for both graphs, after `kv_bytes` of KV cache.
Status plan_side(const ContextPlan &plan, Arena arena, uint64_t alignment, uint64_t kv_bytes,
                 SideMemory *out) {
    INFER_TRY(plan_memory(requests_of(plan.decode, plan.decode_split.segments, arena), alignment,
                          &out->decode_plan));
    INFER_TRY(plan_memory(requests_of(plan.prefill, plan.prefill_split.segments, arena), alignment,
                          &out->prefill_plan));
    out->kv_bytes = kv_bytes;
    out->arena_bytes = std::max(out->decode_plan.arena_size, out->prefill_plan.arena_size);
    out->lower_bound = std::max(out->decode_plan.lower_bound, out->prefill_plan.lower_bound);
    if (!checked_align_up(kv_bytes, alignment, &out->arena_offset) ||
        !checked_add(out->arena_offset, out->arena_bytes, &out->total_bytes))
        return make_error(INFER_ERR_OUT_OF_MEMORY, "context memory size overflows");
    return Status::ok();
}

// Each node's scratch sized by the backend of its side.
void size_scratch(graph::Graph &g, const NodeAssignment &sides, const ContextBackends &backends,
                  const KvCacheLayout &kv) {
    backends.host->size_scratch(g, kv);
    if (!backends.device) return;
    graph::Graph sized = g;
    backends.device->size_scratch(sized, kv);
    // A scratch tensor serves one node, or MatMuls of one input (Node::act_shared): the device's
    // size where all its nodes run there, the larger of the two where they are on both sides.
    constexpr uint8_t kHost = 1, kDevice = 2;
    std::vector<uint8_t> used_by(g.tensors.size(), 0);
    for (size_t i = 0; i < g.nodes.size(); ++i) {
        const graph::TensorId scratch = g.nodes[i].scratch;
        if (scratch != graph::kNoTensor)
            used_by[static_cast<size_t>(scratch)] |= sides.on_device[i] ? kDevice : kHost;
    }
    for (size_t t = 0; t < g.tensors.size(); ++t) {
        if (!(used_by[t] & kDevice)) continue;
        uint64_t &bytes = g.tensors[t].raw_bytes;
        bytes = used_by[t] & kHost ? std::max(bytes, sized.tensors[t].raw_bytes)
                                   : sized.tensors[t].raw_bytes;
    }
}

Status split_graph(graph::Graph &g, const Placement &placement, bool for_streaming,
                   GraphSplit *out) {
    apply_expert_residency(g, placement, for_streaming);
    INFER_TRY(assign_nodes(g, placement, &out->nodes));
    out->segments = plan_segments(g, out->nodes.on_device);
    return Status::ok();
}

bool any_on_device(const GraphSplit &split) {
    return std::any_of(split.nodes.on_device.begin(), split.nodes.on_device.end(),
                       [](uint8_t d) { return d != 0; });
}

// Bytes of the routed experts one token reads: k of each MoeFfn node's n_expert experts (a layer
// split across the sides counted once, by its CPU node).
uint64_t decode_expert_bytes(const graph::Graph &g) {
    uint64_t bytes = 0;
    for (const graph::Node &n : g.nodes)
        if (n.op == graph::Op::MoeFfn && !n.experts_resident)
            bytes += (n.w->n_bytes + n.w2->n_bytes + n.w3->n_bytes) /
                     static_cast<uint64_t>(n.n_expert) * static_cast<uint64_t>(n.n_expert_used);
    return bytes;
}

uint64_t decode_weight_bytes(const graph::Graph &g) {
    uint64_t bytes = decode_expert_bytes(g);
    for (const graph::Node &n : g.nodes) {
        if (n.op == graph::Op::MatMul) bytes += n.w->n_bytes + (n.w2 ? n.w2->n_bytes : 0);
        if (n.op == graph::Op::Embed) bytes += n.w->row_bytes; // one row per token
        if (n.op == graph::Op::RmsNorm && n.w) bytes += n.w->n_bytes;
    }
    return bytes;
}

// The KV layout both graphs describe (they store and attend alike, whatever their batch).
Status graphs_kv_layout(const ContextPlan &plan, int64_t n_layer, KvCacheLayout *out) {
    const ContextParams &p = plan.params;
    INFER_TRY(kv_layout_from_graph(plan.prefill, n_layer, p.kv_type, p.n_ctx, out));
    KvCacheLayout decode;
    INFER_TRY(kv_layout_from_graph(plan.decode, n_layer, p.kv_type, p.n_ctx, &decode));
    if (!(decode == *out))
        return make_error(INFER_ERR_INTERNAL,
                          "the one-token graph caches other KV dims than the batch graph");
    return Status::ok();
}

// The saved state: this header, a StateLayer per layer, then KV rows [0, n_past) of every head
// of every layer that caches, K then V.
struct StateHeader {
    char magic[4];
    uint32_t version;
    uint32_t kv_type;
    uint32_t n_past;
    int64_t n_layer;
};
// One layer's dims; all 0 for a layer that caches nothing.
struct StateLayer {
    int64_t n_head_kv, head_dim, head_dim_v; // head_dim_v 0: no V plane (MLA)

    bool operator==(const StateLayer &) const = default;
};
constexpr char kStateMagic[4] = {'I', 'K', 'V', 'S'};
constexpr uint32_t kStateVersion = 3;

StateLayer state_layer(const KvLayerLayout &l) {
    return {l.n_head_kv, l.head_dim, l.v_in_k ? 0 : l.value_dim()};
}

uint64_t state_header_bytes(const KvCacheLayout &kv) {
    return sizeof(StateHeader) + static_cast<uint64_t>(kv.n_layer()) * sizeof(StateLayer);
}

// Calls copy(layer, at, bytes) for each run of the state's KV bytes in state order: per layer
// that caches, K then V unless the values live in K, per head, rows [0, n_past).
template <class Copy> Status for_each_state_run(const KvCache &kv, uint64_t n_past, Copy copy) {
    const KvCacheLayout &layout = kv.layout;
    for (int64_t l = 0; l < layout.n_layer(); ++l) {
        const KvLayerLayout &dims = layout.layer(l);
        if (!dims.caches()) continue;
        const int64_t row_elems[2] = {dims.head_dim, dims.value_dim()};
        for (int plane = 0; plane < (dims.v_in_k ? 1 : 2); ++plane) {
            auto *base = static_cast<uint8_t *>(plane == 0 ? kv.k(l) : kv.v(l));
            const uint64_t row_bytes =
                static_cast<uint64_t>(row_elems[plane]) * layout.elem_bytes();
            const uint64_t head_bytes = static_cast<uint64_t>(layout.n_ctx) * row_bytes;
            for (int64_t head = 0; head < dims.n_head_kv; ++head)
                INFER_TRY(copy(l, base + head * head_bytes, n_past * row_bytes));
        }
    }
    return Status::ok();
}

// Checks the state's per-layer records (the bytes after its header) against the layout.
Status check_state_layers(const KvCacheLayout &kv, std::span<const uint8_t> in) {
    if (in.size() < state_header_bytes(kv))
        return make_error(INFER_ERR_BAD_STATE, "the state is truncated");
    const uint8_t *p = in.data() + sizeof(StateHeader);
    for (int64_t l = 0; l < kv.n_layer(); ++l, p += sizeof(StateLayer)) {
        StateLayer record{};
        std::memcpy(&record, p, sizeof record);
        const StateLayer expected = state_layer(kv.layer(l));
        if (!(record == expected))
            return make_error(INFER_ERR_BAD_STATE,
                              "the state's layer %lld caches %lld KV heads of %lld (values %lld); "
                              "this context's caches %lld of %lld (values %lld): another model",
                              static_cast<long long>(l), static_cast<long long>(record.n_head_kv),
                              static_cast<long long>(record.head_dim),
                              static_cast<long long>(record.head_dim_v),
                              static_cast<long long>(expected.n_head_kv),
                              static_cast<long long>(expected.head_dim),
                              static_cast<long long>(expected.head_dim_v));
    }
    return Status::ok();
}

} // namespace

int32_t resolve_thread_count(int32_t n_threads) {
    if (n_threads > 0) return n_threads;
    return static_cast<int32_t>(std::max(1u, std::thread::hardware_concurrency()));
}

Status Context::plan(const Model &model, const ContextParams &in, const ContextBackends &backends,
                     ContextPlan *out) {
    if (!model.arch())
        return make_error(INFER_ERR_INVALID_ARGUMENT,
                          "the model was loaded inspect-only and cannot run");
    const models::Hparams &hp = model.hparams();
    ContextParams p = in;
    if (p.n_ctx == 0) p.n_ctx = std::min<int64_t>(hp.n_ctx_train, ContextParams::kDefaultMaxCtx);
    if (p.n_ctx < 1 || p.n_ctx > ContextParams::kMaxCtx)
        return make_error(INFER_ERR_INVALID_ARGUMENT,
                          "n_ctx %lld is out of range: it must be 1..%lld (0: the model's "
                          "training length, at most %lld)",
                          static_cast<long long>(p.n_ctx),
                          static_cast<long long>(ContextParams::kMaxCtx),
                          static_cast<long long>(ContextParams::kDefaultMaxCtx));
    if (p.n_batch == 0) p.n_batch = ContextParams::kDefaultBatch;
    p.n_batch = std::min(p.n_batch, p.n_ctx); // a batch never needs more than the context
    if (p.n_batch < 1 || p.n_batch > ContextParams::kMaxBatch)
        return make_error(INFER_ERR_INVALID_ARGUMENT,
                          "n_batch %lld is out of range: it must be 1..%lld (0: %lld)",
                          static_cast<long long>(p.n_batch),
                          static_cast<long long>(ContextParams::kMaxBatch),
                          static_cast<long long>(ContextParams::kDefaultBatch));
    if (p.kv_type != 0 && p.kv_type != 1)
        return make_error(INFER_ERR_INVALID_ARGUMENT, "kv_type %u is not F16 (1) or F32 (0)",
                          p.kv_type);
    if (p.n_threads < 0 || p.n_threads > ContextParams::kMaxThreads)
        return make_error(INFER_ERR_INVALID_ARGUMENT,
                          "n_threads %d is out of range: it must be 0..%d (0: one per core)",
                          p.n_threads, ContextParams::kMaxThreads);

    ContextPlan plan;
    plan.params = p;
    plan.decode = model.arch()->build(hp, model.weights(), 1, p.logits_all);
    plan.prefill = model.arch()->build(hp, model.weights(), p.n_batch, p.logits_all);
    INFER_TRY(graphs_kv_layout(plan, hp.n_layer, &plan.kv));
    const Placement &placement = model.placement();
    // Decode never streams experts; prefill may (expert_streaming.h).
    const bool may_stream = p.expert_prefill != ExpertPrefill::Cpu && placement.device &&
                            placement.experts.n_layer > 0 && p.n_batch > 1;
    INFER_TRY(split_graph(plan.decode, placement, false, &plan.decode_split));
    INFER_TRY(split_graph(plan.prefill, placement, may_stream, &plan.prefill_split));
    if (may_stream) {
        plan.stream_layers.assign(static_cast<size_t>(hp.n_layer), 0);
        bool any = false;
        for (size_t i = 0; i < plan.prefill.nodes.size(); ++i) {
            const graph::Node &n = plan.prefill.nodes[i];
            if (plan.prefill_split.nodes.on_device[i] && is_resident_expert_node(n) &&
                n.layer >= 0 && n.layer < hp.n_layer) {
                plan.stream_layers[static_cast<size_t>(n.layer)] = 1;
                any = true;
            }
        }
        if (!any) plan.stream_layers.clear();
    }
    plan.kv_on_device = placement.kv_on_device;
    if (!backends.device &&
        (any_on_device(plan.decode_split) || any_on_device(plan.prefill_split)))
        return make_error(INFER_ERR_INTERNAL, "nodes placed on a device without its backend");
    size_scratch(plan.decode, plan.decode_split.nodes, backends, plan.kv);
    size_scratch(plan.prefill, plan.prefill_split.nodes, backends, plan.kv);

    uint64_t kv_device = 0;
    for (int64_t l = 0; l < plan.kv.n_layer(); ++l)
        kv_device += plan.kv_on_device[static_cast<size_t>(l)] ? plan.kv.layer_bytes(l) : 0;
    const uint64_t kv_host = plan.kv.total_bytes() - kv_device;
    const uint64_t host_align = std::max(kBufferAlignment, backends.host->alignment());
    INFER_TRY(plan_side(plan, Arena::Host, host_align, kv_host, &plan.host));
    if (backends.device) {
        const uint64_t device_align = std::max(kBufferAlignment, backends.device->alignment());
        INFER_TRY(plan_side(plan, Arena::Device, device_align, kv_device, &plan.device));
        INFER_TRY(plan_side(plan, Arena::Transfer, host_align, 0, &plan.transfer));
    }
    plan.arena_bytes = plan.host.arena_bytes + plan.device.arena_bytes + plan.transfer.arena_bytes;
    plan.lower_bound = plan.host.lower_bound + plan.device.lower_bound + plan.transfer.lower_bound;
    if (!checked_add(plan.host.total_bytes, plan.device.total_bytes, &plan.total_bytes) ||
        !checked_add(plan.total_bytes, plan.transfer.total_bytes, &plan.total_bytes))
        return make_error(INFER_ERR_OUT_OF_MEMORY, "context memory size overflows");
    *out = std::move(plan);
    return Status::ok();
}

Context::Context(const Model &model, ContextBackends backends)
    : model_(model), owned_(std::move(backends)) {
    backend_[kHost] = owned_.host.get();
    backend_[kDevice] = owned_.device.get();
}

Context::~Context() {
    if (owns_host_memory_) backend_[kHost]->release(MemoryKind::Context, memory_[kHost]);
    if (memory_[kDevice]) backend_[kDevice]->release(MemoryKind::Context, memory_[kDevice]);
    if (staging_) backend_[kDevice]->release(MemoryKind::Staging, staging_);
}

Status Context::make_backends(const Model &model, const ContextParams &params,
                              ContextBackends *out) {
    const BackendEntry &cpu = cpu_backend_entry();
    BackendConfig host;
    host.kernels = params.kernels;
    host.n_threads = params.kernels == CpuKernels::Reference ? 1 : resolve_thread_count(params.n_threads);
    INFER_TRY(cpu.make_backend(host, &out->host));
    const Placement &placement = model.placement();
    if (!placement.device) return Status::ok();
    BackendConfig device;
    device.weights = model.device_weights();
    if (model.file_pages_come_back()) {
        device.model = &model;
        device.drop_host_pages = [](const void *m, const void *p, uint64_t n) {
            static_cast<const Model *>(m)->drop_file_pages(p, n);
        };
    }
    if (!device.weights)
        return make_error(INFER_ERR_INTERNAL, "a %s model without device weights",
                          placement.device->name);
    return placement.device->make_backend(device, &out->device);
}

Status Context::create(const Model &model, const ContextParams &params,
                       std::unique_ptr<Context> *out) {
    ContextBackends backends;
    INFER_TRY(make_backends(model, params, &backends));
    std::unique_ptr<Context> ctx(new Context(model, std::move(backends)));
    INFER_TRY(plan(model, params, ctx->owned_, &ctx->plan_));
    INFER_TRY(ctx->allocate(params));
    const ContextPlan &plan = ctx->plan_;
    ctx->bind(plan.decode, plan.decode_split, true, ctx->decode_bound_);
    ctx->bind(plan.prefill, plan.prefill_split, false, ctx->prefill_bound_);
    ctx->stats_.weight_bytes_per_token = decode_weight_bytes(plan.decode);
    ctx->stats_.device_bytes =
        (ctx->backend_[kDevice] ? ctx->backend_[kDevice]->device_bytes() : 0) +
        (model.device_weights() ? model.device_weights()->bytes() : 0);
    ctx->stats_.expert_bytes_per_token = decode_expert_bytes(plan.decode);
    const models::Hparams &hp = model.hparams();
    ctx->expert_counts_.assign(static_cast<size_t>(hp.n_layer * hp.n_expert()), 0);
    uint64_t *counts = ctx->expert_counts_.empty() ? nullptr : ctx->expert_counts_.data();
    for (BoundGraph *b : {&ctx->decode_bound_[0], &ctx->decode_bound_[1], &ctx->prefill_bound_[0],
                          &ctx->prefill_bound_[1]})
        b->expert_counts = counts;
    // The CPU expert lane's time, per kind of step (the offload cost model's check).
    ctx->decode_bound_[kHost].moe_ffn_seconds = &ctx->stats_.decode_cpu_expert_seconds;
    ctx->prefill_bound_[kHost].moe_ffn_seconds = &ctx->stats_.prefill_cpu_expert_seconds;
    bool stream = !plan.stream_layers.empty();
    if (stream)
        for (BoundGraph &b : ctx->prefill_bound_) b.streamed = &ctx->streamed_;
    for (const int side : {kHost, kDevice})
        if (Backend *be = ctx->backend_[side])
            for (const BoundGraph *b : {&ctx->decode_bound_[side], &ctx->prefill_bound_[side]}) {
                Status prepared = be->prepare(*b);
                // Streaming is an optimization the default (auto) mode may go without: a budget
                // with no room left for the staging computes prefill's experts on the CPU.
                if (!prepared.is_ok() && b->streamed &&
                    plan.params.expert_prefill == ExpertPrefill::Auto &&
                    prepared.code() == INFER_ERR_OUT_OF_MEMORY) {
                    log_message(INFER_LOG_WARN, "prefill streaming off: %s",
                                prepared.message().c_str());
                    for (BoundGraph &pb : ctx->prefill_bound_) pb.streamed = nullptr;
                    stream = false;
                    prepared = be->prepare(*b);
                }
                INFER_TRY(prepared);
            }
    if (stream) INFER_TRY(ctx->start_streaming());
    const uint64_t kv_bytes = plan.kv.total_bytes();
    log_message(INFER_LOG_INFO,
                "context: n_ctx %lld, n_batch %lld, KV cache %.1f MiB (%.1f MiB on the device), "
                "activations %.2f MiB (lower bound %.2f MiB)",
                static_cast<long long>(plan.kv.n_ctx), static_cast<long long>(plan.params.n_batch),
                kv_bytes / 1048576.0, plan.device.kv_bytes / 1048576.0,
                plan.arena_bytes / 1048576.0, plan.lower_bound / 1048576.0);
    *out = std::move(ctx);
    return Status::ok();
}

Status Context::start_streaming() {
    const ContextPlan &plan = plan_;
    auto stay_off = [&] {
        for (BoundGraph &b : prefill_bound_) b.streamed = nullptr;
        return Status::ok();
    };
    double rate = 0;
    INFER_TRY(backend_[kDevice]->expert_stream_rate(&rate));
    if (rate <= 0) {
        log_message(INFER_LOG_INFO, "prefill streaming: the %s backend cannot stream experts",
                    backend_[kDevice]->name());
        return stay_off();
    }
    const Placement &placement = model_.placement();
    const ModelCostShape shape = model_cost_shape(model_);
    std::vector<StreamingLayer> layers(shape.layers.size());
    for (size_t l = 0; l < layers.size(); ++l) {
        layers[l].expert_bytes = shape.layers[l].expert_bytes();
        for (const TypedWeights &w : shape.layers[l].expert) layers[l].expert_elements += w.elements;
    }
    if (plan.params.expert_prefill == ExpertPrefill::Auto) {
        std::vector<ExpertShape> shapes;
        for (const LayerCostShape &l : shape.layers)
            if (l.expert_bytes() > 0 &&
                std::find(shapes.begin(), shapes.end(), l.expert_shape) == shapes.end())
                shapes.push_back(l.expert_shape);
        CpuCosts cpu;
        const Status measured = cpu_costs_for(shapes, {}, resolve_thread_count(plan.params.n_threads),
                                              default_cache_dir(), false, &cpu);
        if (!measured.is_ok()) {
            log_message(INFER_LOG_WARN,
                        "prefill streaming off: the CPU expert costs could not be measured: %s",
                        measured.message().c_str());
            return stay_off();
        }
        for (size_t l = 0; l < layers.size(); ++l)
            layers[l].cpu = layer_cpu_cost(shape.layers[l], cpu);
    }
    const models::Hparams &hp = model_.hparams();
    layer_expert_bytes_.clear();
    for (const StreamingLayer &l : layers) layer_expert_bytes_.push_back(l.expert_bytes);
    streaming_model_ =
        make_streaming_model(placement.expert_popularity, static_cast<int32_t>(hp.n_expert_used()),
                             std::move(layers), rate);
    choose_streamed_experts(ExpertPrefill::Cpu, placement.experts, streaming_model_,
                            plan.stream_layers, 0, &streamed_); // sizes streamed_
    streaming_ = true;
    log_message(INFER_LOG_INFO, "prefill streaming: %s, copies at %.1f GB/s",
                plan.params.expert_prefill == ExpertPrefill::Auto ? "by the cost model"
                                                                  : "every non-resident expert",
                rate / 1e9);
    return Status::ok();
}

void Context::choose_streamed(int64_t n) {
    choose_streamed_experts(plan_.params.expert_prefill, model_.placement().experts,
                            streaming_model_, plan_.stream_layers, n, &streamed_);
    for (int32_t l = 0; l < streamed_.n_layer; ++l) {
        const uint8_t *mask = streamed_.layer(l);
        if (!mask) continue;
        for (int32_t e = 0; e < streamed_.n_expert; ++e) {
            if (!mask[e]) continue;
            stats_.prefill_streamed_experts += 1;
            stats_.prefill_streamed_bytes += layer_expert_bytes_[static_cast<size_t>(l)];
        }
    }
}

Status Context::allocate(const ContextParams &params) {
    const ContextPlan &plan = plan_;
    Backend &host = *backend_[kHost];
    Backend *device = backend_[kDevice];
    if (params.buffer && device)
        return make_error(INFER_ERR_UNSUPPORTED,
                          "a caller-provided buffer is host memory; a context of a model placed on "
                          "%s keeps memory there (pass no buffer)", device->name());
    if (params.buffer) {
        if (params.buffer_size < plan.total_bytes)
            return make_error(INFER_ERR_BUFFER_TOO_SMALL,
                              "the caller's buffer has %llu bytes; this context needs %llu",
                              static_cast<unsigned long long>(params.buffer_size),
                              static_cast<unsigned long long>(plan.total_bytes));
        if (reinterpret_cast<uintptr_t>(params.buffer) % kBufferAlignment != 0)
            return make_error(INFER_ERR_INVALID_ARGUMENT,
                              "the caller's buffer must be %llu-byte aligned",
                              static_cast<unsigned long long>(kBufferAlignment));
        memory_[kHost] = static_cast<uint8_t *>(params.buffer);
    } else if (plan.host.total_bytes) {
        INFER_TRY(host.allocate(MemoryKind::Context, plan.host.total_bytes, &memory_[kHost]));
        owns_host_memory_ = true;
    }
    // Commit every page now (as llama.cpp clears its KV cache): decoding then never page-faults,
    // the resident set is what the plan reports from the first token on, and memory the system
    // cannot back fails here rather than in the middle of a decode.
    if (memory_[kHost]) std::memset(memory_[kHost], 0, plan.host.total_bytes);
    if (device) {
        INFER_TRY(device->allocate(MemoryKind::Context, std::max<uint64_t>(plan.device.total_bytes, 1),
                                   &memory_[kDevice]));
        const uint64_t n_batch = static_cast<uint64_t>(plan.params.n_batch);
        const uint64_t logit_rows = plan.params.logits_all ? n_batch : 1;
        const uint64_t ids_bytes = 2 * n_batch * sizeof(int32_t);
        const uint64_t transfer = plan.transfer.total_bytes;
        const uint64_t bytes = transfer + ids_bytes +
                               logit_rows * static_cast<uint64_t>(model_.hparams().n_vocab) * sizeof(float);
        INFER_TRY(device->allocate(MemoryKind::Staging, bytes, &staging_));
        std::memset(staging_, 0, bytes);
        transfer_ = staging_;
        staged_tokens_ = reinterpret_cast<int32_t *>(staging_ + transfer);
        staged_positions_ = staged_tokens_ + n_batch;
        staged_logits_ = reinterpret_cast<float *>(staging_ + transfer + ids_bytes);
        INFER_TRY(device->start());
    }
    INFER_TRY(host.start());
    position_values_.assign(static_cast<size_t>(plan.params.n_batch), 0);
    // Each layer's KV planes, on the side that runs its attention, packed in layer order.
    // A layer that caches nothing keeps null planes.
    kv_.layout = plan.kv;
    kv_.planes.assign(static_cast<size_t>(2 * plan.kv.n_layer()), nullptr);
    uint64_t used[2] = {0, 0};
    for (int64_t l = 0; l < plan.kv.n_layer(); ++l) {
        if (!plan.kv.layer(l).caches()) continue;
        const int side = plan.kv_on_device[static_cast<size_t>(l)] ? kDevice : kHost;
        uint8_t *k = memory_[side] + used[side];
        used[side] += plan.kv.plane_bytes(l);
        kv_.planes[static_cast<size_t>(2 * l)] = k;
        kv_.planes[static_cast<size_t>(2 * l + 1)] =
            plan.kv.layer(l).v_in_k ? k : memory_[side] + used[side];
        used[side] += plan.kv.v_plane_bytes(l);
    }
    return Status::ok();
}

void Context::bind(const graph::Graph &graph, const GraphSplit &split, bool decode,
                   BoundGraph out[2]) {
    const SideMemory &host = plan_.host, &device = plan_.device, &transfer = plan_.transfer;
    auto offsets = [decode](const SideMemory &m) -> const std::vector<uint64_t> & {
        return decode ? m.decode_plan.offsets : m.prefill_plan.offsets;
    };
    for (int side = 0; side < 2; ++side) {
        out[side].graph = &graph;
        out[side].tensor_data.assign(graph.tensors.size(), nullptr);
    }
    for (size_t i = 0; i < graph.tensors.size(); ++i) {
        const graph::TensorId root = graph.storage_of(static_cast<graph::TensorId>(i));
        if (graph.tensors[root].first_use < 0) continue;
        const uint8_t sides = split.segments.sides[static_cast<size_t>(root)];
        const uint64_t view = graph.storage_offset(static_cast<graph::TensorId>(i));
        if (sides == kOnHost)
            out[kHost].tensor_data[i] =
                memory_[kHost] + host.arena_offset + offsets(host)[root] + view;
        if (sides == (kOnHost | kOnDevice))
            out[kHost].tensor_data[i] =
                transfer_ + transfer.arena_offset + offsets(transfer)[root] + view;
        if (sides & kOnDevice)
            out[kDevice].tensor_data[i] =
                memory_[kDevice] + device.arena_offset + offsets(device)[root] + view;
    }
}

Status Context::decode(std::span<const int32_t> tokens) {
    // A refused call changes nothing (a pending cancel included): every check comes first.
    const int64_t n = static_cast<int64_t>(tokens.size());
    if (n == 0) return make_error(INFER_ERR_INVALID_ARGUMENT, "no tokens to decode: n_tokens is 0");
    const int64_t n_batch = plan_.params.n_batch;
    if (plan_.params.logits_all && n > n_batch)
        return make_error(INFER_ERR_INVALID_ARGUMENT,
                          "with logits_all a decode call takes at most n_batch = %lld tokens, "
                          "got %lld", static_cast<long long>(n_batch), static_cast<long long>(n));
    if (n > n_ctx() - n_past_)
        return make_error(INFER_ERR_CONTEXT_FULL,
                          "%lld tokens do not fit: %lld of %lld context positions are used",
                          static_cast<long long>(n), static_cast<long long>(n_past_),
                          static_cast<long long>(n_ctx()));
    const int64_t n_vocab = model_.hparams().n_vocab;
    for (int64_t i = 0; i < n; ++i)
        if (tokens[i] < 0 || tokens[i] >= n_vocab)
            return make_error(INFER_ERR_BAD_TOKEN, "token %d at index %lld is outside [0, %lld)",
                              tokens[i], static_cast<long long>(i),
                              static_cast<long long>(n_vocab));

    const auto start = std::chrono::steady_clock::now();
    call_tokens_ = n;
    call_done_ = 0;
    no_logits_ = NoLogits::Failed; // until the last chunk completes
    while (call_done_ < n) {
        const int64_t chunk = std::min(n_batch, n - call_done_);
        const Status status = run_chunk(
            tokens.subspan(static_cast<size_t>(call_done_), static_cast<size_t>(chunk)));
        if (!status.is_ok()) {
            if (status.code() == INFER_ERR_CANCELLED) no_logits_ = NoLogits::Cancelled;
            return status;
        }
        call_done_ += chunk;
    }
    no_logits_ = NoLogits::Kept;
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (n == 1) {
        stats_.decode_tokens += 1;
        stats_.decode_seconds += seconds;
    } else {
        stats_.prefill_tokens += static_cast<uint64_t>(n);
        stats_.prefill_seconds += seconds;
    }
    return Status::ok();
}

// Writes a graph input (token ids, positions) where its nodes read it: in place on the host,
// and through the pinned host copy (or staging) to the device.
Status Context::write_input(const BoundGraph bound[2], const GraphSplit &split, graph::TensorId id,
                            const int32_t *values, int64_t n, int32_t *staged) {
    const graph::Graph &g = *bound[kHost].graph;
    const uint8_t sides = split.segments.sides[static_cast<size_t>(g.storage_of(id))];
    int32_t *host = reinterpret_cast<int32_t *>(bound[kHost].tensor_data[id]);
    if (sides & kOnHost) std::memcpy(host, values, static_cast<size_t>(n) * sizeof(int32_t));
    if (!(sides & kOnDevice)) return Status::ok();
    const int32_t *from = host;
    if (!(sides & kOnHost)) {
        std::memcpy(staged, values, static_cast<size_t>(n) * sizeof(int32_t));
        from = staged;
    }
    return backend_[kDevice]->copy_in(bound[kDevice].tensor_data[id], from,
                                      static_cast<uint64_t>(n) * sizeof(int32_t));
}

// Device segments are queued, not waited for: a host segment waits only for the copies it
// needs (the last handoff mark, recorded behind them), so device work queued after those copies
// overlaps the CPU's segment. Host -> device copies come from pinned memory that no host node
// writes again before the device has read it: every later host segment first waits for a mark
// queued after that copy.
Status Context::run_segments(const BoundGraph bound[2], const GraphSplit &split, int64_t n,
                             const StopSignal &stop) {
    const graph::Graph &g = *bound[kHost].graph;
    Backend *device = backend_[kDevice];
    bool marked = false;   // a handoff is recorded that the host has not waited for
    bool unmarked = false; // device work or copies queued since the last mark
    for (const Segment &seg : split.segments.segments) {
        if (seg.on_device) {
            INFER_TRY(device->queue(bound[kDevice], seg.nodes, n, kv_, stop));
            unmarked = true;
            bool out = false;
            for (const SegmentCopy &c : seg.copies_after) {
                INFER_TRY(device->copy_out_queued(bound[kHost].tensor_data[c.tensor],
                                                  bound[kDevice].tensor_data[c.tensor],
                                                  tensor_bytes(g, c.tensor, n)));
                out = true;
            }
            if (out) {
                INFER_TRY(device->handoff());
                marked = true;
                unmarked = false;
            }
            continue;
        }
        if (device && (marked || unmarked)) {
            if (!marked) INFER_TRY(device->handoff()); // nothing to overlap: wait for all of it
            const auto start = std::chrono::steady_clock::now();
            INFER_TRY(device->wait_handoff());
            stats_.handoffs += 1;
            stats_.handoff_wait_seconds +=
                std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
            marked = unmarked = false;
        }
        INFER_TRY(backend_[kHost]->run(bound[kHost], seg.nodes, n, kv_, stop));
        for (const SegmentCopy &c : seg.copies_after) {
            INFER_TRY(device->copy_in(bound[kDevice].tensor_data[c.tensor],
                                      bound[kHost].tensor_data[c.tensor],
                                      tensor_bytes(g, c.tensor, n)));
            unmarked = true;
        }
    }
    return Status::ok();
}

Status Context::run_chunk(std::span<const int32_t> tokens) {
    const auto n = static_cast<int64_t>(tokens.size());
    const BoundGraph *bound = n == 1 ? decode_bound_ : prefill_bound_;
    const GraphSplit &split = n == 1 ? plan_.decode_split : plan_.prefill_split;
    const graph::Graph &g = *bound[kHost].graph;
    for (int64_t i = 0; i < n; ++i)
        position_values_[static_cast<size_t>(i)] = static_cast<int32_t>(n_past_ + i);
    if (streaming_ && n > 1) choose_streamed(n);
    INFER_TRY(write_input(bound, split, g.tokens, tokens.data(), n, staged_tokens_));
    INFER_TRY(write_input(bound, split, g.positions, position_values_.data(), n, staged_positions_));
    StopSignal stop;
    stop.cancel = &cancel_;
    stop.abort_fn = plan_.params.abort_fn;
    stop.abort_user_data = plan_.params.abort_user_data;
    const Status ran = run_segments(bound, split, n, stop);
    // Whatever happened, nothing the device queued outlives the step.
    const Status finished =
        backend_[kDevice] ? backend_[kDevice]->finish(bound[kDevice]) : Status::ok();
    INFER_TRY(ran);
    INFER_TRY(finished);
    if (split.segments.logits_on_device) {
        const int64_t rows = plan_.params.logits_all ? n : 1;
        INFER_TRY(backend_[kDevice]->copy_out(staged_logits_, bound[kDevice].tensor_data[g.logits],
                                              rows * n_vocab() * sizeof(float)));
        logits_ = staged_logits_;
    } else {
        logits_ = reinterpret_cast<const float *>(bound[kHost].tensor_data[g.logits]);
    }
    n_past_ += n;
    return Status::ok();
}

Status Context::no_logits_error() const {
    const char *why = "";
    switch (no_logits_) {
    case NoLogits::Kept:
        break;
    case NoLogits::NothingDecoded:
        why = "nothing has been decoded in this context yet";
        break;
    case NoLogits::Reset:
        why = "the context was reset after the last decode";
        break;
    case NoLogits::Truncated:
        why = "the context was truncated after the last decode";
        break;
    case NoLogits::StateLoaded:
        why = "a state was loaded after the last decode; decode at least one token first";
        break;
    case NoLogits::Cancelled:
        return make_error(INFER_ERR_NOT_FOUND,
                          "no logits: the last decode call was cancelled after %lld of its %lld "
                          "tokens (the position kept them); a cancelled call keeps no logits",
                          static_cast<long long>(call_done_),
                          static_cast<long long>(call_tokens_));
    case NoLogits::Failed:
        why = "the last decode call failed";
        break;
    }
    return make_error(INFER_ERR_NOT_FOUND, "no logits: %s", why);
}

Status Context::logits(int32_t index, const float **out) const {
    if (no_logits_ != NoLogits::Kept) return no_logits_error();
    const int64_t n = call_tokens_;
    const int64_t i = index == -1 ? n - 1 : index;
    if (i < 0 || i >= n)
        return make_error(INFER_ERR_NOT_FOUND,
                          "no logits for index %d: the last decode call had %lld token(s); an "
                          "index is 0..%lld, or -1 for the last",
                          index, static_cast<long long>(n), static_cast<long long>(n - 1));
    if (plan_.params.logits_all) { // such a call is one chunk: row i is token i
        *out = logits_ + i * n_vocab();
        return Status::ok();
    }
    if (i != n - 1)
        return make_error(INFER_ERR_NOT_FOUND,
                          "no logits for index %d: without logits_all a decode call keeps only "
                          "its last token's (index %lld, or -1); create the context with "
                          "logits_all to keep every token's",
                          index, static_cast<long long>(n - 1));
    *out = logits_;
    return Status::ok();
}

Backend &Context::kv_backend(int64_t layer) const {
    return *backend_[plan_.kv_on_device[static_cast<size_t>(layer)] ? kDevice : kHost];
}

Status Context::truncate(int64_t n_keep) {
    if (n_keep < 0 || n_keep > n_past_)
        return make_error(INFER_ERR_INVALID_ARGUMENT, "cannot keep %lld of %lld tokens",
                          static_cast<long long>(n_keep), static_cast<long long>(n_past_));
    n_past_ = n_keep; // cache rows past n_past are never read before being rewritten
    no_logits_ = NoLogits::Truncated;
    return Status::ok();
}

void Context::reset_stats() {
    Stats fresh;
    fresh.weight_bytes_per_token = stats_.weight_bytes_per_token;
    fresh.expert_bytes_per_token = stats_.expert_bytes_per_token;
    fresh.device_bytes = stats_.device_bytes;
    stats_ = fresh;
}

uint64_t Context::state_size() const {
    const KvCacheLayout &kv = plan_.kv;
    return state_header_bytes(kv) + kv.token_bytes() * static_cast<uint64_t>(n_past_);
}

Status Context::state_save(std::span<uint8_t> out, uint64_t *written) const {
    const uint64_t size = state_size();
    *written = size;
    if (out.size() < size)
        return make_error(INFER_ERR_BUFFER_TOO_SMALL, "the state needs %llu bytes, the buffer has %zu",
                          static_cast<unsigned long long>(size), out.size());
    const KvCacheLayout &kv = plan_.kv;
    StateHeader h{};
    std::memcpy(h.magic, kStateMagic, 4);
    h.version = kStateVersion;
    h.kv_type = kv.type;
    h.n_past = static_cast<uint32_t>(n_past_);
    h.n_layer = kv.n_layer();
    uint8_t *p = out.data();
    std::memcpy(p, &h, sizeof h);
    p += sizeof h;
    for (const KvLayerLayout &l : kv.layers) {
        const StateLayer record = state_layer(l);
        std::memcpy(p, &record, sizeof record);
        p += sizeof record;
    }
    return for_each_state_run(kv_, static_cast<uint64_t>(n_past_),
                              [&](int64_t l, const uint8_t *at, uint64_t bytes) {
                                  INFER_TRY(kv_backend(l).copy_out(p, at, bytes));
                                  p += bytes;
                                  return Status::ok();
                              });
}

Status Context::state_load(std::span<const uint8_t> in) {
    const KvCacheLayout &kv = plan_.kv;
    StateHeader h{};
    if (in.size() < sizeof h) return make_error(INFER_ERR_BAD_STATE, "the state is truncated");
    std::memcpy(&h, in.data(), sizeof h);
    if (std::memcmp(h.magic, kStateMagic, 4) != 0 || h.version != kStateVersion)
        return make_error(INFER_ERR_BAD_STATE, "not a libinfer state (or another version)");
    if (h.kv_type != kv.type || h.n_layer != kv.n_layer())
        return make_error(INFER_ERR_BAD_STATE,
                          "the state was saved from another model or KV cache type");
    INFER_TRY(check_state_layers(kv, in));
    if (h.n_past > kv.n_ctx)
        return make_error(INFER_ERR_BAD_STATE, "the state holds %u tokens; this context holds %lld",
                          h.n_past, static_cast<long long>(kv.n_ctx));
    const uint64_t expected = state_header_bytes(kv) + kv.token_bytes() * h.n_past;
    if (in.size() != expected)
        return make_error(INFER_ERR_BAD_STATE, "the state has %zu bytes, expected %llu", in.size(),
                          static_cast<unsigned long long>(expected));
    const uint8_t *p = in.data() + state_header_bytes(kv);
    INFER_TRY(for_each_state_run(kv_, h.n_past, [&](int64_t l, uint8_t *at, uint64_t bytes) {
        INFER_TRY(kv_backend(l).copy_in(at, p, bytes));
        p += bytes;
        return Status::ok();
    }));
    n_past_ = h.n_past;
    no_logits_ = NoLogits::StateLoaded;
    return Status::ok();
}

} // namespace infer
