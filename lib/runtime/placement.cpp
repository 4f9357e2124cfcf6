#include "runtime/placement.h"

#include "runtime/expert_split.h"
#include "runtime/segments.h"

#include <new>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <algorithm>
#include <cstdio>
#include <memory>
#include <unordered_map>
#include <unordered_set>

namespace infer {
namespace {

// Device copies are 256-byte aligned (cuda_weights.cu); accounting does the same.
constexpr uint64_t kDeviceAlign = 256;

uint64_t align_up(uint64_t n) { return (n + kDeviceAlign - 1) & ~(kDeviceAlign - 1); }

double mib(uint64_t bytes) { return static_cast<double>(bytes) / 1048576.0; }

// Each node's slot (placement.h): layer nodes by layer, the others by whether they come before
// the first layer (input) or after (output).
std::vector<int32_t> slots_of(const graph::Graph &g, int32_t n_layer) {
    std::vector<int32_t> slots(g.nodes.size());
    bool seen_layer = false;
    for (size_t i = 0; i < g.nodes.size(); ++i) {
        const int32_t layer = g.nodes[i].layer;
        seen_layer = seen_layer || layer >= 0;
        slots[i] = layer >= 0 ? std::min(layer, n_layer - 1) + 1 : (seen_layer ? n_layer + 1 : 0);
    }
    return slots;
}

// The weights a node reads, with the bytes a device copy takes. RoPE frequency factors and
// attention sinks are not a WeightRef but travel with the node all the same.
template <class Fn> void for_each_weight(const graph::Node &n, Fn &&fn) {
    for (const graph::WeightRef *w :
         {n.w, n.w2, n.w3, n.expert_bias[0], n.expert_bias[1], n.expert_bias[2]})
        if (w && w->data) fn(w->data, w->n_bytes, w);
    if (n.op == graph::Op::Rope && n.freq_factors)
        fn(n.freq_factors, static_cast<uint64_t>(n.n_rot / 2) * sizeof(float), nullptr);
    if (n.op == graph::Op::Attention && n.sinks)
        fn(n.sinks, static_cast<uint64_t>(n.n_head) * sizeof(float), nullptr);
}

bool reads_kv(graph::Op op) { return op == graph::Op::KvStore || op == graph::Op::Attention; }

// Per weight (by host address): the side an override puts it on.
using Forced = std::unordered_map<const void *, uint8_t>;

// A compiled override pattern (PCRE2, as the pre-tokenizers use), freed with it.
struct Pattern {
    pcre2_code *code = nullptr;
    pcre2_match_data *match = nullptr;
    ~Pattern() {
        pcre2_match_data_free(match);
        pcre2_code_free(code);
    }
    bool found_in(std::string_view text) const {
        return pcre2_match(code, reinterpret_cast<PCRE2_SPTR>(text.data()), text.size(), 0, 0,
                           match, nullptr) >= 0;
    }
};

Status compile(const std::string &pattern, Pattern *out) {
    int error = 0;
    PCRE2_SIZE offset = 0;
    out->code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(), 0,
                              &error, &offset, nullptr);
    if (!out->code) {
        PCRE2_UCHAR message[160];
        pcre2_get_error_message(error, message, sizeof message);
        return make_error(INFER_ERR_INVALID_ARGUMENT,
                          "override pattern '%s' is not a regex: %s at offset %zu",
                          excerpt(pattern).c_str(), reinterpret_cast<const char *>(message),
                          static_cast<size_t>(offset));
    }
    out->match = pcre2_match_data_create_from_pattern(out->code, nullptr);
    if (!out->match) throw std::bad_alloc();
    return Status::ok();
}

Status match_overrides(const graph::Graph &g, const PlacementRequest &req, Forced *forced) {
    std::vector<std::unique_ptr<Pattern>> patterns;
    for (const TensorOverride &o : req.overrides) {
        if (o.backend != INFER_BACKEND_CPU && !(req.device && o.backend == req.device->id))
            return make_error(INFER_ERR_INVALID_ARGUMENT,
                              "override '%s': backend %d is neither the CPU nor this model's "
                              "device (%s)",
                              excerpt(o.pattern).c_str(), o.backend,
                              req.device ? req.device->name : "none: the model runs on the CPU");
        patterns.push_back(std::make_unique<Pattern>());
        INFER_TRY(compile(o.pattern, patterns.back().get()));
    }
    std::vector<uint32_t> matches(patterns.size(), 0);
    std::unordered_set<const void *> seen;
    for (const graph::Node &n : g.nodes)
        for_each_weight(n, [&](const void *data, uint64_t, const graph::WeightRef *w) {
            if (!w || !seen.insert(data).second) return;
            for (size_t i = 0; i < patterns.size(); ++i)
                if (patterns[i]->found_in(w->name)) {
                    ++matches[i];
                    (*forced)[data] = req.overrides[i].backend == INFER_BACKEND_CPU ? 0 : 1;
                    return;
                }
        });
    for (size_t i = 0; i < patterns.size(); ++i)
        if (matches[i] == 0)
            return make_error(INFER_ERR_INVALID_ARGUMENT,
                              "override pattern '%s' matches no weight of this model (names look "
                              "like 'blk.0.ffn_up_exps.weight'; infer-inspect lists them)",
                              excerpt(req.overrides[i].pattern).c_str());
    return Status::ok();
}

// The placement for `n_gpu` (0..n_layer + 1) device layers, before any budget check.
Placement layers_on_device(const graph::Graph &g, int32_t n_layer, const PlacementRequest &req,
                           int32_t n_gpu) {
    Placement p;
    p.device = req.device;
    p.n_layer = n_layer;
    p.n_gpu_layers = n_gpu;
    p.overrides = req.overrides;
    p.slot_on_device.assign(static_cast<size_t>(n_layer) + 2, 0);
    p.kv_on_device.assign(static_cast<size_t>(n_layer), 0);
    if (!req.device) return p;
    const int32_t first = n_layer - std::min(n_gpu, n_layer);
    for (int32_t l = first; l < n_layer; ++l) p.slot_on_device[static_cast<size_t>(l) + 1] = 1;
    p.slot_on_device[0] = first == 0 && n_gpu > 0;
    p.slot_on_device[static_cast<size_t>(n_layer) + 1] = n_gpu > n_layer;
    for (int32_t l = 0; l < n_layer; ++l) p.kv_on_device[static_cast<size_t>(l)] = p.slot_on_device[static_cast<size_t>(l) + 1];
    // A layer whose KV ops the device refuses keeps its cache on the host.
    for (const graph::Node &n : g.nodes)
        if (reads_kv(n.op) && n.layer >= 0 && n.layer < n_layer &&
            !req.device->supports(n, g).is_ok())
            p.kv_on_device[static_cast<size_t>(n.layer)] = 0;
    return p;
}

// What the device must hold for the nodes assigned to it. A node of resident experts needs only
// their slices (packed) and the layer's slot table.
void account_weights(const graph::Graph &g, const NodeAssignment &a,
                     const ExpertResidency *experts, Placement *p) {
    std::unordered_set<const void *> device, host;
    p->device_weights.clear();
    p->device_weight_bytes = p->host_weight_bytes = 0;
    auto hold = [&](const WeightSpan &span) {
        if (!device.insert(span.data).second) return;
        p->device_weights.push_back(span);
        p->device_weight_bytes += align_up(span.bytes);
    };
    for (size_t i = 0; i < g.nodes.size(); ++i) {
        const graph::Node &n = g.nodes[i];
        const bool subset = a.on_device[i] && is_resident_expert_node(n);
        for_each_weight(n, [&](const void *data, uint64_t bytes, const graph::WeightRef *w) {
            // What a kernel addresses: an expert of a stack, else a matrix's row.
            const bool stack = n.op == graph::Op::MoeFfn;
            const uint64_t one = stack ? bytes / static_cast<uint64_t>(n.n_expert) : 0;
            if (!a.on_device[i]) {
                if (host.insert(data).second) p->host_weight_bytes += bytes;
            } else if (!subset) {
                hold({data, bytes, nullptr, 0, 0, stack ? one : w ? w->row_bytes : 0});
            } else {
                const int32_t resident = experts->n_resident[static_cast<size_t>(n.layer)];
                hold({data, one * static_cast<uint64_t>(resident), n.expert_slot, n.n_expert, one,
                      one});
            }
        });
        if (subset)
            hold({n.expert_slot, static_cast<uint64_t>(n.n_expert) * sizeof(int32_t)});
        // A device layer whose experts all stay on the CPU still gets (empty) stacks there, so
        // that a prefill graph's device node for it can stream its experts in
        // (expert_streaming.h). They take no bytes; without resident experts there is no slot
        // table either.
        if (!a.on_device[i] && is_cpu_expert_node(n) && experts && n.layer >= 0 &&
            p->slot_on_device[static_cast<size_t>(n.layer) + 1] &&
            experts->n_resident[static_cast<size_t>(n.layer)] == 0)
            for_each_weight(n, [&](const void *data, uint64_t bytes, const graph::WeightRef *) {
                hold({data, 0, n.expert_slot, n.n_expert, bytes / static_cast<uint64_t>(n.n_expert)});
            });
    }
}

std::string layers_text(const Placement &p) {
    const int32_t on = std::min(p.n_gpu_layers, p.n_layer);
    std::string text;
    char buf[96];
    if (on > 0) {
        std::snprintf(buf, sizeof buf, "layers %d..%d", p.n_layer - on, p.n_layer - 1);
        text = buf;
    }
    if (p.n_gpu_layers > p.n_layer) text += text.empty() ? "the output layer" : " and the output layer";
    return text.empty() ? "no layers (overrides only)" : text;
}

} // namespace

