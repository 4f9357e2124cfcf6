// Per-expert offload in a graph: a layer whose routed experts are partly on the device
// (expert_policy.h) computes them in two MoeFfn nodes, one per side, whose sum is the layer's
// expert output. A pure rewrite of a finished graph, tested on its own (tests/unit/test_expert_split.cpp).
//
//   MoeFfn(x, ids, weights) -> y          becomes     MoeFfn[resident](x, ids, weights)  -> y_dev
//   ... (the shared expert's nodes)                   ... (the shared expert's nodes)
//   first reader of y                                 MoeFfn[CPU](x, ids, weights)       -> y_cpu
//                                                     Add(y_dev, y_cpu)                  -> y
//                                                     first reader of y
// The CPU node and the sum go just before y's first reader, so the device queues the resident
// experts and the shared expert before the CPU starts its own: the two lanes overlap, and the
// segment plan (segments.h) copies x, ids and weights to the host as soon as they exist.
// A layer with every expert resident keeps its one node (reading the full stack); a layer with
// none keeps one node marked to compute every expert on the CPU, unless it is a stream layer:
// then it is split as the others, its device node computing only the experts that prefill
// streams in a run (expert_streaming.h), nothing otherwise.
#pragma once

#include "graph/graph.h"
#include "runtime/expert_policy.h"

#include <cstdint>
#include <vector>

namespace infer {

// Device bytes of one expert (its gate, up and down slices, each rounded up to `align`) per
// layer, from the graph's MoeFfn nodes; 0 for a layer without experts.
std::vector<uint64_t> expert_bytes_per_layer(const graph::Graph &g, int32_t n_layer, uint64_t align);

// Rewrites every MoeFfn node of `g` for `residency` (which must outlive `g`: nodes point into
// its slot tables), then recomputes the lifetimes.
// stream_layers [n_layer], may be empty: the layers split even without resident experts.
void split_expert_nodes(graph::Graph &g, const ExpertResidency &residency,
                        const std::vector<uint8_t> &stream_layers = {});

// Whether node n computes routed experts on the CPU side only (a non-resident subset).
inline bool is_cpu_expert_node(const graph::Node &n) {
    return n.op == graph::Op::MoeFfn && n.expert_slot && !n.experts_resident;
}
// Whether node n computes the resident subset of a layer's experts (device side).
inline bool is_resident_expert_node(const graph::Node &n) {
    return n.op == graph::Op::MoeFfn && n.expert_slot && n.experts_resident;
}

} // namespace infer
