#include "runtime/offload_cost.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace infer {
namespace {

uint64_t sum_bytes(const std::vector<TypedWeights> &w) {
    uint64_t b = 0;
    for (const TypedWeights &t : w) b += t.bytes;
    return b;
}

uint64_t sum_elements(const std::vector<TypedWeights> &w) {
    uint64_t e = 0;
    for (const TypedWeights &t : w) e += t.elements;
    return e;
}

// Seconds the CPU takes to multiply `w` by `tokens` rows (prefill), at each type's measured
// throughput; a type without one is taken as read-bound at the DRAM rate.
double cpu_matmul_seconds(const std::vector<TypedWeights> &w, double tokens, const CpuCosts &cpu) {
    double s = 0;
    for (const TypedWeights &t : w) {
        CpuTypeRate r;
        s += cpu.rate(t.type, &r)
                 ? 2.0 * static_cast<double>(t.elements) * tokens / r.prefill_flops_per_s
                 : static_cast<double>(t.bytes) / cpu.read_bytes_per_s;
    }
    return s;
}

// Expert e of layer l's share of its layer's selections (the popularity normalized per layer).
std::vector<double> layer_weights(const ExpertPopularity &p, int32_t layer, int32_t n_expert) {
    std::vector<double> w(static_cast<size_t>(n_expert), 1.0 / n_expert);
    double total = 0;
    if (layer < p.n_layer && n_expert == p.n_expert)
        for (int32_t e = 0; e < n_expert; ++e) total += p.at(layer, e);
    if (total > 0)
        for (int32_t e = 0; e < n_expert; ++e) w[static_cast<size_t>(e)] = p.at(layer, e) / total;
    return w;
}

bool resident(const ExpertResidency &r, int32_t layer, int32_t e) {
    return layer < r.n_layer && e < r.n_expert && r.layer_slots(layer)[e] >= 0;
}

double device_seconds(const std::vector<TypedWeights> &w, const DeviceProfile &d) {
    return static_cast<double>(sum_bytes(w)) / d.memory_bytes_per_s;
}

double ceiling(double read_bytes_per_s, double cpu_bytes) {
    return cpu_bytes > 0 ? read_bytes_per_s / cpu_bytes : std::numeric_limits<double>::infinity();
}

std::vector<uint64_t> expert_bytes_per_layer(const ModelCostShape &shape) {
    std::vector<uint64_t> b;
    for (const LayerCostShape &l : shape.layers) b.push_back(l.expert_bytes());
    return b;
}

} // namespace

uint64_t LayerCostShape::dense_bytes() const { return sum_bytes(dense); }
uint64_t LayerCostShape::expert_bytes() const { return sum_bytes(expert); }

double cpu_read_seconds(const std::vector<TypedWeights> &w, const CpuCosts &cpu) {
    double s = 0;
    for (const TypedWeights &t : w) {
        CpuTypeRate r;
        s += static_cast<double>(t.bytes) /
             (cpu.rate(t.type, &r) ? r.decode_bytes_per_s : cpu.read_bytes_per_s);
    }
    return s;
}

CpuExpertCost layer_cpu_cost(const LayerCostShape &layer, const CpuCosts &cpu) {
    if (const CpuExpertCost *measured = cpu.expert(layer.expert_shape)) return *measured;
    CpuExpertCost c;
    c.shape = layer.expert_shape;
    c.expert_s = cpu_read_seconds(layer.expert, cpu);
    const double one_token = cpu_matmul_seconds(layer.expert, 1.0, cpu);
    c.prefill_flops_per_s = one_token > 0 ? 2.0 * static_cast<double>(sum_elements(layer.expert)) / one_token : 0;
    return c;
}

ExpertPrefillCost expert_prefill_cost(double w, double n, double k, double B, double E,
                                      const CpuExpertCost &cpu, const DeviceProfile &dev) {
    ExpertPrefillCost c;
    const double tau = n * k * w;
    c.selected = 1.0 - std::pow(1.0 - std::min(1.0, k * w), n);
    c.on_device = std::max(c.selected * B / dev.memory_bytes_per_s, 2.0 * E * tau / dev.flops_per_s);
    c.on_cpu = std::max(c.selected * cpu.expert_s, 2.0 * E * tau / cpu.prefill_flops_per_s);
    // The copy is decided before the router runs: an expert chosen to stream is copied whole,
    // whether or not a token of the batch selects it.
    c.stream = dev.unified_memory ? 0 : B / dev.h2d_bytes_per_s;
    return c;
}

