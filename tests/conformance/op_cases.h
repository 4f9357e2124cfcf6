// The conformance cases of each graph op: random data, odd sizes, every weight type the CPU
// reference runs the op with, decode (1 token) and prefill token counts.
#pragma once

#include "one_node_case.h"

namespace infer::conformance {

// Every op of graph::Op, in enum order (counted through graph::op_name, so a new op is here
// without an edit; make_cases then fails to compile until it has cases).
std::vector<graph::Op> all_ops();

// The weight types the CPU reference runs `op` with: every type of lib/core's type table whose
// node the CPU backend's supports() accepts. Empty for an op that reads no weight matrix.
std::vector<uint32_t> reference_weight_types(graph::Op op);

// The cases of one op, sizes small enough for the CUDA emulator.
Cases make_cases(graph::Op op);

} // namespace infer::conformance
