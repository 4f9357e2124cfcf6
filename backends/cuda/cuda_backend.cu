// The CUDA backend: walks the graph launching one kernel (or a few) per node on its stream. All
// device memory is allocated when the context is created: the context's KV cache and arena (the
// same plan as the CPU's, 256-byte aligned), cuBLASLt's workspace, pinned staging for inputs and
// logits; only the MoE expert counters wait for the first run that counts (before any capture).
// Kernel scratch (prefill GEMM operands, flash-decoding partials, the expert FFN's token groups)
// lives in the arena as the nodes' planned scratch tensors, sized by size_scratch().
//
// Mixtures of experts: routing, grouping by expert and the expert matvecs all run on the device
// from the router's output in device memory (cuda_moe_route.cu, cuda_moe_ffn.cu), so the decode
// graph captures them like any other node; each layer's selections are counted on the device and
// added to the context's counters when the run ends (cuda_expert_counts.h).
//
// Decode: the one-token graph reads its token id and position from device memory, so its
// launches are captured once into a CUDA graph and replayed for every step (one launch instead of
// hundreds). Prefill launches node by node and checks the stop signal between nodes.
//
// Matrix-vector products (up to kMatvecMaxTokens rows) take the int8 path where it applies
// (matvec_int8_supported): the input is quantized into a small device buffer allocated at
// start(), once for a run of MatMul nodes reading the same tensor (Q, K, V; gate, up).
// INFER_CUDA_MATVEC=simple selects the simple float matvec everywhere (a fallback, and the
// baseline tests/gpu/run.sh compares against).
#include "cuda/cuda_backend.h"
#include "cuda/cuda_expert_stream.h"

#include "cuda/cuda_activation.h"

#include "core/log.h"
#include "core/types.h"
#include "cuda/cuda_blocks.h"
#include "cuda/cuda_check.h"
#include "cuda/cuda_devices.h"
#include "cuda/cuda_expert_counts.h"
#include "cuda/cuda_gemm.h"
#include "cuda/cuda_int8_dot.h"
#include "cuda/cuda_kernels.h"
#include "cuda/cuda_launch.h"
#include "cuda/cuda_weights.h"
#include "runtime/device_node_checks.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace infer::cuda {
namespace {

using graph::Node;
using graph::Op;

constexpr uint64_t kAlignment = 256;

GluAct act_code(graph::Activation act) {
    switch (act) {
    case graph::Activation::GeluTanh:
        return kGluGeluTanh;
    case graph::Activation::SwigluOai:
        return kGluSwigluOai;
    case graph::Activation::Silu:
        break;
    }
    return kGluSilu;
}

RouteFn route_fn_of(graph::RouteFn fn) {
    switch (fn) {
    case graph::RouteFn::SoftmaxTopK:
        return RouteFn::SoftmaxTopK;
    case graph::RouteFn::Sigmoid:
        return RouteFn::Sigmoid;
    case graph::RouteFn::Softmax:
        break;
    }
    return RouteFn::Softmax;
}

// A stack of experts as the kernels see it, rows at `data` (device memory, or null for sizing).
DeviceExperts experts_of(const graph::WeightRef &w, const uint8_t *data) {
    return {{w.type, w.ne[0], w.ne[1], data, w.row_bytes},
            w.row_bytes * static_cast<uint64_t>(w.ne[1]),
            static_cast<int>(w.ne[2])};
}

// Whether MatMul n computes router logits. The router's top-k is decided by rank, so the fp16
// GEMM's rounding would flip near-tied experts away from the CPU's (and llama.cpp's) choice; a
// router (n_expert rows) takes the f32 matvec in prefill too, at no cost worth a GEMM.
bool feeds_router(const graph::Graph &g, const Node &n) {
    for (const Node &m : g.nodes)
        if (m.op == Op::MoeRoute && m.in[0] == n.out) return true;
    return false;
}

bool uses_gemm(const graph::Graph &g, const Node &n) {
    return n.op == Op::MatMul && g.tensors[n.in[0]].per_token && g.max_tokens > kMatvecMaxTokens &&
           !feeds_router(g, n);
}

// Flash-decoding splits for the one-token graph; prefill has a block per (token, head) already.
int splits_for(const graph::Graph &g, const Node &n, int64_t n_ctx, int n_sm) {
    return g.max_tokens == 1 ? attention_splits(n_ctx, n.n_head, n_sm) : 1;
}

// The cache of the layer a KvStore or Attention node names.
KvArgs kv_args(const KvCacheLayout &kv, int32_t layer) {
    const KvLayerLayout &l = kv.layer(layer);
    return {static_cast<int>(l.n_head_kv),
            static_cast<int>(l.head_dim),
            kv.n_ctx,
            kv.type != 0,
            static_cast<int>(l.value_dim()),
            l.v_in_k};
}

bool graphs_enabled() {
    const char *env = std::getenv("INFER_CUDA_GRAPHS");
    return !(env && std::strcmp(env, "0") == 0);
}

bool int8_matvec_enabled() {
    const char *env = std::getenv("INFER_CUDA_MATVEC");
    return !(env && std::strcmp(env, "simple") == 0);
}

// Device segments of a decode graph captured as CUDA graphs (a split model has one per run of
// device layers; more than this run node by node).
constexpr size_t kMaxCapturedSegments = 256;

// The int8 activation buffer: the longest row the int8 matvec takes, for the most tokens.
const uint64_t kActBufferBytes = act_int8_bytes(kInt8MaxK, kMatvecMaxTokens);

class CudaBackend final : public Backend {
public:
    explicit CudaBackend(const CudaWeights &weights)
        : weights_(weights), use_graphs_(graphs_enabled()), use_int8_(int8_matvec_enabled()) {}