Status assign_nodes(const graph::Graph &g, const Placement &p, NodeAssignment *out) {
    NodeAssignment a;
    a.on_device.assign(g.nodes.size(), 0);
    if (!p.device) {
        *out = std::move(a);
        return Status::ok();
    }
    std::unordered_set<const void *> uploaded;
    for (const WeightSpan &w : p.device_weights) uploaded.insert(w.data);
    std::unordered_map<const void *, uint8_t> forced;
    for (const auto &[data, side] : p.forced) forced.emplace(data, side);
    const std::vector<int32_t> slots = slots_of(g, p.n_layer);
    std::vector<uint8_t> logged(256, 0);
    for (size_t i = 0; i < g.nodes.size(); ++i) {
        const graph::Node &n = g.nodes[i];
        bool device = p.slot_on_device[static_cast<size_t>(slots[i])] != 0;
        bool forced_cpu = false, forced_device = false;
        for_each_weight(n, [&](const void *data, uint64_t, const graph::WeightRef *) {
            const auto it = forced.find(data);
            if (it == forced.end()) return;
            forced_cpu = forced_cpu || it->second == 0;
            forced_device = forced_device || it->second == 1;
        });
        if (forced_device) device = true;
        if (forced_cpu) device = false; // the CPU reads every weight, so it wins a mixed node
        const bool kv = reads_kv(n.op) && n.layer >= 0 && n.layer < p.n_layer;
        if (kv) device = p.kv_on_device[static_cast<size_t>(n.layer)] != 0;
        // Per-expert offload decides the experts' side: the resident ones on the device (when it
        // holds the layer), the others on the CPU, whatever the overrides say.
        if (is_cpu_expert_node(n)) device = false;
        if (is_resident_expert_node(n)) device = p.slot_on_device[static_cast<size_t>(slots[i])] != 0;
        if (device) {
            Status why = p.device->supports(n, g);
            if (why.is_ok() && p.uploaded)
                for_each_weight(n, [&](const void *data, uint64_t, const graph::WeightRef *w) {
                    if (why.is_ok() && !uploaded.count(data))
                        why = make_error(INFER_ERR_UNSUPPORTED, "%s: weight '%.*s' is not on %s",
                                         graph::op_name(n.op), w ? static_cast<int>(w->name.size()) : 0,
                                         w ? w->name.data() : "", p.device->name);
                });
            if (!why.is_ok()) {
                if (kv)
                    return make_error(why.code(), "layer %d keeps its KV cache on %s, which "
                                      "cannot run this graph's %s: %s",
                                      n.layer, p.device->name, graph::op_name(n.op), why.message().c_str());
                device = false;
                if (!logged[static_cast<size_t>(n.op)]++)
                    a.fallbacks.push_back(why.message() + "; such nodes run on the CPU");
            }
        }
        a.on_device[i] = device;
    }
    *out = std::move(a);
    return Status::ok();
}

