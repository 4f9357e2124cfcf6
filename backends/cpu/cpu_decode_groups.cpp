#include "cpu/cpu_decode_groups.h"

#include "cpu/cpu_vec_dot.h"

#include <array>

namespace infer::cpu {

using graph::Node;
using graph::Op;

bool act_in_scratch(const graph::Graph &g, const Node &n, int32_t first) {
    if (!n.act_shared) return false;
    for (auto i = static_cast<int32_t>(&n - g.nodes.data()) - 1; i >= first; --i) {
        const Node &prev = g.nodes[static_cast<size_t>(i)];
        if (prev.scratch != n.scratch) continue;
        uint32_t a = 0, b = 0;
        return prev.op == Op::MatMul && prev.in[0] == n.in[0] && prev.w->ne[0] == n.w->ne[0] &&
               vec_dot_act_type(prev.w->type, &a) && vec_dot_act_type(n.w->type, &b) && a == b;
    }
    return false;
}

namespace {

// Ops whose one-token work is a fixed share per thread of their own tensors and scratch (no
// claimed chunks, no KV cache, no counters): the ones a group may hold.
bool groupable(Op op) {
    switch (op) {
    case Op::RmsNorm:
    case Op::MatMul:
    case Op::Add:
    case Op::Scale:
    case Op::Rope:
    case Op::Glu:
    case Op::SigmoidGate:
    case Op::Slice:
    case Op::Concat:
        return true;
    default:
        return false;
    }
}

struct Bytes {
    const uint8_t *begin = nullptr, *end = nullptr;
    bool overlaps(const Bytes &o) const { return begin < o.end && o.begin < end; }
};

// What a groupable node reads and writes, as byte ranges of the arena (empty where absent).
// Fenced bytes are written before a barrier inside the node that every thread passes, and then
// only read: a node after it in the group may read them, but not write them.
struct Access {
    std::array<Bytes, 4> reads;  // the inputs, and a MatMul's activations left by another
    std::array<Bytes, 3> writes; // the outputs, and Rope's scratch (a slice per thread)
    Bytes fenced;

    // Whether this node may not run beside `earlier`, a node before it in its group.
    bool conflicts(const Access &earlier) const {
        for (const Bytes &w : {writes[0], writes[1], writes[2], fenced}) {
            for (const Bytes &r : earlier.reads)
                if (w.overlaps(r)) return true;
            for (const Bytes &v :
                 {earlier.writes[0], earlier.writes[1], earlier.writes[2], earlier.fenced})
                if (w.overlaps(v)) return true;
        }
        for (const Bytes &r : reads)
            for (const Bytes &v : earlier.writes)
                if (r.overlaps(v)) return true;
        return false;
    }
};

Access access_of(const graph::Graph &g, const std::vector<uint8_t *> &data, const Node &n) {
    auto bytes = [&](graph::TensorId id) {
        if (id == graph::kNoTensor || !data[id]) return Bytes{};
        return Bytes{data[id], data[id] + g.max_bytes(id)};
    };
    Access a;
    for (int i = 0; i < 3; ++i)
        a.reads[i] = bytes(n.in[i]);
    a.writes[0] = bytes(n.out);
    a.writes[1] = bytes(n.out2);
    if (n.op != Op::MatMul) {
        a.writes[2] = bytes(n.scratch);
        return a;
    }
    // A MatMul converts its input into the scratch and waits for every thread to finish that;
    // one that finds the activations there already only reads them. (A run that starts after
    // the node that left them makes this node the scratch's first user in that run: no node of
    // its group then touches the scratch.)
    if (act_in_scratch(g, n, 0))
        a.reads[3] = bytes(n.scratch);
    else
        a.fenced = bytes(n.scratch);
    return a;
}

} // namespace

void decode_joins(const graph::Graph &g, const std::vector<uint8_t *> &tensor_data,
                  std::vector<uint8_t> *joins) {
    const size_t n_nodes = g.nodes.size();
    joins->assign(n_nodes, 0);
    size_t first = 0; // the current group's first node
    for (size_t i = 1; i < n_nodes; ++i) {
        bool joins_group = groupable(g.nodes[i].op);
        const Access mine = access_of(g, tensor_data, g.nodes[i]);
        for (size_t m = first; m < i && joins_group; ++m)
            joins_group =
                groupable(g.nodes[m].op) && !mine.conflicts(access_of(g, tensor_data, g.nodes[m]));
        (*joins)[i] = joins_group ? 1 : 0;
        if (!joins_group) first = i;
    }
}

} // namespace infer::cpu