    // BackendConfig::drop_host_pages, for the experts prefill streams from the file.
    void drop_streamed_pages(void (*drop)(const void *, const void *, uint64_t), const void *model) {
        streamer_->drop_sources(drop, model);
    }

    ~CudaBackend() override {
        cudaSetDevice(weights_.device());
        if (stream_) cudaStreamSynchronize(stream_);
        drop_captures();
        gemm_.reset();
        streamer_.reset();
        if (workspace_) {
            cudaFree(workspace_);
            weights_.release(kGemmWorkspaceBytes);
        }
        if (act_) {
            cudaFree(act_);
            weights_.release(kActBufferBytes);
        }
        if (handoff_) cudaEventDestroy(handoff_);
        if (stream_) cudaStreamDestroy(stream_);
    }

    const char *name() const override { return "CUDA"; }
    uint64_t alignment() const override { return kAlignment; }

    void size_scratch(graph::Graph &g, const KvCacheLayout &kv) const override {
        graph::clear_scratch_sizes(g);
        for (const Node &n : g.nodes) {
            if (n.scratch == graph::kNoTensor) continue;
            uint64_t bytes = 0;
            if (uses_gemm(g, n)) bytes = gemm_scratch_bytes(n.w->ne[0], n.w->ne[1], g.max_tokens);
            if (n.op == Op::Attention)
                bytes = attention_scratch_bytes(g.max_tokens, n.n_head,
                                                static_cast<int>(kv.layer(n.layer).value_dim()),
                                                splits_for(g, n, kv.n_ctx, weights_.n_sm()));
            if (n.op == Op::MoeFfn)
                bytes = moe_ffn_scratch_bytes(moe_args(n, nullptr, nullptr, nullptr), g.max_tokens);
            graph::grow_scratch(g, n, bytes);
        }
    }

