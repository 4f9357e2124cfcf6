// A profile of the CPU backend's nodes, calm's habit: with INFER_PROFILE=1 in the environment a
// CPU backend times every node it runs (thread 0, from the node's start to its closing barrier:
// the slowest thread's finish; to thread 0's own finish for a node the next one runs on from
// without a barrier, cpu_decode_groups.h) and, when it is destroyed, prints to stderr one line per
// kind of node (op, weight type and shape, decode or prefill) with its calls, time, share of the
// total and, for the weight-reading nodes, the weight bytes it read per second. A decode matmul
// then shows how close it streams to the machine's bandwidth (infer-bench --membw), one kind at a
// time. Fixed arrays, sized at start: nothing is allocated per token.
#pragma once

#include "graph/graph.h"

#include <cstdint>

namespace infer::cpu {

class NodeProfile {
public:
    static bool wanted();

    // Adds one run of node n, in a run of n_tokens tokens (1: decode), over `rows` of them (1
    // after SelectLast), that took `seconds`.
    void add(const graph::Node &n, int64_t n_tokens, int64_t rows, double seconds);
    ~NodeProfile();

private:
    struct Kind {
        graph::Op op;
        uint32_t type; // the node's weight type, or UINT32_MAX without a weight
        int64_t k, n;  // weight shape (elements per row, rows); 0 without a weight
        bool decode;   // a run of one token
        int64_t calls;
        double seconds;
        double bytes; // weight bytes read, summed over the calls
        double macs;  // multiply-adds with the weight, summed over the calls
    };
    static constexpr int kKinds = 256;
    Kind kinds_[kKinds];
    int used_ = 0;
    int64_t dropped_ = 0; // runs of kinds past the table's end
};

} // namespace infer::cpu
