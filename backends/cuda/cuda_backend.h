// The CUDA backend (runtime/backend.h): the graph's ops as CUDA kernels on one stream over a
// context allocation in device memory; the decode step (one token) captured once as a CUDA graph
// and replayed (set INFER_CUDA_GRAPHS=0 to launch node by node, for debugging and tests).
#pragma once

#include "runtime/backend.h"

namespace infer::cuda {

// A clear error naming the first op or tensor type the CUDA kernels cannot run, by name; ops
// added to lib/graph after this backend are refused by number until they get a kernel.
Status check_graph(const graph::Graph &graph);

} // namespace infer::cuda