    Status start() override {
        if (stream_) return Status::ok();
        INFER_CUDA_TRY(cudaSetDevice(weights_.device()));
        INFER_CUDA_TRY(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
        INFER_CUDA_TRY(cudaEventCreateWithFlags(&handoff_, cudaEventDisableTiming));
        captured_.reserve(kMaxCapturedSegments); // capturing at the first decode allocates nothing
        INFER_TRY(weights_.reserve(kGemmWorkspaceBytes, "cuBLASLt's workspace"));
        if (const cudaError_t err = cudaMalloc(&workspace_, kGemmWorkspaceBytes);
            err != cudaSuccess) {
            weights_.release(kGemmWorkspaceBytes);
            workspace_ = nullptr;
            return cuda_error(err, "cudaMalloc(workspace)", __FILE__, __LINE__);
        }
        if (use_int8_) {
            INFER_TRY(weights_.reserve(kActBufferBytes, "the int8 activation buffer"));
            if (const cudaError_t err = cudaMalloc(&act_, kActBufferBytes); err != cudaSuccess) {
                weights_.release(kActBufferBytes);
                act_ = nullptr;
                return cuda_error(err, "cudaMalloc(int8 activations)", __FILE__, __LINE__);
            }
        }
        log_message(INFER_LOG_INFO, "CUDA matvec: %s",
                    use_int8_ ? "int8 (dp4a) where the type allows, else simple" : "simple");
        gemm_ = std::make_unique<Gemm>();
        return gemm_->start(workspace_);
    }

    Status prepare(const BoundGraph &bound) override {
        if (bound.streamed) INFER_TRY(streamer_->prepare(*bound.graph));
        return prepare_counters(counted_slots(bound));
    }

    bool host_memory() const override { return false; }

    Status allocate(MemoryKind kind, uint64_t bytes, uint8_t **out) override {
        INFER_CUDA_TRY(cudaSetDevice(weights_.device()));
        void *p = nullptr;
        if (kind == MemoryKind::Staging) {
            INFER_CUDA_TRY(cudaMallocHost(&p, std::max<uint64_t>(bytes, 1)));
            *out = static_cast<uint8_t *>(p);
            return Status::ok();
        }
        INFER_TRY(weights_.reserve(bytes, "the context (KV cache and activations)"));
        if (const cudaError_t err = cudaMalloc(&p, std::max<uint64_t>(bytes, 1));
            err != cudaSuccess) {
            weights_.release(bytes);
            cudaGetLastError();
            return make_error(
                err == cudaErrorMemoryAllocation ? INFER_ERR_OUT_OF_MEMORY : INFER_ERR_INTERNAL,
                "CUDA: cannot allocate %.1f MiB for the context on device %d: %s",
                static_cast<double>(bytes) / 1048576.0, weights_.device(), cudaGetErrorString(err));
        }
        context_bytes_ = bytes;
        *out = static_cast<uint8_t *>(p);
        return Status::ok();
    }

    void release(MemoryKind kind, uint8_t *memory) override {
        cudaSetDevice(weights_.device());
        if (stream_) cudaStreamSynchronize(stream_);
        if (kind == MemoryKind::Staging) {
            cudaFreeHost(memory);
            return;
        }
        cudaFree(memory);
        weights_.release(context_bytes_);
        context_bytes_ = 0;
    }

    Status copy_in(void *dst, const void *src, uint64_t bytes) override {
        if (!bytes) return Status::ok();
        INFER_CUDA_TRY(cudaSetDevice(weights_.device()));
        INFER_CUDA_TRY(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, stream_));
        return Status::ok();
    }

    Status copy_out(void *dst, const void *src, uint64_t bytes) override {
        if (!bytes) return Status::ok();
        INFER_CUDA_TRY(cudaSetDevice(weights_.device()));
        INFER_CUDA_TRY(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, stream_));
        INFER_CUDA_TRY(cudaStreamSynchronize(stream_));
        return Status::ok();
    }

    uint64_t device_bytes() const override {
        return context_bytes_ + (workspace_ ? kGemmWorkspaceBytes : 0) +
               (act_ ? kActBufferBytes : 0) + counters_.device_bytes() + streamer_->device_bytes();
    }

