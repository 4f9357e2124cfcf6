// MoE expert-selection counters on the device. The expert FFN kernel adds each layer's selections
// to device memory (no host round trip inside a step, so the captured decode graph counts too);
// after each run the backend copies them out, adds them to the context's host counters
// (BoundGraph::expert_counts, [layer][n_expert] as the CPU keeps them) and clears them, in the
// same stream synchronization that ends the run. The device array and its pinned host copy are
// allocated by the first run that counts, before anything is captured; a step allocates nothing.
#pragma once

#include "core/status.h"
#include "cuda/cuda_weights.h"
#include "graph/graph.h"

#include <cstdint>
#include <cuda_runtime.h>

namespace infer::cuda {

using graph::expert_counter_slots;

class ExpertCounters {
public:
    explicit ExpertCounters(const CudaWeights &weights) : weights_(weights) {}
    ~ExpertCounters();
    ExpertCounters(const ExpertCounters &) = delete;
    ExpertCounters &operator=(const ExpertCounters &) = delete;

    // Room for `slots` counters, zeroed on `stream` (idle: between runs). *moved is set when the
    // device array changed address, so a CUDA graph holding the old one must be captured again.
    Status reserve(uint64_t slots, cudaStream_t stream, bool *moved);
    // The device counters of MoeFfn node n's layer (after reserve).
    unsigned long long *layer(const graph::Node &n) const {
        return device_ + static_cast<int64_t>(n.layer) * n.n_expert;
    }
    // Queues the copy of the first `slots` counters to the host and their reset to zero.
    Status queue_readback(uint64_t slots, cudaStream_t stream);
    // Once the stream has synchronized: host[i] += the read-back counter i, i < slots.
    void add_to(uint64_t *host, uint64_t slots) const;
    uint64_t device_bytes() const { return capacity_ * sizeof(unsigned long long); }

private:
    void free_all();

    const CudaWeights &weights_;
    unsigned long long *device_ = nullptr;
    unsigned long long *host_ = nullptr; // pinned
    uint64_t capacity_ = 0;
};

} // namespace infer::cuda
