// The CUDA backend (runtime/backend.h): the graph's ops as CUDA kernels on one stream over a
// context allocation in device memory; the decode step (one token) captured once as a CUDA graph
// and replayed (set INFER_CUDA_GRAPHS=0 to launch node by node, for debugging and tests).
#pragma once

#include "runtime/backend_registry.h"

namespace infer::cuda {

// Ok when the CUDA kernels can run `node` of `graph`; otherwise an error naming the op
// (graph::op_name), its layer and output, and the tensor by name where a weight is the reason.
Status supports_node(const graph::Node &node, const graph::Graph &graph);
// The first refusal of supports_node over the graph's nodes (tests: a whole model at once).
Status check_graph(const graph::Graph &graph);

// Copies `weights` to `device` (cuda_weights.cu): see BackendEntry::upload_weights.
Status upload_weights(const std::vector<WeightSpan> &weights, int32_t device, uint64_t budget,
                      const std::function<bool(float)> &progress,
                      const std::function<void(const void *, uint64_t)> &read_done,
                      std::unique_ptr<DeviceWeights> *out);

// The registry entry (backends/backends.cpp lists it).
BackendEntry backend_entry();

} // namespace infer::cuda
