#include "runtime/segments.h"

#include <algorithm>

namespace infer {
namespace {

// The storage roots node `n` reads and writes.
struct Touches {
    graph::TensorId reads[3];
    graph::TensorId writes[3]; // out, out2 and the kernel scratch
};

Touches touches_of(const graph::Graph &g, const graph::Node &n) {
    auto root = [&](graph::TensorId id) {
        return id == graph::kNoTensor ? graph::kNoTensor : g.storage_of(id);
    };
    return {{root(n.in[0]), root(n.in[1]), root(n.in[2])},
            {root(n.out), root(n.out2), root(n.scratch)}};
}

} // namespace

uint64_t tensor_bytes(const graph::Graph &g, graph::TensorId id, int64_t n_tokens) {
    const graph::TensorDesc &t = g.tensors[id];
    if (t.dtype == graph::DType::Raw) return t.raw_bytes;
    const uint64_t rows = t.per_token ? static_cast<uint64_t>(n_tokens) : 1;
    return rows * static_cast<uint64_t>(t.n) * 4;
}

SegmentPlan plan_segments(const graph::Graph &g, std::span<const uint8_t> on_device) {
    SegmentPlan plan;
    plan.sides.assign(g.tensors.size(), 0);
    const auto n_nodes = static_cast<int32_t>(g.nodes.size());
    // A device segment ends after the last device node that writes what the next host node
    // reads: the copies then start at once, and the device nodes that follow run while the host
    // works (a split MoE layer's two lanes).
    std::vector<uint8_t> cut_after(g.nodes.size(), 0);
    std::vector<int32_t> last_writer(g.tensors.size(), -1);
    for (int32_t i = 0; i < n_nodes; ++i) {
        const uint8_t side = on_device[static_cast<size_t>(i)] ? kOnDevice : kOnHost;
        const Touches t = touches_of(g, g.nodes[static_cast<size_t>(i)]);
        int32_t producer = -1;
        for (graph::TensorId id : t.reads)
            if (id != graph::kNoTensor) {
                plan.sides[static_cast<size_t>(id)] |= side;
                producer = std::max(producer, last_writer[static_cast<size_t>(id)]);
            }
        if (side == kOnHost && producer >= 0 && on_device[static_cast<size_t>(producer)])
            cut_after[static_cast<size_t>(producer)] = 1;
        for (graph::TensorId id : t.writes)
            if (id != graph::kNoTensor) {
                plan.sides[static_cast<size_t>(id)] |= side;
                last_writer[static_cast<size_t>(id)] = i;
            }
    }
    for (int32_t i = 0; i < n_nodes; ++i) {
        const bool device = on_device[static_cast<size_t>(i)] != 0;
        if (i == 0 || device != plan.segments.back().on_device ||
            cut_after[static_cast<size_t>(i - 1)])
            plan.segments.push_back({{i, i}, device, {}});
        plan.segments.back().nodes.end = i + 1;
    }
    // After each segment: the two-sided tensors it wrote that a later node of the other side
    // reads. (A later write on that side before the read would make the copy useless, not wrong.)
    for (size_t s = 0; s < plan.segments.size(); ++s) {
        Segment &seg = plan.segments[s];
        std::vector<graph::TensorId> written;
        for (int32_t i = seg.nodes.begin; i < seg.nodes.end; ++i)
            for (graph::TensorId id : touches_of(g, g.nodes[static_cast<size_t>(i)]).writes)
                if (id != graph::kNoTensor && plan.sides[static_cast<size_t>(id)] == (kOnHost | kOnDevice))
                    written.push_back(id);
        std::sort(written.begin(), written.end());
        written.erase(std::unique(written.begin(), written.end()), written.end());
        for (graph::TensorId id : written) {
            bool read_across = false;
            for (int32_t i = seg.nodes.end; i < n_nodes && !read_across; ++i) {
                if ((on_device[static_cast<size_t>(i)] != 0) == seg.on_device) continue;
                for (graph::TensorId r : touches_of(g, g.nodes[static_cast<size_t>(i)]).reads)
                    read_across = read_across || r == id;
            }
            if (read_across) seg.copies_after.push_back({id, !seg.on_device});
        }
    }
    if (g.logits != graph::kNoTensor) {
        const graph::TensorId out = g.storage_of(g.logits);
        for (int32_t i = n_nodes - 1; i >= 0; --i) {
            const Touches t = touches_of(g, g.nodes[static_cast<size_t>(i)]);
            if (t.writes[0] == out || t.writes[1] == out) {
                plan.logits_on_device = on_device[static_cast<size_t>(i)] != 0;
                break;
            }
        }
    }
    return plan;
}

} // namespace infer
