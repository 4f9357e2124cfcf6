// The device budget that leaves `share` of a model's routed-expert bytes resident under per-expert
// offload (infer_model_params.expert_placement = INFER_EXPERTS_BY_POPULARITY): every other weight
// the device holds, the context reserve, and that share of the experts. Found by loading the model
// once with no limit (everything resident) and reading its placement.
#pragma once

#include "infer.h"

#include <cstdint>

namespace infer::test {

// 0 on failure (infer_last_error() says why).
inline uint64_t budget_for_expert_share(const char *path, infer_model_params params, double share) {
    params.expert_placement = INFER_EXPERTS_BY_POPULARITY;
    params.device_memory_budget = 0;
    infer_model *model = nullptr;
    if (infer_model_load_file(path, &params, &model) != INFER_OK) return 0;
    infer_placement p;
    infer_placement_init(&p);
    const bool ok = infer_model_placement(model, &p) == INFER_OK && p.n_backends == 2 &&
                    p.expert_bytes_resident == p.expert_bytes;
    infer_model_free(model);
    if (!ok) return 0;
    const uint64_t others = p.backends[1].weight_bytes - p.expert_bytes;
    return others + p.context_reserve_bytes +
           static_cast<uint64_t>(share * static_cast<double>(p.expert_bytes));
}

} // namespace infer::test
