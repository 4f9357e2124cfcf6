#include "runtime/expert_streaming.h"

#include "runtime/offload_cost.h"

#include <algorithm>
#include <limits>

namespace infer {

DeviceProfile streaming_device_profile(double h2d_bytes_per_s) {
    DeviceProfile d;
    d.name = "the present device";
    d.h2d_bytes_per_s = h2d_bytes_per_s;
    d.memory_bytes_per_s = std::numeric_limits<double>::infinity();
    d.flops_per_s = std::numeric_limits<double>::infinity();
    d.source = "measured copy rate";
    return d;
}

StreamingModel make_streaming_model(const ExpertPopularity &popularity, int32_t n_expert_used,
                                    std::vector<StreamingLayer> layers, double h2d_bytes_per_s) {
    StreamingModel m;
    m.n_expert = popularity.n_expert;
    m.n_expert_used = n_expert_used;
    m.layers = std::move(layers);
    m.device = streaming_device_profile(h2d_bytes_per_s);
    const auto n_layer = static_cast<int32_t>(m.layers.size());
    m.share.assign(static_cast<size_t>(n_layer) * static_cast<size_t>(m.n_expert),
                   m.n_expert > 0 ? 1.0 / m.n_expert : 0);
    for (int32_t l = 0; l < std::min(n_layer, popularity.n_layer); ++l) {
        double total = 0;
        for (int32_t e = 0; e < m.n_expert; ++e) total += popularity.at(l, e);
        if (total <= 0) continue; // no trace for this layer: the uniform prior
        for (int32_t e = 0; e < m.n_expert; ++e)
            m.share[static_cast<size_t>(l) * static_cast<size_t>(m.n_expert) +
                    static_cast<size_t>(e)] = popularity.at(l, e) / total;
    }
    return m;
}

double choose_streamed_experts(ExpertPrefill mode, const ExpertResidency &residency,
                               const StreamingModel &model,
                               const std::vector<uint8_t> &layer_on_device, int64_t n_tokens,
                               StreamedExperts *out) {
    const int32_t n_layer = residency.n_layer, n_expert = residency.n_expert;
    out->n_layer = n_layer;
    out->n_expert = n_expert;
    out->mask.assign(static_cast<size_t>(n_layer) * static_cast<size_t>(n_expert), 0);
    out->any.assign(static_cast<size_t>(n_layer), 0);
    if (mode == ExpertPrefill::Cpu || n_tokens < 2) return 0;
    double bytes = 0;
    const auto n = static_cast<double>(n_tokens);
    for (int32_t l = 0; l < n_layer; ++l) {
        if (l >= static_cast<int32_t>(layer_on_device.size()) || !layer_on_device[static_cast<size_t>(l)])
            continue;
        const StreamingLayer *layer =
            l < static_cast<int32_t>(model.layers.size()) ? &model.layers[static_cast<size_t>(l)] : nullptr;
        const int32_t *slot = residency.layer_slots(l);
        uint8_t *mask = out->mask.data() + static_cast<size_t>(l) * static_cast<size_t>(n_expert);
        for (int32_t e = 0; e < n_expert; ++e) {
            if (slot[e] >= 0) continue;
            double selected = 1;
            if (mode == ExpertPrefill::Auto) {
                if (!layer || model.n_expert != n_expert) continue; // nothing to decide with
                const ExpertPrefillCost c = expert_prefill_cost(
                    model.share[static_cast<size_t>(l) * static_cast<size_t>(n_expert) +
                                static_cast<size_t>(e)],
                    n, model.n_expert_used, static_cast<double>(layer->expert_bytes),
                    static_cast<double>(layer->expert_elements), layer->cpu, model.device);
                if (!c.streams()) continue;
                selected = c.selected;
            }
            mask[e] = 1;
            out->any[static_cast<size_t>(l)] = 1;
            if (layer) bytes += selected * static_cast<double>(layer->expert_bytes);
        }
    }
    return bytes;
}

} // namespace infer
