// Runs cases' nodes on one backend the way a context runs a graph (runtime/context.cpp), minus
// the context: the backend sizes the kernels' scratch, the planner lays out one arena after the
// KV cache, tensors are bound into it, inputs go in through copy_in, one Backend::run executes
// the case's last node, and its outputs come back through copy_out.
//
// One backend serves all the cases of a test (making one per case costs a device backend its
// workspaces and a weight upload each time, which dominates on the CUDA emulator); every case
// still gets fresh context memory.
#pragma once

#include "one_node_case.h"

#include "core/status.h"
#include "runtime/backend_registry.h"

#include <deque>

namespace infer::conformance {

struct Outputs {
    std::vector<std::vector<uint8_t>> tensors; // node.out then node.out2 (when set): the rows run
    std::vector<uint8_t> kv;                   // the KV cache after the run, when the case has one
    std::vector<uint64_t> expert_counts;       // MoeFfn: the selection counters of its layer
};

// The CPU backend's worker threads when it is the backend under test: an odd count, so that
// rows and blocks split unevenly.
inline constexpr int32_t kFastThreads = 3;

class NodeRunner {
public:
    // Makes a backend of `entry` (`kernels` selects the CPU's); a device backend first gets the
    // weights of every case in `cases` uploaded to device 0, in one upload.
    Status start(const BackendEntry &entry, CpuKernels kernels, const Cases &cases);

    // Runs `c`, one of the cases given to start(). Every byte of its context memory starts as
    // 0xff (NaN as floats), so a kernel that reads what nothing wrote shows it in its output.
    Status run(const OpCase &c, Outputs *out);

private:
    std::unique_ptr<DeviceWeights>
        weights_; // declared first: outlives the backend, which reads them
    std::unique_ptr<Backend> backend_;
    // Every case's sized graph and bound tensors, kept until the backend goes: a backend may key
    // state by their addresses (the CUDA backend's captured decode graphs), so none is reused.
    std::deque<graph::Graph> graphs_;
    std::deque<BoundGraph> bound_;
};

} // namespace infer::conformance