void apply_expert_residency(graph::Graph &g, const Placement &p, bool for_streaming) {
    if (p.experts.n_layer == 0) return;
    std::vector<uint8_t> stream_layers;
    if (for_streaming && p.device)
        for (int32_t l = 0; l < p.experts.n_layer; ++l)
            stream_layers.push_back(p.slot_on_device[static_cast<size_t>(l) + 1]);
    split_expert_nodes(g, p.experts, stream_layers);
}

namespace {

Status place_layers(const graph::Graph &g, int32_t n_layer, const PlacementRequest &req,
                    const ExpertResidency *experts, Placement *out);

// Per-expert offload: the layers as asked with every expert on the CPU, then the budget left
// filled with experts by popularity, and the layers placed again with those experts resident.
Status place_experts(const graph::Graph &g, int32_t n_layer, const PlacementRequest &req,
                     Placement *out) {
    const std::vector<uint64_t> expert_bytes = expert_bytes_per_layer(g, n_layer, kDeviceAlign);
    int32_t n_expert = 0;
    for (const graph::Node &n : g.nodes)
        if (n.op == graph::Op::MoeFfn) n_expert = n.n_expert;
    if (n_expert == 0) return place_layers(g, n_layer, req, nullptr, out); // a dense model
    const ExpertResidency none = no_experts_resident(n_layer, n_expert);
    graph::Graph g_cpu = g;
    split_expert_nodes(g_cpu, none);
    Placement without;
    INFER_TRY(place_layers(g_cpu, n_layer, req, &none, &without));
    const ExpertPopularity popularity =
        req.popularity ? *req.popularity : uniform_popularity(n_layer, n_expert);
    if (popularity.n_layer != n_layer || popularity.n_expert != n_expert)
        return make_error(INFER_ERR_INVALID_ARGUMENT,
                          "expert popularity (%s) has %d layers of %d experts; the model has %d "
                          "of %d",
                          popularity.source.c_str(), popularity.n_layer, popularity.n_expert,
                          n_layer, n_expert);
    // Only layers the device holds can keep experts there.
    std::vector<uint64_t> eligible = expert_bytes;
    uint64_t total = 0;
    for (int32_t l = 0; l < n_layer; ++l) {
        if (!without.slot_on_device[static_cast<size_t>(l) + 1])
            eligible[static_cast<size_t>(l)] = UINT64_MAX / 4;
        else
            total += expert_bytes[static_cast<size_t>(l)] * static_cast<uint64_t>(n_expert);
    }
    const int32_t on_device = std::min(without.n_gpu_layers, n_layer);
    const uint64_t used = without.device_weight_bytes + req.reserve +
                          req.reserve_per_layer * static_cast<uint64_t>(on_device);
    uint64_t left = req.budget == 0 ? UINT64_MAX : (req.budget > used ? req.budget - used : 0);
    // A layer partly on the device also holds its slot table; one wholly there does not.
    const uint64_t slot_tables =
        align_up(static_cast<uint64_t>(n_expert) * sizeof(int32_t)) * static_cast<uint64_t>(on_device);
    if (left < total) left = left > slot_tables ? left - slot_tables : 0;
    ExpertResidency experts = place_experts_by_popularity(popularity, eligible, left);
    graph::Graph g_split = g;
    split_expert_nodes(g_split, experts);
    // The same layers as before: the experts only take what they left.
    PlacementRequest layers = req;
    layers.n_gpu_layers = without.n_gpu_layers;
    layers.budget = 0;
    Placement with;
    INFER_TRY(place_layers(g_split, n_layer, layers, &experts, &with));
    // Moved, not copied: the upload list points into these slot tables.
    with.experts = std::move(experts);
    with.expert_source = popularity.source;
    with.expert_popularity = popularity;
    with.expert_total_bytes = total;
    with.context_reserve = req.reserve + req.reserve_per_layer * static_cast<uint64_t>(on_device);
    *out = std::move(with);
    return Status::ok();
}

Status place_layers(const graph::Graph &g, int32_t n_layer, const PlacementRequest &req,
                    const ExpertResidency *experts, Placement *out) {
    Forced forced;
    INFER_TRY(match_overrides(g, req, &forced));
    auto place_with = [&](int32_t n_gpu, Placement *p) -> Status {
        *p = layers_on_device(g, n_layer, req, n_gpu);
        p->forced.assign(forced.begin(), forced.end());
        NodeAssignment a;
        INFER_TRY(assign_nodes(g, *p, &a)); // before the upload list exists: p->uploaded false
        account_weights(g, a, experts, p);
        p->fallbacks = std::move(a.fallbacks);
        p->uploaded = true;
        return Status::ok();
    };
    const int32_t all = n_layer + 1;
    if (!req.device) return place_with(0, out);
    if (req.n_gpu_layers == kAutoLayers) {
        Placement p;
        for (int32_t n = all; n >= 0; --n) {
            INFER_TRY(place_with(n, &p));
            const uint64_t need = p.device_weight_bytes + req.reserve +
                                  req.reserve_per_layer * static_cast<uint64_t>(std::min(n, n_layer));
            if (req.budget == 0 || need <= req.budget || n == 0) break;
        }
        *out = std::move(p);
        return Status::ok();
    }
    if (req.n_gpu_layers < kAutoLayers)
        return make_error(INFER_ERR_INVALID_ARGUMENT,
                          "n_gpu_layers %d is out of range: a count, -1 (all) or -2 (auto)",
                          req.n_gpu_layers);
    const int32_t n_gpu = req.n_gpu_layers == kAllLayers ? all : std::min(req.n_gpu_layers, all);
    Placement p;
    INFER_TRY(place_with(n_gpu, &p));
    if (req.budget && p.device_weight_bytes > req.budget) {
        int32_t fits = -1;
        uint64_t fits_bytes = 0;
        for (int32_t n = n_gpu - 1; n >= 0 && fits < 0; --n) {
            Placement smaller;
            INFER_TRY(place_with(n, &smaller));
            if (smaller.device_weight_bytes <= req.budget) {
                fits = n;
                fits_bytes = smaller.device_weight_bytes;
            }
        }
        char hint[128] = "not even n_gpu_layers 0 fits (the overrides put too much on the device)";
        if (fits >= 0)
            std::snprintf(hint, sizeof hint, "n_gpu_layers %d fits (%.1f MiB)", fits, mib(fits_bytes));
        return make_error(INFER_ERR_OUT_OF_MEMORY,
                          "%s on %s need %.1f MiB of device memory for weights; the model's "
                          "device_memory_budget is %.1f MiB: %s",
                          layers_text(p).c_str(), req.device->name, mib(p.device_weight_bytes),
                          mib(req.budget), hint);
    }
    *out = std::move(p);
    return Status::ok();
}

} // namespace