    Status expert_stream_rate(double *bytes_per_s) override {
        if (!stream_) return make_error(INFER_ERR_INTERNAL, "CUDA backend used before start");
        INFER_CUDA_TRY(cudaSetDevice(weights_.device()));
        return streamer_->copy_rate(stream_, bytes_per_s);
    }

    Status run(const BoundGraph &bound, NodeRange nodes, int64_t n_tokens, KvCache &kv,
               const StopSignal &stop) override {
        const Status queued = queue(bound, nodes, n_tokens, kv, stop);
        const Status finished = finish(bound);
        return !queued.is_ok() ? queued : finished;
    }

    Status queue(const BoundGraph &bound, NodeRange nodes, int64_t n_tokens, KvCache &kv,
                 const StopSignal &stop) override {
        if (!stream_) return make_error(INFER_ERR_INTERNAL, "CUDA backend run before start");
        INFER_CUDA_TRY(cudaSetDevice(weights_.device()));
        if (stop.should_stop()) return make_error(INFER_ERR_CANCELLED, "decode cancelled");
        INFER_TRY(prepare_counters(counted_slots(bound)));
        quantized_input_ = graph::kNoTensor;
        return enqueue_step(bound, nodes, n_tokens, kv, stop);
    }

    Status copy_out_queued(void *dst, const void *src, uint64_t bytes) override {
        if (!bytes) return Status::ok();
        INFER_CUDA_TRY(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, stream_));
        return Status::ok();
    }

    // The handoff to the CPU lane: an event behind the copies, so the host waits for them and
    // not for the device work queued after them.
    Status handoff() override {
        INFER_CUDA_TRY(cudaEventRecord(handoff_, stream_));
        return Status::ok();
    }

    Status wait_handoff() override {
        INFER_CUDA_TRY(cudaEventSynchronize(handoff_));
        return Status::ok();
    }

    Status finish(const BoundGraph &bound) override {
        if (!stream_) return Status::ok();
        INFER_CUDA_TRY(cudaSetDevice(weights_.device()));
        // The selections of whatever ran come back with this run, as the CPU counts them.
        const uint64_t counted = counted_slots(bound);
        const Status read = counted ? counters_.queue_readback(counted, stream_) : Status::ok();
        // Whatever happened, nothing stays queued when finish returns: a fault in a kernel
        // already launched is reported here, not by some later call.
        const Status synced = INFER_CUDA_STATUS(cudaStreamSynchronize(stream_));
        if (counted && read.is_ok() && synced.is_ok())
            counters_.add_to(bound.expert_counts, counted);
        return !read.is_ok() ? read : synced;
    }

