// Measures the CPU side of the offload cost model on this machine: the streaming read
// bandwidth, and the CPU backend's MoeFfn node as a decode or prefill step runs it, through the
// backend registry (so whatever kernels this build has are what is measured). Each call
// allocates, starts threads and takes up to a second or two: a probe, never run while decoding.
#pragma once

#include "core/status.h"
#include "runtime/cpu_costs.h"

#include <cstdint>

namespace infer {

// The median of a few passes over 512 MiB (core/memory_bandwidth.h).
Status measure_cpu_read_bandwidth(int32_t n_threads, double *bytes_per_s);

// The CPU MoeFfn node at one expert shape (cpu_costs.h: CpuExpertCost), its experts stacked in
// 256 MiB or more so that nothing stays cached between steps. Decode: a line through the median
// node time of steps computing 1 .. 8 of a token's 8 experts (the others marked as a device's,
// as in a split); prefill: 128 tokens over 16 experts, 64 tokens each, less the node's fixed
// time. About a second.
Status measure_cpu_expert_cost(const ExpertShape &shape, int32_t n_threads, CpuExpertCost *out);

} // namespace infer
