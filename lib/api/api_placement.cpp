// Where a loaded model runs: per backend the weights, nodes and layers, and the copies between
// them (runtime/placement.h), as numbers and as text.
#include "api/api_model.h"
#include "api/api_util.h"
#include "runtime/segments.h"

#include <algorithm>
#include <cstddef>
#include <cstring>

using infer::api::fail;
using infer::api::guarded;

namespace {

// The model's placement applied to its one-token graph, as contexts will run it.
infer_status assigned(const infer::Model &m, infer::graph::Graph *g, infer::NodeAssignment *a) {
    if (!m.arch())
        return fail(INFER_ERR_INVALID_ARGUMENT, "the model was loaded inspect-only: it has no placement");
    *g = m.arch()->build(m.hparams(), m.weights(), 1, false);
    infer::apply_expert_residency(*g, m.placement());
    const infer::Status status = infer::assign_nodes(*g, m.placement(), a);
    return status.is_ok() ? INFER_OK : fail(status);
}

// Every field of infer_placement for the model's placement.
infer_status fill_placement(const infer::Model &m, infer_placement *out) {
    infer::graph::Graph g;
    infer::NodeAssignment a;
    if (infer_status s = assigned(m, &g, &a)) return s;
    const infer::Placement &p = m.placement();
    out->n_backends = p.device ? 2 : 1;
    out->backends[0].backend = INFER_BACKEND_CPU;
    out->backends[0].weight_bytes = p.host_weight_bytes;
    if (p.device) {
        out->backends[1].backend = p.device->id;
        out->backends[1].weight_bytes = p.device_weight_bytes;
    }
    // A layer runs entirely on a side when every node of it does.
    const auto n_layer = static_cast<size_t>(m.hparams().n_layer);
    std::vector<int32_t> layer_nodes[2] = {std::vector<int32_t>(n_layer, 0),
                                           std::vector<int32_t>(n_layer, 0)};
    for (size_t i = 0; i < g.nodes.size(); ++i) {
        const int side = a.on_device[i] ? 1 : 0;
        out->backends[side].n_nodes++;
        const int32_t layer = g.nodes[i].layer;
        if (layer >= 0 && static_cast<size_t>(layer) < n_layer) layer_nodes[side][static_cast<size_t>(layer)]++;
    }
    for (size_t l = 0; l < n_layer; ++l)
        for (int side = 0; side < 2; ++side)
            if (layer_nodes[side][l] > 0 && layer_nodes[1 - side][l] == 0) out->backends[side].n_layers++;
    out->n_gpu_layers = p.device ? p.n_gpu_layers : 0;
    const infer::SegmentPlan segments = infer::plan_segments(g, a.on_device);
    out->n_segments = static_cast<int32_t>(segments.segments.size());
    for (const infer::Segment &s : segments.segments)
        for (const infer::SegmentCopy &c : s.copies_after) {
            out->n_copies++;
            out->copy_bytes_per_token += infer::tensor_bytes(g, c.tensor, 1);
        }
    const infer::ExpertResidency &e = p.experts;
    for (int32_t l = 0; l < e.n_layer; ++l) {
        out->n_experts_resident += e.n_resident[static_cast<size_t>(l)];
        if (p.slot_on_device[static_cast<size_t>(l) + 1]) out->n_experts += e.n_expert;
    }
    out->expert_bytes_resident = e.bytes;
    out->expert_bytes = p.expert_total_bytes;
    out->context_reserve_bytes = p.context_reserve;
    return INFER_OK;
}

} // namespace

extern "C" {

void infer_placement_init(infer_placement *placement) {
    if (!placement) return;
    std::memset(placement, 0, sizeof *placement);
    placement->size = sizeof *placement;
}

infer_status infer_model_placement(const infer_model *model, infer_placement *out) {
    return guarded(__func__, [&]() -> infer_status {
        if (!model || !out) return fail(INFER_ERR_INVALID_ARGUMENT, "model or out is NULL");
        // The struct ended at n_experts_resident before the expert fields were added.
        if (!infer::api::struct_size_ok(out->size, offsetof(infer_placement, n_experts_resident)))
            return fail(INFER_ERR_INVALID_ARGUMENT,
                        "infer_placement.size is %u: prepare it with infer_placement_init", out->size);
        infer_placement full;
        infer_placement_init(&full);
        if (infer_status s = fill_placement(*model->model, &full)) return s;
        const uint32_t size = out->size;
        std::memcpy(out, &full, std::min<size_t>(size, sizeof full));
        out->size = size;
        return INFER_OK;
    });
}

infer_status infer_model_placement_text(const infer_model *model, char *buf, size_t capacity,
                                        size_t *out_length) {
    return guarded(__func__, [&]() -> infer_status {
        if (!model) return fail(INFER_ERR_INVALID_ARGUMENT, "model is NULL");
        infer::graph::Graph g;
        infer::NodeAssignment a;
        if (infer_status s = assigned(*model->model, &g, &a)) return s;
        return infer::api::copy_text(infer::format_placement(g, model->model->placement(), a), buf,
                                     capacity, out_length);
    });
}

} // extern "C"