Status place_model(const graph::Graph &g, int32_t n_layer, const PlacementRequest &req,
                   Placement *out) {
    if (req.device && req.experts_by_popularity) return place_experts(g, n_layer, req, out);
    return place_layers(g, n_layer, req, nullptr, out);
}

std::string format_placement(const graph::Graph &g, const Placement &p, const NodeAssignment &a) {
    std::string text;
    char line[256];
    const char *dev = p.device ? p.device->name : "device";
    std::snprintf(line, sizeof line,
                  "placement: %s holds %.1f MiB of weights (%s); the CPU reads %.1f MiB in place\n",
                  p.device ? dev : "no device", mib(p.device_weight_bytes),
                  p.device ? layers_text(p).c_str() : "-", mib(p.host_weight_bytes));
    text += line;
    const std::vector<int32_t> slots = slots_of(g, p.n_layer);
    const size_t n_slots = static_cast<size_t>(p.n_layer) + 2;
    std::vector<int32_t> on_device(n_slots, 0), on_host(n_slots, 0);
    std::vector<uint64_t> dev_bytes(n_slots, 0), host_bytes(n_slots, 0);
    std::vector<std::string> host_ops(n_slots);
    std::unordered_set<const void *> counted[2]; // by side: a split expert stack is on both
    for (size_t i = 0; i < g.nodes.size(); ++i) {
        const graph::Node &n = g.nodes[i];
        const size_t s = static_cast<size_t>(slots[i]);
        (a.on_device[i] ? on_device : on_host)[s]++;
        if (!a.on_device[i] && p.slot_on_device[s] &&
            host_ops[s].find(graph::op_name(n.op)) == std::string::npos)
            host_ops[s] += std::string(host_ops[s].empty() ? "" : ",") + graph::op_name(n.op);
        const bool subset = is_resident_expert_node(n) && p.experts.n_layer > n.layer;
        for_each_weight(n, [&](const void *data, uint64_t bytes, const graph::WeightRef *) {
            if (subset)
                bytes = bytes / static_cast<uint64_t>(n.n_expert) *
                        static_cast<uint64_t>(p.experts.n_resident[static_cast<size_t>(n.layer)]);
            if (counted[a.on_device[i]].insert(data).second)
                (a.on_device[i] ? dev_bytes : host_bytes)[s] += bytes;
        });
    }
    std::snprintf(line, sizeof line, "  %-9s %-6s %5s %5s %12s %12s  %s\n", "slot", "runs", "CPU",
                  dev, "CPU weights", "dev weights", "CPU nodes on device slots");
    text += line;
    for (size_t s = 0; s < n_slots; ++s) {
        char name[32];
        if (s == 0)
            std::snprintf(name, sizeof name, "input");
        else if (s == n_slots - 1)
            std::snprintf(name, sizeof name, "output");
        else
            std::snprintf(name, sizeof name, "layer %zu", s - 1);
        const char *runs = on_device[s] && on_host[s] ? "split" : on_device[s] ? dev : "CPU";
        std::snprintf(line, sizeof line, "  %-9s %-6s %5d %5d %10.2f M %10.2f M  %s\n", name, runs,
                      on_host[s], on_device[s], mib(host_bytes[s]), mib(dev_bytes[s]),
                      host_ops[s].c_str());
        text += line;
    }
    const SegmentPlan segments = plan_segments(g, a.on_device);
    size_t copies = 0;
    uint64_t bytes = 0;
    for (const Segment &s : segments.segments)
        for (const SegmentCopy &c : s.copies_after) {
            ++copies;
            bytes += tensor_bytes(g, c.tensor, 1);
        }
    std::snprintf(line, sizeof line,
                  "  %zu segments; %zu activation copies between the CPU and %s per step "
                  "(%.1f KiB per token)\n",
                  segments.segments.size(), copies, dev, static_cast<double>(bytes) / 1024.0);
    text += line;
    if (p.experts.n_layer > 0) {
        uint64_t resident = 0;
        for (int32_t l = 0; l < p.experts.n_layer; ++l)
            resident += static_cast<uint64_t>(p.experts.n_resident[static_cast<size_t>(l)]);
        std::snprintf(line, sizeof line,
                      "  experts: per expert by popularity (%s): %llu of %lld resident, %.1f of "
                      "%.1f MiB; resident per layer:",
                      p.expert_source.c_str(), static_cast<unsigned long long>(resident),
                      static_cast<long long>(p.experts.n_layer) * p.experts.n_expert,
                      mib(p.experts.bytes), mib(p.expert_total_bytes));
        text += line;
        for (int32_t l = 0; l < p.experts.n_layer; ++l)
            text.append(1, ' ').append(std::to_string(p.experts.n_resident[static_cast<size_t>(l)]));
        text += "\n";
    }
    for (const std::string &f : p.fallbacks) text += "  fallback: " + f + "\n";
    return text;
}

} // namespace infer
