// A context: the static memory plan for a model, the memory it needs (allocated once or
// provided by the caller), the KV cache of one sequence, and decoding over it.
//
// A model placed across the CPU and a device (runtime/placement.h) runs each graph as segments
// (runtime/segments.h): each side has its own backend, KV cache layers and planned arena, and the
// activations crossing between them live on both sides (the host copy in pinned transfer memory).
// Every byte is planned and allocated at creation; decoding allocates nothing.
#pragma once

#include "core/status.h"
#include "graph/planner.h"
#include "runtime/backend.h"
#include "runtime/expert_streaming.h"
#include "runtime/model.h"
#include "runtime/placement.h"
#include "runtime/segments.h"

#include <algorithm>
#include <atomic>
#include <memory>
#include <span>
#include <vector>

namespace infer {

struct ContextParams {
    int64_t n_ctx = 0;   // 0: the model's training length, at most kDefaultMaxCtx
    int64_t n_batch = 512;
    int32_t n_threads = 0; // 0: one per core
    uint32_t kv_type = 1;  // 1 F16, 0 F32
    bool logits_all = false;
    int32_t (*abort_fn)(void *) = nullptr;
    void *abort_user_data = nullptr;
    void *buffer = nullptr; // caller memory, or null
    uint64_t buffer_size = 0;
    ExpertPrefill expert_prefill = ExpertPrefill::Auto; // prefill streaming (expert_streaming.h)
    CpuKernels kernels = CpuKernels::Fast; // tests only: not in the C API

    static constexpr int64_t kDefaultMaxCtx = 4096;
    // The limits the C API documents (include/infer.h, infer_context_params).
    static constexpr int64_t kMaxCtx = int64_t{1} << 24;
    static constexpr int64_t kDefaultBatch = 512;
    static constexpr int64_t kMaxBatch = 65536;
    static constexpr int32_t kMaxThreads = 1024;
};

// The sides of a context: the host (the CPU backend) and at most one device.
enum Side : uint8_t { kHost = 0, kDevice = 1 };

// One side's memory: its layers' KV cache, then the arena both graphs' plans share.
struct SideMemory {
    Plan decode_plan, prefill_plan;
    uint64_t kv_bytes = 0, arena_offset = 0, arena_bytes = 0, lower_bound = 0, total_bytes = 0;
};

// How one graph runs: each node's side and the segments.
struct GraphSplit {
    NodeAssignment nodes;
    SegmentPlan segments;
};

// Everything a context's memory depends on, computed without allocating it.
struct ContextPlan {
    ContextParams params;  // with defaults resolved
    graph::Graph decode;   // one token
    graph::Graph prefill;  // up to n_batch tokens
    GraphSplit decode_split, prefill_split;
    // Prefill streaming: the layers whose expert node runs on the device in the prefill graph
    // (it may stream their experts); empty when the context cannot stream.
    std::vector<uint8_t> stream_layers;
    KvCacheLayout kv;
    std::vector<uint8_t> kv_on_device; // [n_layer]
    // host: the CPU's tensors and KV layers; device: the device's; transfer: the host copies of
    // tensors both sides touch (pinned memory of the device's), no KV.
    SideMemory host, device, transfer;
    // Totals over the sides, for the memory report.
    uint64_t arena_bytes = 0;
    uint64_t lower_bound = 0; // per side, the larger of the two graphs' live-bytes peaks
    uint64_t total_bytes = 0;
};

// The backends a context runs on: the CPU's always, the model's device's when nodes run there.
struct ContextBackends {
    std::unique_ptr<Backend> host, device;
};

class Context {
public:
    static constexpr uint64_t kBufferAlignment = 64;

    // Plans for `model` and `params` on `backends` (which size the kernels' scratch).
    static Status plan(const Model &model, const ContextParams &params,
                       const ContextBackends &backends, ContextPlan *out);
    static Status create(const Model &model, const ContextParams &params,
                         std::unique_ptr<Context> *out);
    // The backends a context of `model` runs on (made, not started: that costs nothing).
    static Status make_backends(const Model &model, const ContextParams &params,
                                ContextBackends *out);
    ~Context();

    Status decode(std::span<const int32_t> tokens);
    // Logits of token `index` of the last decode call (-1: its last token), when that call
    // completed and kept them: all of its tokens' with logits_all, else its last token's only.
    Status logits(int32_t index, const float **out) const;
    int64_t n_vocab() const { return model_.hparams().n_vocab; }
    const Model &model() const { return model_; }

    // A pending cancel stops the running decode, or the next one, at a node boundary, and is
    // consumed by it. Safe from any thread (and a signal handler: a lock-free atomic store).
    void cancel() { cancel_.store(true, std::memory_order_relaxed); }
    void clear_cancel() { cancel_.store(false, std::memory_order_relaxed); }
    int64_t position() const { return n_past_; }
    int64_t n_ctx() const { return plan_.kv.n_ctx; }
    void reset() {
        n_past_ = 0;
        no_logits_ = NoLogits::Reset;
    }
    Status truncate(int64_t n_keep);