PlacementPrediction predict_split(const ModelCostShape &shape, const ExpertResidency &residency,
                                  const ExpertPopularity &popularity, const CpuCosts &cpu,
                                  const DeviceProfile &dev, int64_t prefill_tokens) {
    PlacementPrediction out;
    const double k = shape.n_expert_used;
    const auto n = static_cast<double>(prefill_tokens);
    double decode_step = device_seconds(shape.other, dev);
    double prefill_time = decode_step;
    double streamed = 0;
    for (int32_t l = 0; l < shape.n_layer(); ++l) {
        const LayerCostShape &layer = shape.layers[static_cast<size_t>(l)];
        const std::vector<double> w = layer_weights(popularity, l, shape.n_expert);
        const auto B = static_cast<double>(layer.expert_bytes());
        const auto E = static_cast<double>(sum_elements(layer.expert));
        const CpuExpertCost cost = layer_cpu_cost(layer, cpu);
        double s = 0;
        for (int32_t e = 0; e < shape.n_expert; ++e)
            if (resident(residency, l, e)) s += w[static_cast<size_t>(e)];
        s = std::min(s, 1.0);

        // Decode. The layer's attention and router run on the device before either lane can
        // start (the CPU needs the router's choice), so only the experts overlap: the device's
        // resident ones with the CPU's. (Measured on an H200: a model that overlapped whole
        // layers predicted 122 t/s where 77 came.)
        const double p_cpu = 1.0 - std::pow(s, k);
        const double dense =
            static_cast<double>(layer.dense_bytes()) / dev.memory_bytes_per_s + dev.layer_overhead_s;
        const double device_experts = k * s * B / dev.memory_bytes_per_s;
        const double cpu_lane = k * (1.0 - s) * cost.expert_s + p_cpu * cost.node_s;
        decode_step += dense + std::max(device_experts, cpu_lane) + p_cpu * dev.handoff_s;
        out.cpu_lane_seconds_per_step += cpu_lane;
        out.cpu_expert_bytes_per_token += k * (1.0 - s) * B;

        // Prefill: likewise, the CPU's experts overlap the device's experts and the copies that
        // stream experts in (started before the router), not the layer's dense part.
        const double dev_dense = std::max(static_cast<double>(layer.dense_bytes()) / dev.memory_bytes_per_s,
                                          2.0 * static_cast<double>(sum_elements(layer.dense)) * n /
                                              dev.flops_per_s);
        double dev_compute = dev_dense, copies = 0, cpu_side = 0;
        for (int32_t e = 0; e < shape.n_expert; ++e) {
            const ExpertPrefillCost c =
                expert_prefill_cost(w[static_cast<size_t>(e)], n, k, B, E, cost, dev);
            if (resident(residency, l, e)) {
                dev_compute += c.on_device;
            } else if (c.streams()) {
                copies += c.stream;
                dev_compute += c.on_device;
                streamed += 1;
            } else {
                cpu_side += c.on_cpu;
            }
        }
        const bool cpu_works = cpu_side > 0;
        const double dev_layer = std::max(dev_compute, copies) + dev.layer_overhead_s;
        const double cpu_layer = cpu_works ? dev_dense + cpu_side + cost.node_s : 0;
        prefill_time += std::max(dev_layer, cpu_layer) + (cpu_works ? dev.handoff_s : 0);
    }
    const std::vector<uint64_t> bytes = expert_bytes_per_layer(shape);
    out.resident_share = resident_share(residency, popularity, bytes);
    out.decode_tokens_per_s = 1.0 / decode_step;
    out.prefill_tokens_per_s = n / prefill_time;
    out.ceiling_tokens_per_s = ceiling(cpu.read_bytes_per_s, out.cpu_expert_bytes_per_token);
    out.prefill_streamed_experts = static_cast<int32_t>(std::lround(streamed));
    return out;
}

PlacementPrediction predict_all_cpu(const ModelCostShape &shape, const ExpertPopularity &popularity,
                                    const CpuCosts &cpu, int64_t prefill_tokens) {
    PlacementPrediction out;
    const double k = shape.n_expert_used;
    const auto n = static_cast<double>(prefill_tokens);
    double step = cpu_read_seconds(shape.other, cpu);
    double prefill_time = step;
    for (int32_t l = 0; l < shape.n_layer(); ++l) {
        const LayerCostShape &layer = shape.layers[static_cast<size_t>(l)];
        const CpuExpertCost cost = layer_cpu_cost(layer, cpu);
        const auto E = static_cast<double>(sum_elements(layer.expert));
        const double cpu_lane = k * cost.expert_s + cost.node_s;
        step += cpu_read_seconds(layer.dense, cpu) + cpu_lane;
        out.cpu_lane_seconds_per_step += cpu_lane;
        out.cpu_expert_bytes_per_token += k * static_cast<double>(layer.expert_bytes());

        prefill_time += cpu_matmul_seconds(layer.dense, n, cpu) + cost.node_s;
        const std::vector<double> w = layer_weights(popularity, l, shape.n_expert);
        for (int32_t e = 0; e < shape.n_expert; ++e) {
            const double we = w[static_cast<size_t>(e)];
            const double q = 1.0 - std::pow(1.0 - std::min(1.0, k * we), n);
            prefill_time += std::max(q * cost.expert_s, 2.0 * E * n * k * we / cost.prefill_flops_per_s);
        }
    }
    out.decode_tokens_per_s = 1.0 / step;
    out.prefill_tokens_per_s = n / prefill_time;
    out.ceiling_tokens_per_s = ceiling(cpu.read_bytes_per_s, out.cpu_expert_bytes_per_token);
    return out;
}

} // namespace infer
