#include "runtime/expert_split.h"

#include <algorithm>

namespace infer {
namespace {

uint64_t round_up(uint64_t n, uint64_t align) { return (n + align - 1) / align * align; }

graph::TensorId add_tensor(graph::Graph &g, const graph::TensorDesc &like, const char *label) {
    graph::TensorDesc t;
    t.dtype = like.dtype;
    t.n = like.n;
    t.per_token = like.per_token;
    t.raw_bytes = like.raw_bytes;
    t.label = label;
    t.layer = like.layer;
    g.tensors.push_back(t);
    return static_cast<graph::TensorId>(g.tensors.size() - 1);
}

// The first node after `after` that reads tensor `id` (its storage), or the node count.
size_t first_reader(const graph::Graph &g, size_t after, graph::TensorId id) {
    const graph::TensorId root = g.storage_of(id);
    for (size_t i = after + 1; i < g.nodes.size(); ++i)
        for (graph::TensorId in : g.nodes[i].in)
            if (in != graph::kNoTensor && g.storage_of(in) == root) return i;
    return g.nodes.size();
}

} // namespace

std::vector<uint64_t> expert_bytes_per_layer(const graph::Graph &g, int32_t n_layer, uint64_t align) {
    std::vector<uint64_t> bytes(static_cast<size_t>(std::max(n_layer, 0)), 0);
    for (const graph::Node &n : g.nodes) {
        if (n.op != graph::Op::MoeFfn || n.layer < 0 || n.layer >= n_layer) continue;
        uint64_t b = 0;
        for (const graph::WeightRef *w : {n.w, n.w2, n.w3})
            b += round_up(w->n_bytes / static_cast<uint64_t>(n.n_expert), align);
        bytes[static_cast<size_t>(n.layer)] = b;
    }
    return bytes;
}

void split_expert_nodes(graph::Graph &g, const ExpertResidency &residency,
                        const std::vector<uint8_t> &stream_layers) {
    for (size_t i = 0; i < g.nodes.size(); ++i) {
        graph::Node &n = g.nodes[i];
        if (n.op != graph::Op::MoeFfn || n.expert_slot || n.layer < 0 ||
            n.layer >= residency.n_layer || n.n_expert != residency.n_expert)
            continue;
        const int32_t resident = residency.n_resident[static_cast<size_t>(n.layer)];
        if (resident == n.n_expert) continue; // the whole stack on the device, as without offload
        n.expert_slot = residency.layer_slots(n.layer);
        n.experts_resident = false;
        const bool streams = static_cast<size_t>(n.layer) < stream_layers.size() &&
                             stream_layers[static_cast<size_t>(n.layer)];
        if (resident == 0 && !streams) continue; // one node: every expert on the CPU
        // Partly resident: this node keeps the resident experts; a CPU twin and a sum follow.
        const graph::TensorId y = n.out;
        const graph::TensorDesc y_desc = g.tensors[static_cast<size_t>(y)];
        const graph::TensorDesc scratch_desc = g.tensors[static_cast<size_t>(n.scratch)];
        graph::Node device = n;
        device.experts_resident = true;
        device.out = add_tensor(g, y_desc, "moe resident");
        graph::Node cpu = n;
        cpu.out = add_tensor(g, y_desc, "moe cpu");
        cpu.scratch = add_tensor(g, scratch_desc, "moe cpu scratch");
        graph::Node sum;
        sum.op = graph::Op::Add;
        sum.layer = n.layer;
        sum.out = y;
        sum.in[0] = device.out;
        sum.in[1] = cpu.out;
        g.nodes[i] = device;
        const size_t at = first_reader(g, i, y);
        g.nodes.insert(g.nodes.begin() + static_cast<std::ptrdiff_t>(at), {cpu, sum});
        i = at + 1; // past the sum; the CPU twin must not be split again
    }
    graph::compute_lifetimes(g);
}

} // namespace infer