    uint64_t state_size() const;
    Status state_save(std::span<uint8_t> out, uint64_t *written) const;
    Status state_load(std::span<const uint8_t> in);

    struct Stats {
        uint64_t prefill_tokens = 0, decode_tokens = 0;
        double prefill_seconds = 0, decode_seconds = 0;
        uint64_t weight_bytes_per_token = 0; // routed experts: only the k a token selects
        uint64_t expert_bytes_per_token = 0; // the routed experts' share of it
        uint64_t device_bytes = 0; // weights, context and workspaces on the device; 0 on the CPU
        // Seconds the CPU spent in MoeFfn nodes (the CPU expert lane), of decode and prefill.
        double decode_cpu_expert_seconds = 0, prefill_cpu_expert_seconds = 0;
        // Waits of the CPU for a device's copies (split placements), and their seconds.
        uint64_t handoffs = 0;
        double handoff_wait_seconds = 0;
        // Prefill streaming: expert bytes copied to the device, and (layer, expert) copies.
        uint64_t prefill_streamed_bytes = 0, prefill_streamed_experts = 0;
    };
    const Stats &stats() const { return stats_; }
    void reset_stats();

    // How often each routed expert ran since creation or the last reset: [layer][n_expert],
    // one count per (token, slot). Empty for a dense model. Counted by the kernels into this
    // array, which is allocated at creation, so decoding still allocates nothing.
    std::span<const uint64_t> expert_counts() const { return expert_counts_; }
    void reset_expert_counts() { std::fill(expert_counts_.begin(), expert_counts_.end(), 0); }
    const ContextPlan &memory_plan() const { return plan_; }

private:
    Context(const Model &model, ContextBackends backends);
    Status allocate(const ContextParams &params);
    // Points each side's view of `graph` at its arenas.
    void bind(const graph::Graph &graph, const GraphSplit &split, bool decode, BoundGraph out[2]);
    Status run_chunk(std::span<const int32_t> tokens);
    // Prefill streaming: asks the device backend for its copy rate and, for Auto, this machine's
    // CPU expert costs; leaves streaming off (streaming_ false) when the backend cannot stream.
    Status start_streaming();
    // Chooses the experts a run of n tokens streams (prefill_bound_ points at streamed_).
    void choose_streamed(int64_t n);
    Status run_segments(const BoundGraph bound[2], const GraphSplit &split, int64_t n,
                        const StopSignal &stop);
    Status write_input(const BoundGraph bound[2], const GraphSplit &split, graph::TensorId id,
                       const int32_t *values, int64_t n, int32_t *staged);
    Backend &kv_backend(int64_t layer) const;

    // Why logits() has nothing to give, or Kept: the last decode call completed.
    enum class NoLogits { Kept, NothingDecoded, Reset, Truncated, StateLoaded, Cancelled, Failed };
    Status no_logits_error() const;

    const Model &model_;
    Backend *backend_[2] = {nullptr, nullptr}; // by Side; device null without one
    ContextBackends owned_;
    ContextPlan plan_;
    uint8_t *memory_[2] = {nullptr, nullptr}; // each side's total_bytes
    bool owns_host_memory_ = false;
    // With a device: pinned memory for the transfer arena, then staging for token ids and
    // positions (n_batch each) and the logits of the last decode.
    uint8_t *staging_ = nullptr;
    uint8_t *transfer_ = nullptr;
    int32_t *staged_tokens_ = nullptr, *staged_positions_ = nullptr;
    float *staged_logits_ = nullptr;
    std::vector<int32_t> position_values_; // n_batch: the positions of the chunk being run
    // The last chunk's logits (rows: its tokens with logits_all, else 1), in the arena or in
    // staging. A cancelled or failed chunk may have overwritten them: no_logits_ says when
    // they belong to a completed call.
    const float *logits_ = nullptr;
    KvCache kv_;
    BoundGraph decode_bound_[2], prefill_bound_[2]; // by Side
    NoLogits no_logits_ = NoLogits::NothingDecoded;
    int64_t call_tokens_ = 0; // tokens of the last decode call
    int64_t call_done_ = 0;   // of them, those in chunks that completed
    int64_t n_past_ = 0;
    std::atomic<bool> cancel_{false};
    Stats stats_;
    std::vector<uint64_t> expert_counts_;
    bool streaming_ = false;
    StreamingModel streaming_model_;
    StreamedExperts streamed_; // sized at creation: choosing allocates nothing
    std::vector<uint64_t> layer_expert_bytes_; // [layer]: one expert's bytes, for the stats
};

} // namespace infer
