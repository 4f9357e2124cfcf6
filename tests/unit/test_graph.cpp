// The graph builder: tensor shapes, in-place aliases, lifetimes that the planner relies on.
#include "graph/graph.h"

#include <doctest/doctest.h>

#include <string>

using namespace infer::graph;

namespace {
// A weight of shape [ne0] or [ne0][ne1] (shapes only: the builder reads no data).
WeightRef shaped(int64_t ne0, int64_t ne1 = 0) {
    WeightRef w;
    w.ne[0] = ne0;
    w.ne[1] = ne1;
    return w;
}
} // namespace

TEST_CASE("graph: lifetimes span from the producing node to the last reader") {
    const WeightRef embd = shaped(8, 100), norm = shaped(8), w = shaped(8, 16);
    GraphBuilder b(4);
    const TensorId x = b.embed(embd, 1.0f);                          // node 0
    const TensorId h = b.rms_norm(x, &norm, 1e-5f);                  // node 1
    const TensorId q = b.matmul(w, h);                               // node 2
    const TensorId r = b.rope(q, 2, 8, 8, RopeMode::Neox, 1e4f, 1, nullptr); // node 3, in place
    const TensorId s = b.add(r, r);                                  // node 4
    const TensorId last = b.select_last(s);                          // node 5
    const Graph g = b.finish(last);

    CHECK(g.nodes.size() == 6);
    CHECK(g.tensors[x].n == 8);
    CHECK(g.tensors[q].n == 16);
    CHECK(g.max_bytes(x) == 4 * 8 * 4);
    CHECK(g.max_bytes(last) == 16 * 4);
    CHECK(!g.tensors[last].per_token);
    // The rope output shares the matmul output's bytes, whose life now lasts until node 4.
    CHECK(g.storage_of(r) == q);
    CHECK(g.tensors[q].first_use == 2);
    CHECK(g.tensors[q].last_use == 4);
    CHECK(g.tensors[r].first_use == -1); // aliases own no storage
    CHECK(g.tensors[x].first_use == 0);
    CHECK(g.tensors[x].last_use == 1);
    // Inputs are live from the start; positions until the last reader (the rope).
    CHECK(g.tensors[g.tokens].first_use == 0);
    CHECK(g.tensors[g.positions].last_use == 3);
    // The output outlives every node.
    CHECK(g.tensors[last].last_use == 6);
    // Kernel scratch lives during its node only.
    const TensorId matmul_scratch = g.nodes[2].scratch;
    CHECK(g.tensors[matmul_scratch].first_use == 2);
    CHECK(g.tensors[matmul_scratch].last_use == 2);
}

TEST_CASE("graph: MatMuls of one input share a scratch that lives across them") {
    const WeightRef embd = shaped(8, 100), norm = shaped(8), wq = shaped(8, 16), wk = shaped(8, 4);
    GraphBuilder b(4);
    const TensorId x = b.embed(embd, 1.0f);             // node 0
    const TensorId h = b.rms_norm(x, &norm, 1e-5f);     // node 1
    const TensorId q = b.matmul(wq, h);                 // node 2
    const TensorId qn = b.rms_norm(q, &norm, 1e-5f, 8); // node 3: between the two
    const TensorId k = b.matmul(wk, h);                 // node 4: shares node 2's scratch
    const TensorId o = b.matmul(wq, b.add(qn, qn));     // nodes 5, 6: another input, its own
    Graph g = b.finish(b.add(o, b.matmul(wk, k)));      // node 7 reads k: its own scratch
    REQUIRE(g.nodes.size() == 9);
    CHECK(!g.nodes[2].act_shared);
    CHECK(g.nodes[4].act_shared);
    CHECK(g.nodes[4].scratch == g.nodes[2].scratch);
    CHECK(!g.nodes[6].act_shared);
    CHECK(g.nodes[6].scratch != g.nodes[2].scratch);
    CHECK(!g.nodes[7].act_shared);
    // Live from the first MatMul to the last, so node 3 cannot be given its bytes.
    const TensorId shared = g.nodes[2].scratch;
    CHECK(g.tensors[shared].first_use == 2);
    CHECK(g.tensors[shared].last_use == 4);
    // Sizing: the largest any of its nodes asks for, whichever order they ask in.
    clear_scratch_sizes(g);
    grow_scratch(g, g.nodes[4], 300);
    grow_scratch(g, g.nodes[2], 100);
    CHECK(g.tensors[shared].raw_bytes == 300);
    clear_scratch_sizes(g);
    CHECK(g.tensors[shared].raw_bytes == 0);
}

