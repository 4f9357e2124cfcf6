// The offload plan (runtime/offload_plan.h) through the C API: the numbers of one budget, or
// the text of several.
#include "api/api_model.h"
#include "api/api_util.h"
#include "runtime/offload_plan.h"

#include <cstring>

using infer::api::fail;
using infer::api::guarded;

namespace {

// The request a caller's parameters describe (NULL: the defaults).
infer_status request_of(const infer_offload_plan_params *p, infer::OffloadPlanRequest *out) {
    if (!p) return INFER_OK;
    if (!infer::api::struct_size_ok(p->size, sizeof *p))
        return fail(INFER_ERR_INVALID_ARGUMENT,
                    "infer_offload_plan_params.size is %u: prepare it with "
                    "infer_offload_plan_params_init",
                    p->size);
    if (p->n_threads < 0) return fail(INFER_ERR_INVALID_ARGUMENT, "n_threads is negative");
    if (p->budget_bytes) out->budgets.push_back(p->budget_bytes);
    if (p->device_profile) out->device_profile = p->device_profile;
    if (p->expert_stats) out->expert_stats = p->expert_stats;
    out->n_threads = p->n_threads;
    out->remeasure = p->remeasure != 0;
    if (p->cache_dir) {
        out->cache_dir = p->cache_dir;
        out->no_cache = p->cache_dir[0] == '\0';
    }
    return INFER_OK;
}

infer_offload_prediction prediction_of(const infer::PlacementPrediction &p) {
    return {p.resident_share,          p.decode_tokens_per_s,        p.prefill_tokens_per_s,
            p.cpu_lane_seconds_per_step, p.cpu_expert_bytes_per_token, p.ceiling_tokens_per_s};
}

// The CPU's decode read rate over the model's experts (their bytes / the time to compute them),
// and the fixed cost of a layer's CPU expert node, both over the layers.
void expert_costs(const infer::OffloadPlan &plan, double *bytes_per_s, double *node_s) {
    double bytes = 0, seconds = 0, nodes = 0;
    for (const infer::LayerCostShape &l : plan.shape.layers) {
        const infer::CpuExpertCost c = infer::layer_cpu_cost(l, plan.cpu);
        bytes += static_cast<double>(l.expert_bytes());
        seconds += c.expert_s;
        nodes += c.node_s;
    }
    *bytes_per_s = seconds > 0 ? bytes / seconds : 0;
    *node_s = plan.shape.layers.empty() ? 0 : nodes / static_cast<double>(plan.shape.layers.size());
}

} // namespace

extern "C" {

void infer_offload_plan_params_init(infer_offload_plan_params *params) {
    if (!params) return;
    std::memset(params, 0, sizeof *params);
    params->size = sizeof *params;
}

void infer_offload_plan_init(infer_offload_plan *plan) {
    if (!plan) return;
    std::memset(plan, 0, sizeof *plan);
    plan->size = sizeof *plan;
}

infer_status infer_model_offload_plan(const infer_model *model,
                                      const infer_offload_plan_params *params,
                                      infer_offload_plan *out) {
    return guarded(__func__, [&]() -> infer_status {
        if (!model || !out) return fail(INFER_ERR_INVALID_ARGUMENT, "model or out is NULL");
        if (!infer::api::struct_size_ok(out->size, sizeof *out))
            return fail(INFER_ERR_INVALID_ARGUMENT,
                        "infer_offload_plan.size is %u: prepare it with infer_offload_plan_init",
                        out->size);
        infer::OffloadPlanRequest request;
        if (infer_status s = request_of(params, &request)) return s;
        // Without budget_bytes, the budget is the other weights, a context and half the expert
        // bytes, which the plan works out itself: one plan, so the CPU is measured at most once
        // and costs_from_cache says what this call did.
        request.expert_quarters = {2};
        infer::OffloadPlan plan;
        const infer::Status status = infer::make_offload_plan(*model->model, request, &plan);
        if (!status.is_ok()) return fail(status);
        const infer::OffloadPlanRow &row = plan.rows.front();
        const uint32_t size = out->size;
        std::memset(out, 0, sizeof *out);
        out->size = size;
        out->n_threads = plan.cpu.n_threads;
        out->costs_from_cache = plan.cpu.from_cache ? 1 : 0;
        out->cpu_read_bytes_per_s = plan.cpu.read_bytes_per_s;
        expert_costs(plan, &out->cpu_expert_bytes_per_s, &out->cpu_layer_overhead_s);
        out->device_h2d_bytes_per_s = plan.device.unified_memory ? 0 : plan.device.h2d_bytes_per_s;
        out->device_memory_bytes_per_s = plan.device.memory_bytes_per_s;
        out->device_flops_per_s = plan.device.flops_per_s;
        out->device_layer_overhead_s = plan.device.layer_overhead_s;
        out->handoff_s = plan.device.handoff_s;
        out->budget_bytes = row.budget;
        out->expert_budget_bytes = row.expert_budget;
        out->expert_bytes = plan.expert_bytes;
        out->other_weight_bytes = plan.other_bytes;
        out->per_expert = prediction_of(row.per_expert);
        out->per_layer = prediction_of(row.per_layer);
        out->all_cpu = prediction_of(plan.all_cpu);
        return INFER_OK;
    });
}

infer_status infer_model_offload_plan_text(const infer_model *model,
                                           const infer_offload_plan_params *params, char *buf,
                                           size_t capacity, size_t *out_length) {
    return guarded(__func__, [&]() -> infer_status {
        if (!model) return fail(INFER_ERR_INVALID_ARGUMENT, "model is NULL");
        infer::OffloadPlanRequest request;
        if (infer_status s = request_of(params, &request)) return s;
        infer::OffloadPlan plan;
        const infer::Status status = infer::make_offload_plan(*model->model, request, &plan);
        if (!status.is_ok()) return fail(status);
        return infer::api::copy_text(infer::format_offload_plan(plan), buf, capacity, out_length);
    });
}

} // extern "C"
