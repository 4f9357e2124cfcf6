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

// The CPU expert kernel's speed for one weight type.
struct CpuTypeRate {
    uint32_t type = 0;
    // Weight bytes per second a decode step's MoeFfn node reads (one token, k experts), after
    // the fixed per-node cost is taken off.
    double decode_bytes_per_s = 0;
    // Multiply-adds x 2 per second of a prefill MoeFfn node (about 64 tokens per expert).
    double prefill_flops_per_s = 0;
};

struct CpuCosts {
    std::string cpu_model;  // /proc/cpuinfo's "model name"
    int32_t n_threads = 0;
    double read_bytes_per_s = 0;  // streaming DRAM read bandwidth on n_threads (median)
    double layer_overhead_s = 0;  // a MoeFfn node over tiny experts: barriers, routing, quantizing x
    std::vector<CpuTypeRate> rates; // the types measured so far
    bool from_cache = false;        // not saved: how this copy was obtained

    const CpuTypeRate *rate(uint32_t type) const;
};

inline constexpr int32_t kCpuCostsFormatVersion = 1;

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

// What the cost model needs: `types` (ggml ids) measured on `n_threads` threads. Reads the
// cache in `cache_dir` (empty: no cache) unless `remeasure`; measures what it lacks or all when
// the file is unusable, and writes the cache back. Takes seconds when it measures.
Status cpu_costs_for(const std::vector<uint32_t> &types, int32_t n_threads,
                     const std::string &cache_dir, bool remeasure, CpuCosts *out);

} // namespace infer