TEST_CASE("graph: a MoE route's two outputs live until the expert FFN reads them") {
    WeightRef router, gate, up, down;
    router.ne[0] = 8, router.ne[1] = 6;                      // 6 experts
    gate.ne[0] = 8, gate.ne[1] = 12, gate.ne[2] = 6;         // [n_embd, n_ff, n_expert]
    up = gate;
    down.ne[0] = 12, down.ne[1] = 8, down.ne[2] = 6;
    GraphBuilder b(5);
    WeightRef embd;
    embd.ne[0] = 8;
    embd.ne[1] = 50;
    const TensorId x = b.embed(embd, 1.0f);                                  // node 0
    const TensorId logits = b.matmul(router, x);                             // node 1
    const GraphBuilder::Route route = b.moe_route(logits, 2, true);          // node 2
    const TensorId y = b.moe_ffn(x, route, gate, up, down, Activation::Silu); // node 3
    const Graph g = b.finish(b.add(x, y));                                    // node 4

    CHECK(g.tensors[route.ids].dtype == DType::I32);
    CHECK(g.tensors[route.ids].n == 2);
    CHECK(g.tensors[route.weights].dtype == DType::F32);
    CHECK(g.tensors[route.weights].n == 2);
    CHECK(g.tensors[y].n == 8);
    const Node &r = g.nodes[2], &f = g.nodes[3];
    CHECK(r.op == Op::MoeRoute);
    CHECK(r.n_expert == 6);
    CHECK(r.norm_weights);
    CHECK(f.op == Op::MoeFfn);
    CHECK(f.n_expert == 6);
    CHECK(f.n_expert_used == 2);
    CHECK(f.w3 == &down);
    for (TensorId t : {route.ids, route.weights}) {
        CHECK(g.tensors[t].first_use == 2);
        CHECK(g.tensors[t].last_use == 3);
    }
    CHECK(g.tensors[f.scratch].first_use == 3);
    CHECK(g.tensors[f.scratch].last_use == 3);
    CHECK(g.tensors[x].last_use == 4);
}

TEST_CASE("graph: every op has a name for messages") {
    CHECK(std::string(op_name(Op::MatMul)) == "MatMul");
    CHECK(std::string(op_name(Op::MoeFfn)) == "MoeFfn");
    CHECK(std::string(op_name(Op::SigmoidGate)) == "SigmoidGate");
    for (int op = 0; op <= static_cast<int>(Op::HeadMatMul); ++op)
        CHECK(std::string(op_name(static_cast<Op>(op))) != "unknown");
    CHECK(std::string(op_name(static_cast<Op>(200))) == "unknown");
}

TEST_CASE("graph::rope_yarn's ramp is llama.cpp's corr dims") {
    // gpt-oss: 64 rotary dims, base 150000, 4096 original positions, beta 32 and 1:
    // 64 ln(4096 / (32 * 2 pi)) / (2 ln 150000) = 8.09 -> 8; with beta 1, 17.4 -> 18.
    const infer::graph::RopeYarn y = infer::graph::rope_yarn(64, 4096, 150000.0f, 1.0f);
    CHECK(y.ext_factor == 1.0f);
    CHECK(y.corr_dims[0] == 8.0f);
    CHECK(y.corr_dims[1] == 18.0f);
    // As ggml: the start is clamped below at 0, the end above at n_rot - 1.
    const infer::graph::RopeYarn c = infer::graph::rope_yarn(8, 1 << 30, 10.0f, 1.0f);
    CHECK(c.corr_dims[0] > 7.0f);
    CHECK(c.corr_dims[1] == 7.0f);
    CHECK(infer::graph::rope_yarn(64, 16, 150000.0f, 1.0f).corr_dims[0] == 0.0f);
}

