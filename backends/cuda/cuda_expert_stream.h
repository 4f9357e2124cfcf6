// Prefill streaming on CUDA: a layer's resident experts and the non-resident ones chosen for this
// run (runtime/expert_streaming.h decides which; BoundGraph::streamed carries it) computed on the
// device. The streamed experts go in batches of at most slots() experts: each batch's gate, up
// and down slices (and their bias rows, gpt-oss) are copied from the mapped file through pinned
// buffers (cuda_pinned_copy.h) into one staging stack per matrix, with the batch's slot table (the
// resident slots in the first batch only, staged_slot(i) for its streamed experts, kCpuExpert for
// the rest), then moe_ffn runs, adding into y after the first batch. One stream orders it all, so a
// batch's copies wait for the previous batch's kernels; the host fills the next pinned buffer while
// a copy crosses the bus. Staging is allocated at prepare() (counted against the model's device
// budget), so a run allocates nothing.
#pragma once

#include "cuda/cuda_kernels.h"
#include "cuda/cuda_pinned_copy.h"
#include "cuda/cuda_weights.h"
#include "graph/graph.h"

#include <cstdint>
#include <vector>

namespace infer::cuda {

class ExpertStreamer {
public:
    // Staging for all three stacks: enough for a few experts of any model, a fraction of a
    // device's memory (less when the budget has less left, but at least one expert).
    static constexpr uint64_t kStagingBytes = uint64_t{64} << 20;
    static constexpr uint64_t kPieceBytes = uint64_t{8} << 20; // each of the two pinned buffers

    explicit ExpertStreamer(const CudaWeights &weights) : weights_(weights) {}
    // After copying an expert in, run() hands its host pages back through drop(model, p, n):
    // a long prompt would otherwise fault every streamed expert of the file back into the
    // process for good (the CPU reads its repacked copy, or faults the pages back in when it
    // computes that expert in place). Null: they stay.
    void drop_sources(void (*drop)(const void *, const void *, uint64_t), const void *model) {
        drop_ = drop;
        drop_model_ = model;
    }
    ExpertStreamer(const ExpertStreamer &) = delete;
    ExpertStreamer &operator=(const ExpertStreamer &) = delete;
    ~ExpertStreamer();

    // Sizes the staging by the largest expert of the device's split MoeFfn nodes of `g` and
    // allocates it; nothing when g has none or it was allocated before for one as large.
    Status prepare(const graph::Graph &g);
    uint64_t device_bytes() const { return reserved_; }
    int32_t slots() const { return slots_; }

    // Node n's resident experts (args.slot: its slot table on the device, host_slot: the same
    // table on the host) and the experts marked in `streamed` [n_expert], into y.
    Status run(const graph::Node &n, MoeFfnArgs args, const uint8_t *streamed, const float *x,
               const int32_t *ids, const float *weights, int64_t n_tokens, float *y, void *scratch,
               unsigned long long *counts, cudaStream_t stream);

    // The rate run() copies experts at (from pageable host memory through the pinned buffers),
    // measured on `stream` the first time for this device in this process; 0 before prepare()
    // sized the staging.
    Status copy_rate(cudaStream_t stream, double *bytes_per_s);

private:
    const CudaWeights &weights_;
    uint8_t *memory_ = nullptr; // [gate stack][up stack][down stack][slot table]
    uint64_t reserved_ = 0;
    uint64_t stride_[3] = {0, 0, 0};     // the largest expert of each matrix, rounded to 256
    uint64_t bias_bytes_[3] = {0, 0, 0}; // the largest bias row of each matrix (0: none)
    int32_t slots_ = 0;
    std::vector<int32_t> table_; // the batch's slot table, host side
    PinnedCopier copier_;
    void (*drop_)(const void *, const void *, uint64_t) = nullptr;
    const void *drop_model_ = nullptr;
};

} // namespace infer::cuda
