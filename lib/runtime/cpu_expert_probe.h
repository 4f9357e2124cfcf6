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

// The time of a MoeFfn node over experts too small to matter (8 of 256 x 256 Q8_0): what a
// layer's CPU expert node costs besides reading weights (the barriers between its phases,
// routing the token, quantizing its activation).
Status measure_cpu_layer_overhead(int32_t n_threads, double *seconds);

// The CPU MoeFfn node over experts of `type` (gate, up and down all of it; 2048 x 1024, the
// OLMoE expert shape), stacked in 256 MiB or more so that nothing stays cached between steps:
// decode: median step of one token over 8 experts taken in turn from a shuffled order;
// prefill: 128 tokens over 16 experts, 64 tokens each. `layer_overhead_s` is taken off both.
Status measure_cpu_expert_rate(uint32_t type, int32_t n_threads, double layer_overhead_s,
                               CpuTypeRate *out);

} // namespace infer
