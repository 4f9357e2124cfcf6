// Expert popularity for per-expert offload (placement.h), from what the user has: a statistics
// file, a calibration text run through the model once at load, or neither (the uniform prior).
#pragma once

#include "core/status.h"
#include "runtime/expert_policy.h"

#include <string>

namespace infer {

class Model;

struct PopularitySource {
    std::string stats_path;       // infer-bench --expert-stats TSV (expert_policy.h), or empty
    std::string calibration_text; // run through the model on the CPU at load, or empty
    int32_t n_threads = 0;        // for the calibration run; 0: one per core
};

// The stats file when given, else the calibration text's selections, else the uniform prior.
// `model` must be bound and placed on the CPU (the calibration run is an ordinary CPU context).
Status expert_popularity(const Model &model, const PopularitySource &source,
                         ExpertPopularity *out);

} // namespace infer
