// What the offload cost model needs to know about a device it may not have: a profile. A few
// ship in code (device_profile.cpp gives each figure's source or assumption); a user describes
// another in a key = value file (the keys below). When the device is present its registry entry
// can measure some of these instead (offload_plan.h says which).
#pragma once

#include "core/status.h"

#include <span>
#include <string>

namespace infer {

struct DeviceProfile {
    std::string name;               // "H100 SXM", or the file's `name`
    double memory_bytes = 0;        // device memory (informational; the default budgets stop there)
    double h2d_bytes_per_s = 0;     // achieved pinned host-to-device copy rate (0 with unified memory)
    double memory_bytes_per_s = 0;  // achieved device memory read rate of the decode kernels
    double flops_per_s = 0;         // achieved dense fp16 matmul throughput (prefill)
    double layer_overhead_s = 0;    // per layer per step: kernel launches and their gaps
    double handoff_s = 0;           // per layer whose CPU experts run: activation down, result up,
                                    // and the synchronization between the lanes
    bool unified_memory = false;    // the CPU's memory is the device's (Jetson): nothing to copy
    std::string source;             // "built-in", or the file's path
};

// The built-in profiles, in the order `infer-bench --help` lists them.
std::span<const DeviceProfile> builtin_device_profiles();
// The built-in profile of that short name ("h100-sxm", case-insensitive), or null.
const DeviceProfile *find_builtin_device_profile(std::string_view key);
// The short name of built-in profile i, for listings.
const char *builtin_device_profile_key(size_t i);

// A profile from key = value text (runtime/key_value_text.h). Keys, all required but `name`
// and `unified_memory`:
//   name = RTX 3090            free text, shown in the plan
//   memory_gib = 24            device memory, GiB
//   h2d_gb_per_s = 24          host-to-device copy rate, GB/s (1e9 bytes); may be 0 only with
//                              unified_memory = 1
//   memory_gb_per_s = 800      device memory read rate the decode kernels achieve, GB/s (> 0)
//   fp16_tflops = 70           dense fp16 matmul throughput, TFLOP/s (> 0)
//   layer_overhead_us = 20     per layer per decode step, microseconds
//   handoff_us = 20            per layer that waits for CPU experts, microseconds
//   unified_memory = 0         1: CPU and device share memory (no copies)
// Unknown keys are errors (a misspelled key would otherwise silently keep a default).
Status parse_device_profile(std::string_view text, const std::string &source, DeviceProfile *out);
// `name_or_path`: a built-in short name, else a file path.
Status load_device_profile(const std::string &name_or_path, DeviceProfile *out);

} // namespace infer
