#include "runtime/offload_plan.h"

#include "core/types.h"
#include "runtime/kv_cache.h"

#include <algorithm>
#include <cmath>
#include <cstdarg>
#include <cstdio>

namespace infer {
namespace {

constexpr uint64_t kDeviceAlign = 256; // device copies are 256-byte aligned (placement.cpp)
constexpr double kGiB = 1024.0 * 1024.0 * 1024.0;

void add(std::vector<TypedWeights> *list, uint32_t type, uint64_t bytes, uint64_t elements) {
    for (TypedWeights &t : *list)
        if (t.type == type) {
            t.bytes += bytes;
            t.elements += elements;
            return;
        }
    list->push_back({type, bytes, elements});
}

uint64_t elements_2d(const graph::WeightRef &w) {
    return static_cast<uint64_t>(w.ne[0]) * static_cast<uint64_t>(w.ne[1]);
}

uint64_t align_up(uint64_t n) { return (n + kDeviceAlign - 1) / kDeviceAlign * kDeviceAlign; }

// "16x12 15 0x3": run lengths of the experts resident per layer.
std::string run_lengths(const std::vector<int32_t> &v) {
    std::string s;
    for (size_t i = 0; i < v.size();) {
        size_t j = i;
        while (j < v.size() && v[j] == v[i]) ++j;
        char run[32];
        if (j - i > 1)
            std::snprintf(run, sizeof run, "%s%dx%zu", s.empty() ? "" : " ", v[i], j - i);
        else
            std::snprintf(run, sizeof run, "%s%d", s.empty() ? "" : " ", v[i]);
        s += run;
        i = j;
    }
    return s;
}

std::vector<int32_t> per_layer(const ExpertResidency &r) { return r.n_resident; }

std::string rate_text(double tokens_per_s) {
    char b[32];
    if (std::isinf(tokens_per_s)) return "-";
    std::snprintf(b, sizeof b, "%.1f", tokens_per_s);
    return b;
}

void append(std::string *s, const char *format, ...) __attribute__((format(printf, 2, 3)));
void append(std::string *s, const char *format, ...) {
    char line[1024];
    va_list args;
    va_start(args, format);
    std::vsnprintf(line, sizeof line, format, args);
    va_end(args);
    *s += line;
}

void append_row(std::string *s, const char *budget, const char *experts, const char *how,
                const std::string &resident, const PlacementPrediction &p) {
    append(s, "| %s | %s | %s | %s | %.1f%% | %.2f | %.1f | %.2f | %s |\n", budget, experts, how,
           resident.c_str(), 100.0 * p.resident_share, p.decode_tokens_per_s,
           p.prefill_tokens_per_s, 1e3 * p.cpu_lane_seconds_per_step,
           rate_text(p.ceiling_tokens_per_s).c_str());
}

} // namespace

ModelCostShape model_cost_shape(const Model &model) {
    const models::Hparams &hp = model.hparams();
    const graph::Graph g = model.arch()->build(hp, model.weights(), 1, false);
    ModelCostShape shape;
    shape.n_expert = static_cast<int32_t>(hp.n_expert());
    shape.n_expert_used = static_cast<int32_t>(hp.n_expert_used());
    shape.layers.resize(static_cast<size_t>(hp.n_layer));
    for (const graph::Node &n : g.nodes) {
        const bool in_layer = n.layer >= 0 && n.layer < hp.n_layer;
        LayerCostShape *layer = in_layer ? &shape.layers[static_cast<size_t>(n.layer)] : nullptr;
        std::vector<TypedWeights> *dense = layer ? &layer->dense : &shape.other;
        if (n.op == graph::Op::MoeFfn && layer) {
            for (const graph::WeightRef *w : {n.w, n.w2, n.w3})
                add(&layer->expert, w->type, w->n_bytes / static_cast<uint64_t>(n.n_expert),
                    elements_2d(*w));
            layer->expert_shape = {n.w->type, n.w2->type, n.w3->type, n.w->ne[0], n.w->ne[1]};
        } else if (n.op == graph::Op::MatMul) {
            add(dense, n.w->type, n.w->n_bytes, elements_2d(*n.w));
            if (n.w2) add(dense, n.w2->type, n.w2->n_bytes, 0);
        } else if (n.op == graph::Op::Embed) {
            add(dense, n.w->type, n.w->row_bytes, 0);
        } else if (n.op == graph::Op::RmsNorm && n.w) {
            add(dense, n.w->type, n.w->n_bytes, 0);
        }
    }
    return shape;
}

Status make_offload_plan(const Model &model, const OffloadPlanRequest &req, OffloadPlan *out) {
    if (!model.arch())
        return make_error(INFER_ERR_INVALID_ARGUMENT,
                          "offload plan: the model was loaded inspect-only");
    const models::Hparams &hp = model.hparams();
    if (hp.n_expert() <= 0)
        return make_error(INFER_ERR_INVALID_ARGUMENT,
                          "offload plan: the model has no routed experts (a dense model offloads "
                          "by layers: -ngl)");
    OffloadPlan plan;
    plan.model_name = model.name().empty() ? model.architecture() : model.name();
    plan.shape = model_cost_shape(model);
    const auto n_layer = static_cast<int32_t>(hp.n_layer);
    const auto n_expert = static_cast<int32_t>(hp.n_expert());

    // The device's copy of one expert per layer, and what else the device holds.
    std::vector<uint64_t> expert_bytes(static_cast<size_t>(n_layer), 0);
    for (int32_t l = 0; l < n_layer; ++l)
        for (const TypedWeights &t : plan.shape.layers[static_cast<size_t>(l)].expert)
            expert_bytes[static_cast<size_t>(l)] += align_up(t.bytes);
    uint64_t expert_file_bytes = 0;
    for (int32_t l = 0; l < n_layer; ++l) {
        plan.expert_bytes += expert_bytes[static_cast<size_t>(l)] * static_cast<uint64_t>(n_expert);
        expert_file_bytes += plan.shape.layers[static_cast<size_t>(l)].expert_bytes() *
                             static_cast<uint64_t>(n_expert);
    }
    plan.other_bytes = model.tensor_data_bytes() - std::min(model.tensor_data_bytes(), expert_file_bytes);
    // A context of 4096 positions with an F16 cache, and room for its activations.
    KvCacheLayout kv;
    INFER_TRY(kv_layout_from_graph(model.arch()->build(hp, model.weights(), 1, false), hp.n_layer,
                                   1, 4096, &kv));
    plan.reserve_bytes = kv.total_bytes() + (uint64_t{256} << 20);

    // Constants: the experts' own shapes, and the dense weights' types.
    std::vector<ExpertShape> shapes;
    std::vector<uint32_t> types;
    for (const LayerCostShape &l : plan.shape.layers) {
        if (std::find(shapes.begin(), shapes.end(), l.expert_shape) == shapes.end())
            shapes.push_back(l.expert_shape);
        for (const TypedWeights &t : l.dense)
            if (t.elements > 0 && std::find(types.begin(), types.end(), t.type) == types.end())
                types.push_back(t.type);
    }
    const int32_t n_threads = resolve_thread_count(req.n_threads);
    const std::string cache_dir = req.no_cache ? "" : req.cache_dir.empty() ? default_cache_dir()
                                                                            : req.cache_dir;
    INFER_TRY(cpu_costs_for(shapes, types, n_threads, cache_dir, req.remeasure, &plan.cpu));
    if (!cache_dir.empty()) plan.cache_path = cpu_costs_cache_path(cache_dir, plan.cpu.cpu_model, n_threads);
    INFER_TRY(load_device_profile(req.device_profile.empty() ? kDefaultDeviceProfile
                                                             : req.device_profile,
                                  &plan.device));
    ExpertPopularity popularity = uniform_popularity(n_layer, n_expert);
    if (!req.expert_stats.empty())
        INFER_TRY(load_expert_stats(req.expert_stats, n_layer, n_expert, &popularity));
    plan.popularity_source = popularity.source;

    plan.all_cpu = predict_all_cpu(plan.shape, popularity, plan.cpu);
    std::vector<uint64_t> budgets = req.budgets;
    if (budgets.empty())
        for (int quarter : req.expert_quarters)
            budgets.push_back(plan.other_bytes + plan.reserve_bytes +
                              plan.expert_bytes / 4 * static_cast<uint64_t>(quarter));
    for (uint64_t budget : budgets) {
        OffloadPlanRow row;
        row.budget = budget;
        const uint64_t fixed = plan.other_bytes + plan.reserve_bytes;
        row.expert_budget = budget > fixed ? budget - fixed : 0;
        const ExpertResidency by_expert =
            place_experts_by_popularity(popularity, expert_bytes, row.expert_budget);
        const ExpertResidency by_layer =
            place_experts_by_layer(n_layer, n_expert, expert_bytes, row.expert_budget);
        row.per_expert = predict_split(plan.shape, by_expert, popularity, plan.cpu, plan.device);
        row.per_layer = predict_split(plan.shape, by_layer, popularity, plan.cpu, plan.device);
        row.resident_per_expert = per_layer(by_expert);
        row.resident_per_layer = per_layer(by_layer);
        plan.rows.push_back(std::move(row));
    }
    *out = std::move(plan);
    return Status::ok();
}

std::string format_offload_plan(const OffloadPlan &p) {
    std::string s;
    append(&s, "offload plan for %s: %d layers x %d experts, %d per token; expert weights %.2f GiB, "
               "other weights %.2f GiB\n",
           p.model_name.c_str(), p.shape.n_layer(), p.shape.n_expert, p.shape.n_expert_used,
           p.expert_bytes / kGiB, p.other_bytes / kGiB);
    append(&s, "CPU (%s, %d threads; %s): DRAM read %.1f GB/s\n",
           p.cpu.cpu_model.c_str(), p.cpu.n_threads,
           p.cpu.from_cache ? ("from cache " + p.cache_path).c_str()
                            : p.cache_path.empty() ? "measured now, not cached"
                                                   : ("measured now, cached in " + p.cache_path).c_str(),
           p.cpu.read_bytes_per_s / 1e9);
    for (const CpuExpertCost &e : p.cpu.experts) {
        const auto bytes = static_cast<double>(expert_shape_bytes(e.shape));
        append(&s, "  MoeFfn node, experts %s: %.1f us per expert (%.1f GB/s) + %.1f us per node; "
                   "prefill %.1f GFLOP/s\n",
               expert_shape_name(e.shape).c_str(), e.expert_s * 1e6, bytes / e.expert_s / 1e9,
               e.node_s * 1e6, e.prefill_flops_per_s / 1e9);
    }
    append(&s, "device: %s (%s profile): %.1f GiB, host-to-device %s, memory %.0f GB/s, %.1f "
               "TFLOP/s fp16, %.0f us per layer, handoff %.0f us\n",
           p.device.name.c_str(), p.device.source.c_str(), p.device.memory_bytes / kGiB,
           p.device.unified_memory ? "unified memory (no copies)"
                                   : (std::to_string(static_cast<int>(p.device.h2d_bytes_per_s / 1e9)) + " GB/s").c_str(),
           p.device.memory_bytes_per_s / 1e9, p.device.flops_per_s / 1e12,
           p.device.layer_overhead_s * 1e6, p.device.handoff_s * 1e6);
    append(&s, "popularity: %s\n", p.popularity_source.c_str());
    append(&s, "a budget holds the other weights (%.2f GiB) and a context (%.2f GiB: KV cache of "
               "4096 tokens, 256 MiB workspace) first; the experts get the rest\n\n",
           p.other_bytes / kGiB, p.reserve_bytes / kGiB);
    append(&s, "| budget | for experts | placement | resident experts per layer | resident share "
               "| decode t/s | pp512 t/s | CPU lane ms/token | CPU ceiling t/s |\n"
               "| ---: | ---: | --- | --- | ---: | ---: | ---: | ---: | ---: |\n");
    append_row(&s, "-", "-", "all on the CPU", "0", p.all_cpu);
    for (const OffloadPlanRow &r : p.rows) {
        char budget[32], experts[32];
        std::snprintf(budget, sizeof budget, "%.2f GiB", r.budget / kGiB);
        std::snprintf(experts, sizeof experts, "%.2f GiB", r.expert_budget / kGiB);
        append_row(&s, budget, experts, "per expert", run_lengths(r.resident_per_expert),
                   r.per_expert);
        append_row(&s, "", "", "per layer", run_lengths(r.resident_per_layer), r.per_layer);
    }
    return s;
}

} // namespace infer
