// The plan a user asks for (`infer-bench --offload-plan`, infer_model_offload_plan): for a
// loaded model and device budgets, where the routed experts would live (per expert by
// popularity, and layer-granular as llama.cpp's --n-cpu-moe) and the speed the cost model
// (offload_cost.h) predicts for each, beside everything on the CPU. The CPU constants are this
// machine's (measured, or from the cache); the device's come from a profile, so the plan works
// without the device.
#pragma once

#include "core/status.h"
#include "runtime/model.h"
#include "runtime/offload_cost.h"

#include <string>
#include <vector>

namespace infer {

struct OffloadPlanRequest {
    std::vector<uint64_t> budgets; // device bytes; empty: the other weights and the context
                                   // reserve plus each of expert_quarters of the expert bytes
    std::vector<int> expert_quarters = {1, 2, 3, 4};
    std::string device_profile;    // built-in name or file; empty: kDefaultDeviceProfile
    std::string expert_stats;      // infer-bench --expert-stats TSV; empty: uniform popularity
    int32_t n_threads = 0;         // 0: one per core
    bool remeasure = false;        // ignore the cache
    std::string cache_dir;         // empty: default_cache_dir()
    bool no_cache = false;         // neither read nor write a cache file
};

inline constexpr const char *kDefaultDeviceProfile = "rtx4090";

struct OffloadPlanRow {
    uint64_t budget = 0;        // device bytes
    uint64_t expert_budget = 0; // of them, what is left for experts
    PlacementPrediction per_expert, per_layer;
    std::vector<int32_t> resident_per_expert, resident_per_layer; // experts per layer
};

struct OffloadPlan {
    std::string model_name;
    CpuCosts cpu;
    std::string cache_path; // where the CPU costs are kept (empty: no cache)
    DeviceProfile device;
    std::string popularity_source;
    ModelCostShape shape;
    uint64_t expert_bytes = 0;  // every routed expert, as the device would hold them
    uint64_t other_bytes = 0;   // every other weight (on the device whenever it is used)
    uint64_t reserve_bytes = 0; // a default context: KV cache of 4096 tokens, 256 MiB workspace
    PlacementPrediction all_cpu;
    std::vector<OffloadPlanRow> rows;
};

// The cost shape of a model: its one-token graph's weights per layer (runtime/offload_cost.h).
ModelCostShape model_cost_shape(const Model &model);

// INFER_ERR_INVALID_ARGUMENT for a model without routed experts, an inspect-only model, a bad
// profile or stats file.
Status make_offload_plan(const Model &model, const OffloadPlanRequest &request, OffloadPlan *out);
std::string format_offload_plan(const OffloadPlan &plan);

} // namespace infer