private:
    // Expert counting (cuda_expert_counts.h): the counter slots a run of `b` adds to its host
    // counters, 0 when it keeps none.
    static uint64_t counted_slots(const BoundGraph &b) {
        return b.expert_counts ? expert_counter_slots(*b.graph) : 0;
    }

    // Forgets every captured segment (the next decode captures again); keeps the room for them.
    void drop_captures() {
        for (const Captured &c : captured_) cudaGraphExecDestroy(c.exec);
        captured_.clear();
    }

    Status prepare_counters(uint64_t slots) {
        if (!slots) return Status::ok();
        bool moved = false;
        INFER_TRY(counters_.reserve(slots, stream_, &moved));
        if (moved) drop_captures(); // a captured graph holds the old counters' address
        return Status::ok();
    }

    // The kernels' view of a MoeFfn node; null data when only sizing.
    MoeFfnArgs moe_args(const Node &n, const uint8_t *gate, const uint8_t *up,
                        const uint8_t *down) const {
        MoeFfnArgs a{};
        a.gate = experts_of(*n.w, gate);
        a.up = experts_of(*n.w2, up);
        a.down = experts_of(*n.w3, down);
        a.k = n.n_expert_used;
        a.act = act_code(n.act);
        a.int8 = use_int8_;
        return a;
    }

    // Queues one segment's work on the stream: its captured graph for a single-token decode,
    // node by node otherwise.
    Status enqueue_step(const BoundGraph &bound, NodeRange nodes, int64_t n_tokens, KvCache &kv,
                        const StopSignal &stop) {
        const graph::Graph &g = *bound.graph;
        if (use_graphs_ && g.max_tokens == 1 && n_tokens == 1) {
            cudaGraphExec_t exec = nullptr;
            for (const Captured &c : captured_)
                if (c.bound == &bound && c.begin == nodes.begin) exec = c.exec;
            if (!exec && captured_.size() < captured_.capacity())
                INFER_TRY(capture(bound, nodes, kv, &exec));
            if (exec) {
                INFER_CUDA_TRY(cudaGraphLaunch(exec, stream_));
                return Status::ok();
            }
            // More device segments than start() made room for: launched node by node, which
            // allocates nothing either.
        }
        for (int32_t i = nodes.begin; i < nodes.end; ++i) {
            if (stop.should_stop()) return make_error(INFER_ERR_CANCELLED, "decode cancelled");
            INFER_TRY(launch(bound, g.nodes[static_cast<size_t>(i)], n_tokens, kv));
        }
        return Status::ok();
    }

    // Records one segment of the decode graph into a CUDA graph, instantiated once per context
    // and segment: the bound pointers and the KV cache do not move.
    Status capture(const BoundGraph &bound, NodeRange nodes, KvCache &kv, cudaGraphExec_t *out) {
        INFER_CUDA_TRY(cudaStreamBeginCapture(stream_, cudaStreamCaptureModeThreadLocal));
        Status launched = Status::ok();
        for (int32_t i = nodes.begin; i < nodes.end && launched.is_ok(); ++i)
            (void)(launched = launch(bound, bound.graph->nodes[static_cast<size_t>(i)], 1, kv));
        cudaGraph_t graph = nullptr;
        const cudaError_t ended = cudaStreamEndCapture(stream_, &graph);
        if (!launched.is_ok()) {
            if (graph) cudaGraphDestroy(graph);
            cudaGetLastError(); // the capture's own error is this one's consequence
            return launched;
        }
        INFER_CUDA_TRY(ended);
        cudaGraphExec_t exec = nullptr;
        const cudaError_t made = cudaGraphInstantiate(&exec, graph, 0);
        cudaGraphDestroy(graph);
        INFER_CUDA_TRY(made);
        captured_.push_back({&bound, nodes.begin, exec});
        *out = exec;
        return Status::ok();
    }

    Status matrix(const graph::WeightRef &w, DeviceMatrix *out) const {
        const uint8_t *data = weights_.find(w.data);
        if (!data)
            return make_error(INFER_ERR_INTERNAL, "tensor '%.*s' is not on the device",
                              static_cast<int>(w.name.size()), w.name.data());
        *out = {w.type, w.ne[0], w.ne[1], data, w.row_bytes};
        return Status::ok();
    }

    // A node's optional f32 weight (norm scale, bias, RoPE factors): null when the node has none;
    // an error when it has one that is not on the device (a null would read as "none").
    Status f32_weight(const graph::WeightRef *w, const float **out) const {
        *out = nullptr;
        if (!w) return Status::ok();
        *out = reinterpret_cast<const float *>(weights_.find(w->data));
        if (!*out)
            return make_error(INFER_ERR_INTERNAL, "tensor '%.*s' is not on the device",
                              static_cast<int>(w->name.size()), w->name.data());
        return Status::ok();
    }

    Status launch(const BoundGraph &b, const Node &n, int64_t n_tokens, KvCache &kv) {
        const graph::Graph &g = *b.graph;
        auto f32 = [&](graph::TensorId id) { return reinterpret_cast<float *>(b.tensor_data[id]); };
        auto i32 = [&](graph::TensorId id) {
            return reinterpret_cast<int32_t *>(b.tensor_data[id]);
        };
        auto rows_of = [&](graph::TensorId id) { return g.tensors[id].per_token ? n_tokens : 1; };
        const int64_t n_out = n.out == graph::kNoTensor ? 0 : rows_of(n.out) * g.tensors[n.out].n;
        // The int8 activations stay valid only across consecutive int8 MatMuls: any other node
        // may reuse the memory of the tensor they were made from.
        if (n.op != Op::MatMul) quantized_input_ = graph::kNoTensor;
        switch (n.op) {
        case Op::Embed: {
            DeviceMatrix w{};
            INFER_TRY(matrix(*n.w, &w));
            return embed(w, i32(n.in[0]), n_tokens, n.scale, f32(n.out), stream_);
        }
        case Op::RmsNorm: {
            const float *weight = nullptr;
            INFER_TRY(f32_weight(n.w, &weight));
            return rms_norm(f32(n.out), f32(n.in[0]), weight, n_out / n.group, n.group, n.eps,
                            stream_);
        }
        case Op::MatMul: {
            DeviceMatrix w{};
            INFER_TRY(matrix(*n.w, &w));
            const float *bias = nullptr;
            INFER_TRY(f32_weight(n.w2, &bias));
            const int64_t rows = rows_of(n.in[0]);
            if (rows <= kMatvecMaxTokens && act_ && matvec_int8_supported(w)) {
                if (quantized_input_ != n.in[0] || quantized_rows_ != rows) {
                    INFER_TRY(quantize_act_int8(f32(n.in[0]), w.k, rows, act_, stream_));
                    quantized_input_ = n.in[0];
                    quantized_rows_ = rows;
                }
                return matvec_int8(w, act_, rows, bias, f32(n.out), stream_);
            }
            quantized_input_ = graph::kNoTensor;
            if (rows <= kMatvecMaxTokens || !uses_gemm(g, n))
                return matvec_batched(w, f32(n.in[0]), rows, bias, f32(n.out), stream_);
            INFER_TRY(gemm_->matmul(w, f32(n.in[0]), rows, f32(n.out), b.tensor_data[n.scratch],
                                    stream_));
            return bias ? add_rows(f32(n.out), bias, rows, w.n, stream_) : Status::ok();
        }
        case Op::Add:
            return add(f32(n.out), f32(n.in[0]), f32(n.in[1]), n_out, stream_);
        case Op::Scale:
            return scale(f32(n.out), f32(n.in[0]), n.scale, n_out, stream_);
        case Op::Rope: {
            const auto *factors =
                n.freq_factors ? reinterpret_cast<const float *>(weights_.find(n.freq_factors))
                               : nullptr;
            if (n.freq_factors && !factors)
                return make_error(INFER_ERR_INTERNAL,
                                  "RoPE frequency factors are not on the device");
            const RopeArgs a{
                n.n_head,
                n.head_dim,
                n.n_rot,
                std::pow(n.freq_base, -2.0f / static_cast<float>(n.n_rot)),
                n.freq_scale,
                factors,
                n.rope_mode == graph::RopeMode::Neox,
                {n.yarn.ext_factor, n.yarn.attn_factor, n.yarn.corr_dims[0], n.yarn.corr_dims[1]}};
            return rope(f32(n.out), i32(n.in[1]), n_tokens, a, stream_);
        }
        case Op::KvStore: // keys alone (v_in_k): no value input
            return kv_store(kv.k(n.layer), kv.v(n.layer), f32(n.in[0]),
                            n.in[1] == graph::kNoTensor ? nullptr : f32(n.in[1]), i32(n.in[2]),
                            n_tokens, kv_args(kv.layout, n.layer), stream_);
        case Op::Attention: {
            const auto *sinks =
                n.sinks ? reinterpret_cast<const float *>(weights_.find(n.sinks)) : nullptr;
            if (n.sinks && !sinks)
                return make_error(INFER_ERR_INTERNAL, "attention sinks are not on the device");
            const AttentionArgs a{n.n_head,
                                  n.scale,
                                  n.softcap,
                                  n.window,
                                  splits_for(g, n, kv.layout.n_ctx, weights_.n_sm()),
                                  sinks};
            return attention(f32(n.out), f32(n.in[0]), kv.k(n.layer), kv.v(n.layer), i32(n.in[1]),
                             n_tokens, kv_args(kv.layout, n.layer), a, b.tensor_data[n.scratch],
                             stream_);
        }
        case Op::Glu:
            return glu(f32(n.out), f32(n.in[0]), f32(n.in[1]), n_out, act_code(n.act), stream_);
        case Op::MoeRoute: {
            RouteArgs a{n.n_expert, n.n_expert_used, n.norm_weights, route_fn_of(n.route_fn)};
            INFER_TRY(f32_weight(n.w, &a.bias));
            a.n_group = n.n_group;
            a.n_group_used = n.n_group_used;
            a.scale = n.route_scale;
            return moe_route(f32(n.in[0]), rows_of(n.in[0]), a, i32(n.out), f32(n.out2), stream_);
        }
        case Op::MoeFfn: {
            DeviceMatrix gate{}, up{}, down{};
            INFER_TRY(matrix(*n.w, &gate));
            INFER_TRY(matrix(*n.w2, &up));
            INFER_TRY(matrix(*n.w3, &down));
            unsigned long long *counts =
                b.expert_counts && n.layer >= 0 ? counters_.layer(n) : nullptr;
            MoeFfnArgs args = moe_args(n, gate.data, up.data, down.data);
            // Bias rows follow the weights: by expert, or packed by slot like them.
            INFER_TRY(f32_weight(n.expert_bias[0], &args.gate.bias));
            INFER_TRY(f32_weight(n.expert_bias[1], &args.up.bias));
            INFER_TRY(f32_weight(n.expert_bias[2], &args.down.bias));
            if (n.expert_slot) { // a subset: the resident experts, packed by slot
                if (!n.experts_resident)
                    return make_error(INFER_ERR_UNSUPPORTED,
                                      "MoeFfn (layer %d): the CUDA backend computes only the "
                                      "experts it holds",
                                      n.layer);
                if (const uint8_t *streamed = b.streamed ? b.streamed->layer(n.layer) : nullptr)
                    return streamer_->run(n, args, streamed, f32(n.in[0]), i32(n.in[1]),
                                          f32(n.in[2]), rows_of(n.in[0]), f32(n.out),
                                          b.tensor_data[n.scratch], counts, stream_);
                args.slot = reinterpret_cast<const int32_t *>(weights_.find(n.expert_slot));
                if (!args.slot) {
                    // Only a layer with resident experts has its table here; one without
                    // (a node for prefill streaming) adds nothing when nothing is streamed.
                    if (std::any_of(n.expert_slot, n.expert_slot + n.n_expert,
                                    [](int32_t s) { return s >= 0; }))
                        return make_error(INFER_ERR_INTERNAL,
                                          "layer %d's expert slots are not on the device", n.layer);
                    INFER_CUDA_TRY(cudaMemsetAsync(f32(n.out), 0,
                                                   static_cast<size_t>(rows_of(n.out) * g.tensors[n.out].n) * sizeof(float),
                                                   stream_));
                    return Status::ok();
                }
            }
            return moe_ffn(args, f32(n.in[0]), i32(n.in[1]),
                           f32(n.in[2]), rows_of(n.in[0]), f32(n.out), b.tensor_data[n.scratch],
                           counts, stream_);
        }
        case Op::SigmoidGate:
            return sigmoid_gate(f32(n.out), f32(n.in[0]), f32(n.in[1]), rows_of(n.out),
                                g.tensors[n.out].n, stream_);
        case Op::Slice:
            return slice_heads(f32(n.out), f32(n.in[0]), rows_of(n.out), g.tensors[n.in[0]].n,
                               n.n_head, n.head_dim, n.stride, n.offset, stream_);
        case Op::Concat:
            return concat_heads(f32(n.out), f32(n.in[0]), f32(n.in[1]), rows_of(n.out), n.n_head,
                                static_cast<int>(g.tensors[n.in[0]].n / n.n_head),
                                static_cast<int>(g.tensors[n.in[1]].n / n.n_head), stream_);
        case Op::HeadMatMul: {
            DeviceMatrix w{};
            INFER_TRY(matrix(*n.w, &w));
            return head_matvec(w, w.row_bytes * static_cast<uint64_t>(w.n),
                               static_cast<int>(n.w->ne[2]), f32(n.in[0]), g.tensors[n.in[0]].n,
                               n.stride, rows_of(n.in[0]), f32(n.out), stream_);
        }
        case Op::SelectLast: {
            const int64_t width = g.tensors[n.out].n;
            INFER_CUDA_TRY(cudaMemcpyAsync(f32(n.out), f32(n.in[0]) + (n_tokens - 1) * width,
                                           static_cast<size_t>(width) * sizeof(float),
                                           cudaMemcpyDeviceToDevice, stream_));
            return Status::ok();
        }
        }
        return make_error(INFER_ERR_UNSUPPORTED, "the CUDA backend has no kernel for %s",
                          graph::op_name(n.op));
    }

    const CudaWeights &weights_;
    const bool use_graphs_, use_int8_;
    void *act_ = nullptr; // int8 activations (kActBufferBytes), when use_int8_
    // The tensor (and rows) act_ holds, or kNoTensor.
    graph::TensorId quantized_input_ = graph::kNoTensor;
    int64_t quantized_rows_ = 0;
    cudaStream_t stream_ = nullptr;
    cudaEvent_t handoff_ = nullptr;
    void *workspace_ = nullptr;
    std::unique_ptr<Gemm> gemm_;
    uint64_t context_bytes_ = 0;
    // The decode graph's device segments, captured at their first run.
    struct Captured {
        const BoundGraph *bound;
        int32_t begin;
        cudaGraphExec_t exec;
    };
    std::vector<Captured> captured_;
    ExpertCounters counters_{weights_};
    // Freed in the destructor before the stream its copies ran on.
    std::unique_ptr<ExpertStreamer> streamer_ = std::make_unique<ExpertStreamer>(weights_);
};

} // namespace

