// Which routed experts a device holds when they do not all fit: per (layer, expert), by how often
// the router selects it. A pure function, like placement.h: from a popularity table, the bytes of
// one expert per layer and a byte budget to an expert -> slot table per layer. Tested on its own
// (tests/unit/test_expert_policy.cpp), including the share of selected expert bytes it keeps
// resident on a skewed router trace against layer-granular placement (llama.cpp's --n-cpu-moe).
#pragma once

#include "core/status.h"

#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace infer {

// How often the router selects each (layer, expert): counts from a run, or a prior. Each weight is
// the expert's share of its layer's selections (a layer's weights sum to 1), so layers compare
// even when their traces differ in length.
struct ExpertPopularity {
    int32_t n_layer = 0, n_expert = 0;
    std::vector<double> weight; // [layer * n_expert + expert], in [0, 1]
    std::string source;         // "uniform prior", "stats file 'x.tsv' (N selections)", ...
    double at(int32_t layer, int32_t expert) const {
        return weight[static_cast<size_t>(layer) * static_cast<size_t>(n_expert) +
                      static_cast<size_t>(expert)];
    }
};

// Every expert equally likely (1 / n_expert): placement then fills layers evenly.
ExpertPopularity uniform_popularity(int32_t n_layer, int32_t n_expert);
// From selection counts [layer][n_expert] (infer_context_expert_counts); counts beyond the span
// are 0. A layer without any selection gets the uniform prior.
ExpertPopularity popularity_from_counts(std::span<const uint64_t> counts, int32_t n_layer,
                                        int32_t n_expert, std::string source);
// Reads the TSV that `infer-bench --expert-stats` writes (write_expert_stats in
// samples/bench/bench.c), the selection counts of one model over one or more runs:
//   layer\texpert\tcount          the header, exactly
//   0\t0\t1834                    then one line per (layer, expert): three tab-separated
//   0\t1\t97                      decimal integers, 0 <= layer < n_layer, 0 <= expert <
//   ...                           n_expert, 0 <= count < 2^64 (the times the router chose it)
// Lines end in "\n" or "\r\n" and may come in any order; empty lines are skipped; a missing pair
// counts 0, a repeated pair is an error. The file's shape is its highest layer and expert index
// + 1 (infer-bench writes every pair, zeros included) and must be the model's. Errors
// (INFER_ERR_INVALID_ARGUMENT, naming the file, and the line where there is one; *out is then
// unchanged): unreadable file, bad header, malformed line (a sign, a space, a fourth field, a
// number past 2^64 - 1, over 128 bytes), no counts, counts adding up past 2^64, a model without
// experts, or another shape (a stats file of another model: the message gives both shapes).
Status load_expert_stats(const std::string &path, int32_t n_layer, int32_t n_expert,
                         ExpertPopularity *out);

// Which experts a device holds: slot[layer * n_expert + e] is expert e's index in the device's
// compact array of that layer's resident experts (0, 1, ... in expert order), or -1: it stays
// on the CPU.
struct ExpertResidency {
    int32_t n_layer = 0, n_expert = 0;
    std::vector<int32_t> slot;       // [n_layer * n_expert]
    std::vector<int32_t> n_resident; // [n_layer]
    uint64_t bytes = 0;              // device bytes the resident experts take
    const int32_t *layer_slots(int32_t layer) const {
        return slot.data() + static_cast<size_t>(layer) * static_cast<size_t>(n_expert);
    }
};

// No expert resident, or every expert of every layer.
ExpertResidency no_experts_resident(int32_t n_layer, int32_t n_expert);
ExpertResidency all_experts_resident(int32_t n_layer, int32_t n_expert,
                                     std::span<const uint64_t> expert_bytes);

// In the placements below, expert_bytes[layer] is one expert's gate + up + down slices on the
// device, aligned as uploaded; a layer with 0 bytes, or beyond the span, has no routed experts
// (a dense layer): none of it is ever resident.

// Per expert: fills `budget` bytes with the (layer, expert) pairs of highest popularity (an
// expert serves popularity x its bytes of the selected bytes for its bytes of budget), ties to
// the lower layer, then the lower expert (equal popularity fills whole layers: fewer layers with
// CPU work); a pair that no longer fits is skipped and smaller ones after it may still be taken.
// Deterministic.
ExpertResidency place_experts_by_popularity(const ExpertPopularity &popularity,
                                            std::span<const uint64_t> expert_bytes,
                                            uint64_t budget);
// Layer-granular, as llama.cpp's --n-cpu-moe: all experts of the last layers that fit the budget,
// none of the others.
ExpertResidency place_experts_by_layer(int32_t n_layer, int32_t n_expert,
                                       std::span<const uint64_t> expert_bytes, uint64_t budget);

// The share of selected expert bytes that a residency serves from the device, for selections
// distributed as `selections` (a trace's counts as a popularity table, of the residency's shape):
// sum over resident (layer, expert) of selections * expert_bytes[layer] / the same sum over all;
// 0 when nothing is selected.
double resident_share(const ExpertResidency &residency, const ExpertPopularity &selections,
                      std::span<const uint64_t> expert_bytes);

} // namespace infer