TEST_CASE("graph::Rope derives each scaling kind's kernel parameters") {
    Rope rope;
    rope.n_rot = 64;
    rope.base = 150000.0f;
    rope.scaling.factor = 32.0f;
    rope.scaling.orig_ctx = 4096;
    rope.scaling.attn_factor = 1.25f;

    // None ignores the factor; every kind keeps the magnitude scale.
    CHECK(rope.scaling.freq_scale() == 1.0f);
    CHECK(rope.yarn().ext_factor == 0.0f);
    CHECK(rope.yarn().attn_factor == 1.25f);

    rope.scaling.kind = RopeScalingKind::Linear;
    CHECK(rope.scaling.freq_scale() == 1.0f / 32.0f);
    CHECK(rope.yarn().ext_factor == 0.0f);
    CHECK(rope.yarn().attn_factor == 1.25f);

    rope.scaling.kind = RopeScalingKind::Yarn;
    CHECK(rope.scaling.freq_scale() == 1.0f / 32.0f);
    const RopeYarn y = rope.yarn();
    CHECK(y.ext_factor == 1.0f);
    CHECK(y.attn_factor == 1.25f);
    CHECK(y.corr_dims[0] == 8.0f); // as rope_yarn(64, 4096, 150000): the gpt-oss case above
    CHECK(y.corr_dims[1] == 18.0f);
    rope.scaling.beta_fast = 16.0f; // fewer turns in orig_ctx: a slower dim starts the ramp
    CHECK(rope.yarn().corr_dims[0] == 9.0f);

    // The builder's Rope node carries the derived parameters.
    GraphBuilder b(4);
    rope.n_rot = 8;
    const float freq_factors[4] = {1, 2, 3, 4};
    rope.freq_factors = freq_factors;
    rope.mode = RopeMode::Neox;
    const Graph g = b.finish(b.rope(b.embed(shaped(16, 100), 1.0f), 2, 8, rope));
    REQUIRE(g.nodes.size() == 2);
    const Node &n = g.nodes[1];
    CHECK(n.op == Op::Rope);
    CHECK(n.n_rot == 8);
    CHECK(n.rope_mode == RopeMode::Neox);
    CHECK(n.freq_base == 150000.0f);
    CHECK(n.freq_scale == 1.0f / 32.0f);
    CHECK(n.freq_factors == freq_factors);
    CHECK(n.yarn.ext_factor == 1.0f);
    CHECK(n.yarn.corr_dims[1] == rope.yarn().corr_dims[1]);
}

TEST_CASE("graph: a contiguous slice of one row is a view, anything else a Slice node") {
    // One row of 192 floats: [0, 128) and [128, 192) start at bytes 0 and 512, both aligned.
    const WeightRef embd = shaped(192, 100);
    GraphBuilder b(1);
    const TensorId x = b.embed(embd, 1.0f);
    const TensorId head = b.slice(x, 1, 128, 0, 0);
    const TensorId tail = b.slice(x, 1, 64, 0, 128);
    const TensorId roped = b.rope(tail, 1, 64, 64, RopeMode::Normal, 1e4f, 1, nullptr);
    const TensorId odd = b.slice(x, 1, 32, 0, 16);      // byte 64: not aligned, a copy
    const TensorId groups = b.slice(x, 2, 32, 96, 0);   // two groups apart: a copy
    const TensorId touching = b.slice(x, 2, 64, 64, 0); // groups that touch: one range
    const Graph g = b.finish(b.add(b.concat(head, roped, 1), b.concat(odd, groups, 1)));

    CHECK(g.storage_of(head) == x);
    CHECK(g.storage_offset(head) == 0);
    CHECK(g.storage_of(tail) == x);
    CHECK(g.storage_offset(tail) == 512);
    CHECK(g.tensors[tail].n == 64);
    // The in-place rope writes x's bytes through the view.
    CHECK(g.storage_of(roped) == x);
    CHECK(g.storage_offset(roped) == 512);
    CHECK(g.storage_of(touching) == x);
    CHECK(g.storage_of(odd) == odd);
    CHECK(g.storage_of(groups) == groups);
    int slices = 0;
    for (const Node &n : g.nodes)
        slices += n.op == Op::Slice;
    CHECK(slices == 2);
    // x lives as long as its views are read: until the first concat.
    CHECK(g.tensors[x].last_use >= g.tensors[g.storage_of(roped)].last_use);

    // The same slices of a many-token tensor are strided: copies.
    GraphBuilder many(4);
    const TensorId y = many.embed(embd, 1.0f);
    const Graph gm =
        many.finish(many.concat(many.slice(y, 1, 128, 0, 0), many.slice(y, 1, 64, 0, 128), 1));
    CHECK(gm.nodes[1].op == Op::Slice);
    CHECK(gm.nodes[2].op == Op::Slice);
}