// What the CUDA kernels take (runtime/device_node_checks.h).
const DeviceKernelLimits kLimits{.backend = "CUDA",
                                 .type_readable = block_type_supported,
                                 .max_head_dim = kMaxHeadDim,
                                 .max_experts = kMaxExperts,
                                 .max_tokens = kMaxTokensPerRun,
                                 .rope_yarn = true,
                                 .attention_sinks = true,
                                 .routing_general = true,
                                 .swiglu_oai_and_expert_biases = true,
                                 .latent_attention = true};

Status supports_node(const Node &n, const graph::Graph &g) {
    return check_device_node(kLimits, n, g);
}

Status check_graph(const graph::Graph &g) {
    for (const Node &n : g.nodes)
        INFER_TRY(supports_node(n, g));
    return Status::ok();
}

} // namespace infer::cuda

namespace infer::cuda {
namespace {

Status make_from_config(const BackendConfig &config, std::unique_ptr<Backend> *out) {
    if (!config.weights)
        return make_error(INFER_ERR_INTERNAL, "a CUDA backend needs the model's device weights");
    auto backend = std::make_unique<CudaBackend>(static_cast<const CudaWeights &>(*config.weights));
    backend->drop_streamed_pages(config.drop_host_pages, config.model);
    *out = std::move(backend);
    return Status::ok();
}

} // namespace

BackendEntry backend_entry() {
    BackendEntry e;
    e.id = INFER_BACKEND_CUDA;
    e.name = "CUDA";
    e.is_device = true;
    e.device_count = device_count;
    e.memory_info = memory_info;
    e.describe = describe;
    e.upload_weights = upload_weights;
    e.make_backend = make_from_config;
    e.supports = supports_node;
    return e;
}

} // namespace infer::cuda
