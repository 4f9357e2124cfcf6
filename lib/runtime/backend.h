// What the executor needs from a backend, and nothing more: check that it can run a graph, size
// the kernels' scratch, and run the graph over planned memory. Backends live in backends/ and
// know nothing of models; models never name a backend.
#pragma once

#include "core/status.h"
#include "graph/graph.h"
#include "runtime/kv_cache.h"

#include <atomic>
#include <memory>
#include <cstdint>
#include <vector>

namespace infer {

// Where each tensor of a graph lives for one run: pointers into the planned arena.
struct BoundGraph {
    const graph::Graph *graph = nullptr;
    std::vector<uint8_t *> tensor_data; // per TensorId (aliases resolved); null for no storage
    // Expert selection counters [layer][n_expert] that MoeFfn nodes add to, or null.
    uint64_t *expert_counts = nullptr;
};

// Checked between nodes; a set flag stops the run with INFER_ERR_CANCELLED.
struct StopSignal {
    std::atomic<bool> *cancel = nullptr;
    int32_t (*abort_fn)(void *) = nullptr;
    void *abort_user_data = nullptr;

    bool should_stop() const {
        if (cancel && cancel->load(std::memory_order_relaxed)) return true;
        return abort_fn && abort_fn(abort_user_data) != 0;
    }
};

class Backend {
public:
    virtual ~Backend() = default;
    virtual const char *name() const = 0;
    virtual uint64_t alignment() const = 0;
    // A clear error naming the tensor or op this backend cannot run.
    virtual Status check(const graph::Graph &graph) const = 0;
    // Acquires run-time resources (threads, streams) once, so that run() allocates nothing.
    virtual Status start() = 0;
    // Sets raw_bytes of every node's scratch tensor (before planning).
    virtual void size_scratch(graph::Graph &graph, const KvCacheLayout &kv) const = 0;
    // Runs the graph for n_tokens (1..graph.max_tokens) tokens whose ids and positions the
    // caller already wrote into the input tensors. Allocates nothing.
    virtual Status run(const BoundGraph &bound, int64_t n_tokens, KvCache &kv,
                       const StopSignal &stop) = 0;
};

} // namespace infer

namespace infer {

// Defined by backends/cpu. Threads start in start(), so a backend made only to plan memory or
// check a graph costs nothing.
//
// kernels: Fast (SIMD, threaded) or Reference: the readable scalar *_ref kernel of every op on
// one thread, for tests that hold the fast paths to it. Reference runs allocate (some _ref
// kernels do); they are never used outside tests.
enum class CpuKernels { Fast, Reference };
std::unique_ptr<Backend> make_cpu_backend(int32_t n_threads, CpuKernels kernels = CpuKernels::Fast);

// n_threads, or one per core when it is 0.
int32_t resolve_thread_count(int32_t n_threads);

} // namespace infer
