// What the executor needs from a backend, and nothing more: size the kernels' scratch, hold
// context memory, and run a range of a graph's nodes over planned memory. Which nodes a backend
// can run, and how it is made, is its registry entry's job (runtime/backend_registry.h).
// Backends live in backends/ and know nothing of models; models never name a backend.
#pragma once

#include "core/status.h"
#include "graph/graph.h"
#include "runtime/kv_cache.h"

#include <atomic>
#include <functional>
#include <memory>
#include <cstdint>
#include <vector>

namespace infer {

// Prefill streaming (runtime/expert_streaming.h): the experts of the split layers that the device
// copies in and computes in this run, instead of the CPU. Written by the context before a run.
struct StreamedExperts {
    int32_t n_layer = 0, n_expert = 0;
    std::vector<uint8_t> mask; // [layer * n_expert + e]: 1 when the device streams e this run
    std::vector<uint8_t> any;  // [layer]: some expert of the layer is streamed
    // Layer l's mask, or null when it streams nothing.
    const uint8_t *layer(int32_t l) const {
        return l >= 0 && l < n_layer && any[static_cast<size_t>(l)]
                   ? mask.data() + static_cast<size_t>(l) * static_cast<size_t>(n_expert)
                   : nullptr;
    }
};

// Where each tensor of a graph lives for one run: pointers into the planned arena.
struct BoundGraph {
    const graph::Graph *graph = nullptr;
    std::vector<uint8_t *> tensor_data; // per TensorId (aliases resolved); null for no storage
    // Expert selection counters [layer][n_expert] that MoeFfn nodes add to, or null.
    uint64_t *expert_counts = nullptr;
    // Seconds the CPU spends in MoeFfn nodes (each from its start to the barrier that ends it,
    // the CPU expert lane of a step), added to by the CPU backend, or null: not timed.
    double *moe_ffn_seconds = nullptr;
    // The experts streamed in this run (multi-token graphs of a split model), or null: none.
    const StreamedExperts *streamed = nullptr;
};

// A run of consecutive nodes, by index in Graph::nodes.
struct NodeRange {
    int32_t begin = 0, end = 0;
};

// Checked between nodes; a set flag stops the run with INFER_ERR_CANCELLED.
struct StopSignal {
    std::atomic<bool> *cancel = nullptr;
    int32_t (*abort_fn)(void *) = nullptr;
    void *abort_user_data = nullptr;

    // True when the run must stop. A cancel is consumed by the check that sees it (so it stops
    // exactly one run); the abort callback is asked only when no cancel is pending.
    bool should_stop() const {
        if (cancel && cancel->load(std::memory_order_relaxed) &&
            cancel->exchange(false, std::memory_order_relaxed))
            return true;
        return abort_fn && abort_fn(abort_user_data) != 0;
    }
};

// Where a context's memory lives. Context: the KV cache and the planned arena (one allocation).
// Staging: host memory the backend can copy from and to quickly (pinned on CUDA), for the token
// ids and positions going in and the logits coming out.
enum class MemoryKind { Context, Staging };

// Weights a device backend copied at model load; owned by the model, freed with it. Only the
// backend that made them knows their concrete type.
class DeviceWeights {
public:
    virtual ~DeviceWeights() = default;
    virtual uint64_t bytes() const = 0;
};

// A device's memory account for one model: the budget from infer_model_params
// (device_memory_budget; 0: none) against the bytes its weights and contexts hold, so that what
// would exceed it fails with INFER_ERR_OUT_OF_MEMORY naming the bytes. Thread-safe: contexts of
// one model may be created on several threads. Device backends' weights keep one.
class DeviceMemoryAccount {
public:
    explicit DeviceMemoryAccount(uint64_t budget) : budget_(budget) {}
    // Takes `bytes` more for `what` (named in the error), or fails leaving the account as it was.
    Status reserve(uint64_t bytes, const char *what);
    void release(uint64_t bytes) { used_.fetch_sub(bytes); }
    // What the budget has left (the most a reserve() can take now); UINT64_MAX without one.
    uint64_t available() const;

private:
    uint64_t budget_;
    std::atomic<uint64_t> used_{0};
};

class Backend {
public:
    virtual ~Backend() = default;
    virtual const char *name() const = 0;
    virtual uint64_t alignment() const = 0;
    // Acquires run-time resources (threads, streams) once, so that run() allocates nothing.
    virtual Status start() = 0;
    // Acquires what runs of one bound graph need (after start(), once per graph of a context,
    // before its first run), so that the first run allocates nothing either.
    virtual Status prepare(const BoundGraph &) { return Status::ok(); }
    // Sets raw_bytes of every node's scratch tensor (before planning).
    virtual void size_scratch(graph::Graph &graph, const KvCacheLayout &kv) const = 0;
    // Runs nodes [nodes.begin, nodes.end) of the graph (one segment: every node of it this
    // backend's) for n_tokens (1..graph.max_tokens) tokens whose inputs the caller already
    // wrote. Complete when it returns. Allocates nothing.
    virtual Status run(const BoundGraph &bound, NodeRange nodes, int64_t n_tokens, KvCache &kv,
                       const StopSignal &stop) = 0;

