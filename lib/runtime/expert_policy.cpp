// Expert residency (expert_policy.h): which routed experts a device holds under a byte budget,
// per expert by popularity or per layer, and the share of selected expert bytes a residency
// serves.
#include "runtime/expert_policy.h"

#include "core/checked_math.h"

#include <algorithm>

namespace infer {
namespace {

// One expert's bytes in `layer`; 0 (nothing to place) for a layer the span does not cover.
uint64_t bytes_of(std::span<const uint64_t> expert_bytes, int32_t layer) {
    return static_cast<size_t>(layer) < expert_bytes.size() ? expert_bytes[layer] : 0;
}

ExpertResidency empty_residency(int32_t n_layer, int32_t n_expert) {
    ExpertResidency r;
    r.n_layer = std::max(n_layer, 0);
    r.n_expert = std::max(n_expert, 0);
    r.slot.assign(static_cast<size_t>(r.n_layer) * static_cast<size_t>(r.n_expert), -1);
    r.n_resident.assign(static_cast<size_t>(r.n_layer), 0);
    return r;
}

// Marks (layer, expert) resident; slots are numbered afterwards by number_slots.
void make_resident(ExpertResidency *r, int32_t layer, int32_t expert, uint64_t bytes) {
    r->slot[static_cast<size_t>(layer) * static_cast<size_t>(r->n_expert) +
            static_cast<size_t>(expert)] = 0;
    r->bytes += bytes;
}

// Gives each layer's resident experts their compact indices, in expert order.
void number_slots(ExpertResidency *r) {
    for (int32_t layer = 0; layer < r->n_layer; ++layer) {
        int32_t *slot =
            r->slot.data() + static_cast<size_t>(layer) * static_cast<size_t>(r->n_expert);
        int32_t next = 0;
        for (int32_t e = 0; e < r->n_expert; ++e)
            if (slot[e] >= 0) slot[e] = next++;
        r->n_resident[static_cast<size_t>(layer)] = next;
    }
}

// All experts of one layer, or false when they do not fit in *budget_left.
bool take_layer(ExpertResidency *r, int32_t layer, uint64_t expert_bytes, uint64_t *budget_left) {
    uint64_t layer_bytes = 0;
    if (!checked_mul(expert_bytes, static_cast<uint64_t>(r->n_expert), &layer_bytes) ||
        layer_bytes > *budget_left)
        return false;
    *budget_left -= layer_bytes;
    for (int32_t e = 0; e < r->n_expert; ++e)
        make_resident(r, layer, e, expert_bytes);
    return true;
}

struct Candidate {
    double weight;
    uint64_t bytes;
    int32_t layer, expert;
};

// Higher popularity first: an expert kept on the device serves popularity x bytes of the
// selected expert bytes for bytes of budget, so popularity is its worth per byte whatever its
// size (ranking by popularity per byte would keep the small experts and leave the large ones,
// often the slower Q6_K kind, to the CPU). Ties go to the lower layer, then the lower expert:
// equally popular experts (the uniform prior) fill whole layers, so fewer layers need the CPU at
// all, and each that does costs a handoff and the CPU lane's fixed per-layer work. A total
// order: deterministic.
bool better(const Candidate &a, const Candidate &b) {
    if (a.weight != b.weight) return a.weight > b.weight;
    if (a.layer != b.layer) return a.layer < b.layer;
    return a.expert < b.expert;
}

} // namespace

ExpertResidency no_experts_resident(int32_t n_layer, int32_t n_expert) {
    ExpertResidency r = empty_residency(n_layer, n_expert);
    number_slots(&r);
    return r;
}

ExpertResidency all_experts_resident(int32_t n_layer, int32_t n_expert,
                                     std::span<const uint64_t> expert_bytes) {
    ExpertResidency r = empty_residency(n_layer, n_expert);
    for (int32_t layer = 0; layer < r.n_layer; ++layer) {
        const uint64_t bytes = bytes_of(expert_bytes, layer);
        if (bytes == 0) continue;
        for (int32_t e = 0; e < r.n_expert; ++e)
            make_resident(&r, layer, e, bytes);
    }
    number_slots(&r);
    return r;
}

ExpertResidency place_experts_by_popularity(const ExpertPopularity &popularity,
                                            std::span<const uint64_t> expert_bytes,
                                            uint64_t budget) {
    ExpertResidency r = empty_residency(popularity.n_layer, popularity.n_expert);
    std::vector<Candidate> candidates;
    candidates.reserve(r.slot.size());
    for (int32_t layer = 0; layer < r.n_layer; ++layer) {
        const uint64_t bytes = bytes_of(expert_bytes, layer);
        if (bytes == 0) continue;
        for (int32_t e = 0; e < r.n_expert; ++e)
            candidates.push_back({popularity.at(layer, e), bytes, layer, e});
    }
    std::sort(candidates.begin(), candidates.end(), better);
    // Greedy by popularity; an expert that no longer fits is skipped, not the end: a
    // smaller expert of another layer may still fit.
    uint64_t budget_left = budget;
    for (const Candidate &c : candidates) {
        if (c.bytes > budget_left) continue;
        budget_left -= c.bytes;
        make_resident(&r, c.layer, c.expert, c.bytes);
    }
    number_slots(&r);
    return r;
}

ExpertResidency place_experts_by_layer(int32_t n_layer, int32_t n_expert,
                                       std::span<const uint64_t> expert_bytes, uint64_t budget) {
    ExpertResidency r = empty_residency(n_layer, n_expert);
    uint64_t budget_left = budget;
    for (int32_t layer = r.n_layer - 1; layer >= 0; --layer) {
        const uint64_t bytes = bytes_of(expert_bytes, layer);
        if (bytes == 0) continue;
        if (!take_layer(&r, layer, bytes, &budget_left)) break;
    }
    number_slots(&r);
    return r;
}

double resident_share(const ExpertResidency &residency, const ExpertPopularity &selections,
                      std::span<const uint64_t> expert_bytes) {
    const int32_t n_layer = std::min(residency.n_layer, selections.n_layer);
    const int32_t n_expert = std::min(residency.n_expert, selections.n_expert);
    double resident = 0, all = 0;
    for (int32_t layer = 0; layer < n_layer; ++layer) {
        const double bytes = static_cast<double>(bytes_of(expert_bytes, layer));
        const int32_t *slot = residency.layer_slots(layer);
        for (int32_t e = 0; e < n_expert; ++e) {
            const double selected = selections.at(layer, e) * bytes;
            all += selected;
            if (slot[e] >= 0) resident += selected;
        }
    }
    return all > 0 ? resident / all : 0.0;
}

} // namespace infer
