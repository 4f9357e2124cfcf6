// Which nodes of a one-token run start without a barrier after the node before them
// (backends/cpu/cpu_decode_groups.h): only those that touch no byte the nodes since the last
// barrier write, and write no byte they read, as the planner laid the arena out.
#include "core/types.h"
#include "cpu/cpu_decode_groups.h"
#include "graph/graph.h"
#include "graph/planner.h"

#include <doctest/doctest.h>

#include <vector>

using namespace infer;
using graph::TensorId;

namespace {

graph::WeightRef weight(TypeId type, int64_t k, int64_t n) {
    graph::WeightRef w;
    w.type = static_cast<uint32_t>(type);
    w.ne[0] = k;
    w.ne[1] = n;
    return w;
}

// One Llama-style layer of a decode graph (nodes in the comments).
struct Layer {
    static constexpr int64_t kEmbd = 256, kFf = 512, kHeadDim = 64;
    graph::WeightRef embd = weight(TypeId::F32, kEmbd, 100), norm = weight(TypeId::F32, kEmbd, 1);
    graph::WeightRef wq, wk, wv, wo, gate, up, down;
    graph::Graph g;
    std::vector<uint8_t> arena;
    std::vector<uint8_t *> data;

    // q's weight type, and k's and v's (their activations' format decides whether they share
    // q's).
    explicit Layer(TypeId q_type = TypeId::Q4_0, TypeId kv_type = TypeId::Q4_0)
        : wq(weight(q_type, kEmbd, kEmbd)), wk(weight(kv_type, kEmbd, kHeadDim)),
          wv(weight(kv_type, kEmbd, kHeadDim)), wo(weight(TypeId::Q4_0, kEmbd, kEmbd)),
          gate(weight(TypeId::Q4_K, kEmbd, kFf)), up(weight(TypeId::Q4_K, kEmbd, kFf)),
          down(weight(TypeId::Q4_0, kFf, kEmbd)) {
        graph::GraphBuilder b(1);
        const TensorId x = b.embed(embd, 1.0f);                                        // 0
        const TensorId h = b.rms_norm(x, &norm, 1e-5f);                                // 1
        TensorId q = b.matmul(wq, h);                                                  // 2
        TensorId k = b.matmul(wk, h);                                                  // 3
        const TensorId v = b.matmul(wv, h);                                            // 4
        q = b.rope(q, 4, kHeadDim, kHeadDim, graph::RopeMode::Neox, 1e4f, 1, nullptr); // 5
        k = b.rope(k, 1, kHeadDim, kHeadDim, graph::RopeMode::Neox, 1e4f, 1, nullptr); // 6
        b.kv_store(0, k, v, 1, kHeadDim);                                              // 7
        const TensorId a = b.attention(0, q, 4, 1, kHeadDim, 0.125f, 0, 0);            // 8
        const TensorId r = b.add(x, b.matmul(wo, a));                                  // 9, 10
        const TensorId h2 = b.rms_norm(r, &norm, 1e-5f);                               // 11
        const TensorId ff = b.glu(b.matmul(gate, h2), b.matmul(up, h2), graph::Activation::Silu);
        g = b.finish(b.add(r, b.matmul(down, ff))); // 12, 13, 14 (glu), 15, 16
        graph::clear_scratch_sizes(g);
        for (const graph::Node &n : g.nodes)
            if (n.scratch != graph::kNoTensor) graph::grow_scratch(g, n, 1000);
        std::vector<BufferRequest> requests(g.tensors.size());
        for (size_t i = 0; i < g.tensors.size(); ++i) {
            const graph::TensorDesc &t = g.tensors[i];
            if (t.alias_of != graph::kNoTensor || t.first_use < 0) continue;
            requests[i] = {g.max_bytes(static_cast<TensorId>(i)),
                           static_cast<uint32_t>(t.first_use), static_cast<uint32_t>(t.last_use),
                           ""};
        }
        Plan plan;
        REQUIRE(plan_memory(requests, 64, &plan).is_ok());
        arena.assign(plan.arena_size, 0);
        data.assign(g.tensors.size(), nullptr);
        for (size_t i = 0; i < g.tensors.size(); ++i) {
            const TensorId id = static_cast<TensorId>(i);
            const TensorId root = g.storage_of(id);
            if (g.tensors[root].first_use >= 0)
                data[i] = arena.data() + plan.offsets[root] + g.storage_offset(id);
        }
    }

    const graph::Node &node(int i) const { return g.nodes[static_cast<size_t>(i)]; }

    // The nodes that start without a barrier before them.
    std::vector<int> joined() const {
        std::vector<uint8_t> joins;
        cpu::decode_joins(g, data, &joins);
        REQUIRE(joins.size() == g.nodes.size());
        std::vector<int> out;
        for (size_t i = 0; i < joins.size(); ++i)
            if (joins[i]) out.push_back(static_cast<int>(i));
        return out;
    }
};

} // namespace

TEST_CASE("cpu decode groups: K and V run on from Q, up from gate; every other node waits") {
    const Layer l;
    REQUIRE(l.g.nodes.size() == 17);
    REQUIRE(l.node(3).op == graph::Op::MatMul);
    REQUIRE(l.node(13).op == graph::Op::MatMul);
    CHECK(l.joined() == std::vector<int>{3, 4, 13});
    // K and V find Q's activations in the scratch they share; up finds gate's.
    CHECK(cpu::act_in_scratch(l.g, l.node(3), 0));
    CHECK(cpu::act_in_scratch(l.g, l.node(13), 0));
    // Not in a run that starts after the node that converted them.
    CHECK(!cpu::act_in_scratch(l.g, l.node(3), 3));
    CHECK(cpu::act_in_scratch(l.g, l.node(4), 3));
}

TEST_CASE("cpu decode groups: a matmul that converts its input again waits for those reading "
          "the scratch") {
    // Q reads Q8_0 activations, K and V Q8_K ones: K converts the input into the scratch Q may
    // still be reading, so K waits; V reads what K converted and runs on from it.
    const Layer l(TypeId::Q4_0, TypeId::Q4_K);
    CHECK(!cpu::act_in_scratch(l.g, l.node(3), 0));
    CHECK(cpu::act_in_scratch(l.g, l.node(4), 0));
    CHECK(l.joined() == std::vector<int>{4, 13});
}

TEST_CASE("cpu decode groups: bytes shared between nodes keep the barrier") {
    SUBCASE("K writes over the input Q reads (and V: it waits for K too)") {
        Layer l;
        l.data[static_cast<size_t>(l.node(3).out)] = l.data[static_cast<size_t>(l.node(2).in[0])];
        CHECK(l.joined() == std::vector<int>{13});
    }
    SUBCASE("V writes over part of K's output") {
        Layer l;
        l.data[static_cast<size_t>(l.node(4).out)] =
            l.data[static_cast<size_t>(l.node(3).out)] + 64;
        CHECK(l.joined() == std::vector<int>{3, 13});
    }
    SUBCASE("up reads what gate writes") {
        Layer l;
        l.data[static_cast<size_t>(l.node(13).in[0])] = l.data[static_cast<size_t>(l.node(12).out)];
        CHECK(l.joined() == std::vector<int>{3, 4});
    }
    SUBCASE("Q writes over the input K and V read: K waits, V runs on from K") {
        Layer l;
        l.data[static_cast<size_t>(l.node(2).out)] = l.data[static_cast<size_t>(l.node(2).in[0])];
        CHECK(l.joined() == std::vector<int>{4, 13});
    }
}
