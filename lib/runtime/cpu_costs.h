// This machine's CPU-side constants of the offload cost model (offload_cost.h), measured once
// (cpu_expert_probe.h) and kept in a small text file in the user's cache directory, keyed by the
// CPU model, the thread count and the format version. A cache file that does not parse, or that
// belongs to another CPU, thread count or version, is measured again, never trusted.
#pragma once

#include "core/status.h"

#include <cstdint>
#include <string>
#include <vector>

namespace infer {

// A routed expert as the CPU kernel sees it: its three matrices' types and sizes. Costs are
// measured per shape, not combined from per-type rates: on a Q4_K_M model the layers with a Q6_K
// down matrix cost far less than an all-Q6_K expert's rate says (Qwen3-30B-A3B's shape: about
// 1.7 ms per node measured against 2.3 ms from per-type rates).
struct ExpertShape {
    uint32_t gate_type = 0, up_type = 0, down_type = 0;
    int64_t n_embd = 0, n_ff = 0;
    bool operator==(const ExpertShape &) const = default;
};

// "Q4_K.Q4_K.Q6_K.2048x768": gate, up, down types, n_embd x n_ff (also the cache key).
std::string expert_shape_name(const ExpertShape &shape);
// Bytes of one row of each matrix; false when a type cannot hold rows of that length.
bool expert_row_bytes(const ExpertShape &shape, uint64_t *gate, uint64_t *up, uint64_t *down);
uint64_t expert_shape_bytes(const ExpertShape &shape); // one expert; 0 when it has no rows
// The shape whose probe gives a type's rate for dense weights: all three of `type`, 2048 x 1024.
ExpertShape type_probe_shape(uint32_t type);

// The CPU MoeFfn node's measured cost at one expert shape, one token: a node that computes j of
// the token's experts takes node_s + j * expert_s (a line the probe fits over j = 1 .. 8).
struct CpuExpertCost {
    ExpertShape shape;
    double expert_s = 0; // per computed expert: its weights streamed through the kernel
    double node_s = 0;   // per node: the barriers between its phases, grouping, quantizing x
    double prefill_flops_per_s = 0; // multiply-adds x 2 per second, about 64 tokens per expert
};

// A weight type's speed for dense weights, from its probe shape's cost.
struct CpuTypeRate {
    double decode_bytes_per_s = 0;
    double prefill_flops_per_s = 0;
};

struct CpuCosts {
    std::string cpu_model;  // /proc/cpuinfo's "model name"
    int32_t n_threads = 0;
    double read_bytes_per_s = 0;        // streaming DRAM read bandwidth on n_threads (median)
    std::vector<CpuExpertCost> experts; // the shapes measured so far
    bool from_cache = false;            // not saved: how this copy was obtained

    const CpuExpertCost *expert(const ExpertShape &shape) const;
    // From type_probe_shape(type); false when that shape has not been measured.
    bool rate(uint32_t type, CpuTypeRate *out) const;
};

// 3: experts measured as the model holds them (repacked; version 2 measured the file layout).
inline constexpr int32_t kCpuCostsFormatVersion = 3;

// The text form (key = value lines) and back. parse_cpu_costs fails on anything it does not
// expect: an unknown key, a missing one, a value out of range, another format version.
std::string format_cpu_costs(const CpuCosts &costs);
Status parse_cpu_costs(std::string_view text, const std::string &what, CpuCosts *out);

// The CPU model string of this machine ("unknown CPU" when it cannot be read).
std::string this_cpu_model();
// $XDG_CACHE_HOME/libinfer, else $HOME/.cache/libinfer; empty when neither is set.
std::string default_cache_dir();
// The cache file for this CPU and thread count inside `dir`.
std::string cpu_costs_cache_path(const std::string &dir, const std::string &cpu_model,
                                 int32_t n_threads);
// Writes atomically (a temporary file renamed over the old one), making `dir` if needed.
Status save_cpu_costs(const std::string &path, const CpuCosts &costs);

// What the cost model needs on `n_threads` threads: the expert `shapes`, and the probe shapes of
// `types` (ggml ids, for dense weights). Reads the cache in `cache_dir` (empty: no cache) unless
// `remeasure`; measures what it lacks (about a second per shape), or everything when the file is
// unusable, and writes the cache back.
Status cpu_costs_for(const std::vector<ExpertShape> &shapes, const std::vector<uint32_t> &types,
                     int32_t n_threads, const std::string &cache_dir, bool remeasure,
                     CpuCosts *out);

} // namespace infer