    // Overlap of a device with the CPU (a graph split across them): queue() starts a segment and
    // may return before it completes; copy_out_queued() queues a copy to host memory behind it;
    // handoff() marks the point the host will wait for, and wait_handoff() waits for the last
    // mark only (not for work queued after it, which keeps running: the device lane of a split
    // MoE layer runs while the CPU computes its experts). finish() completes everything queued
    // and reports its errors. The defaults are synchronous: run, copy_out, nothing to wait for.
    virtual Status queue(const BoundGraph &bound, NodeRange nodes, int64_t n_tokens, KvCache &kv,
                         const StopSignal &stop) {
        return run(bound, nodes, n_tokens, kv, stop);
    }
    virtual Status copy_out_queued(void *dst, const void *src, uint64_t bytes) {
        return copy_out(dst, src, bytes);
    }
    virtual Status handoff() { return Status::ok(); }
    virtual Status wait_handoff() { return Status::ok(); }
    virtual Status finish(const BoundGraph &) { return Status::ok(); }

    // Context memory. The defaults are the CPU's: 64-byte aligned host memory that the context
    // reads and writes in place (host_memory() true: no copies, caller buffers allowed). A device
    // backend returns device memory and moves inputs, logits and saved state through copy_in
    // (host -> context memory, ordered before the next run) and copy_out (context memory ->
    // host, complete when it returns).
    virtual bool host_memory() const { return true; }
    virtual Status allocate(MemoryKind kind, uint64_t bytes, uint8_t **out);
    virtual void release(MemoryKind kind, uint8_t *memory);
    virtual Status copy_in(void *dst, const void *src, uint64_t bytes);
    virtual Status copy_out(void *dst, const void *src, uint64_t bytes);
    // Bytes this backend holds on a device for its context (context memory, workspaces).
    virtual uint64_t device_bytes() const { return 0; }
    // Prefill streaming (runtime/expert_streaming.h): the rate at which this backend copies
    // expert weights from the mapped model into its memory, measured once per process and
    // device, after a prepare() of a graph with BoundGraph::streamed set; 0 when it cannot
    // stream experts.
    virtual Status expert_stream_rate(double *bytes_per_s) {
        *bytes_per_s = 0;
        return Status::ok();
    }
};

} // namespace infer

namespace infer {

// Which kernels the CPU backend runs: Fast (SIMD, threaded) or Reference, the readable scalar
// *_ref kernel of every op on one thread, for tests that hold the fast paths to it. Reference runs
// allocate (some _ref kernels do); they are never used outside tests.
enum class CpuKernels { Fast, Reference };

// n_threads, or one per core when it is 0.
int32_t resolve_thread_count(int32_t n_threads);

} // namespace infer
