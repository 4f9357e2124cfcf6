// The placement pass (runtime/placement.h) and the segments it implies (runtime/segments.h), on
// small hand-built graphs and a fake device, without any backend: which nodes run where for each
// policy, what the device holds, the budget and override errors, the fallbacks, the copies.
#include "runtime/placement.h"
#include "runtime/segments.h"

#include <doctest/doctest.h>

#include <deque>
#include <string>

using namespace infer;
using namespace infer::graph;

namespace {

// A llama-like model of n_layer layers (attention and a dense or MoE FFN) over fake weights: each
// weight's bytes are a distinct address and a size, which is all placement reads.
struct FakeModel {
    std::deque<WeightRef> weights; // stable addresses
    std::deque<std::string> names;
    std::vector<uint8_t> bytes = std::vector<uint8_t>(1);
    int32_t n_layer;
    uint64_t next_address = 0x1000;

    const WeightRef &weight(const std::string &name, int64_t k, int64_t n, int64_t experts = 1) {
        names.push_back(name);
        WeightRef w;
        w.name = names.back();
        w.type = 0; // F32
        w.ne[0] = k, w.ne[1] = n, w.ne[2] = experts;
        w.row_bytes = static_cast<uint64_t>(k) * 4;
        w.n_bytes = w.row_bytes * static_cast<uint64_t>(n * experts);
        w.data = reinterpret_cast<const void *>(next_address);
        next_address += w.n_bytes + 4096;
        weights.push_back(w);
        return weights.back();
    }

    Graph build(int32_t layers, bool moe, int64_t max_tokens = 1) {
        n_layer = layers;
        const int64_t d = 64, ff = 128;
        GraphBuilder b(max_tokens);
        TensorId x = b.embed(weight("token_embd.weight", d, 100), 1.0f);
        for (int32_t l = 0; l < layers; ++l) {
            b.set_layer(l);
            const std::string p = "blk." + std::to_string(l) + ".";
            const TensorId h = b.rms_norm(x, &weight(p + "attn_norm.weight", d, 1), 1e-5f);
            TensorId q = b.matmul(weight(p + "attn_q.weight", d, d), h);
            TensorId k = b.matmul(weight(p + "attn_k.weight", d, d), h);
            const TensorId v = b.matmul(weight(p + "attn_v.weight", d, d), h);
            q = b.rope(q, 4, 16, 16, RopeMode::Normal, 1e4f, 1, nullptr);
            k = b.rope(k, 4, 16, 16, RopeMode::Normal, 1e4f, 1, nullptr);
            b.kv_store(l, k, v, 4, 16);
            const TensorId a = b.attention(l, q, 4, 4, 16, 0.25f, 0, 0);
            x = b.add(x, b.matmul(weight(p + "attn_output.weight", d, d), a));
            const TensorId f = b.rms_norm(x, &weight(p + "ffn_norm.weight", d, 1), 1e-5f);
            if (moe) {
                const GraphBuilder::Route r =
                    b.moe_route(b.matmul(weight(p + "ffn_gate_inp.weight", d, 4), f), 2, true);
                x = b.add(x, b.moe_ffn(f, r, weight(p + "ffn_gate_exps.weight", d, ff, 4),
                                       weight(p + "ffn_up_exps.weight", d, ff, 4),
                                       weight(p + "ffn_down_exps.weight", ff, d, 4),
                                       Activation::Silu));
            } else {
                const TensorId g = b.matmul(weight(p + "ffn_gate.weight", d, ff), f);
                const TensorId u = b.matmul(weight(p + "ffn_up.weight", d, ff), f);
                x = b.add(x, b.matmul(weight(p + "ffn_down.weight", ff, d), b.glu(g, u, Activation::Silu)));
            }
        }
        b.set_layer(-1);
        const TensorId h = b.rms_norm(x, &weight("output_norm.weight", d, 1), 1e-5f);
        return b.finish(b.matmul(weight("output.weight", d, 100), b.select_last(h)));
    }
};

Status runs_everything(const Node &, const Graph &) { return Status::ok(); }
Status refuses_moe(const Node &n, const Graph &) {
    if (n.op == Op::MoeFfn || n.op == Op::MoeRoute)
        return make_error(INFER_ERR_UNSUPPORTED, "%s: no kernel on FakeGPU", op_name(n.op));
    return Status::ok();
}
Status refuses_attention(const Node &n, const Graph &) {
    if (n.op == Op::Attention) return make_error(INFER_ERR_UNSUPPORTED, "Attention: head_dim too large");
    return Status::ok();
}

BackendEntry fake_device(Status (*supports)(const Node &, const Graph &) = runs_everything) {
    BackendEntry e;
    e.id = INFER_BACKEND_CUDA;
    e.name = "FakeGPU";
    e.is_device = true;
    e.supports = supports;
    return e;
}

Placement place(const Graph &g, int32_t n_layer, const PlacementRequest &req) {
    Placement p;
    const Status s = place_model(g, n_layer, req, &p);
    REQUIRE_MESSAGE(s.is_ok(), s.message());
    return p;
}

std::vector<uint8_t> sides(const Graph &g, const Placement &p) {
    NodeAssignment a;
    const Status s = assign_nodes(g, p, &a);
    REQUIRE_MESSAGE(s.is_ok(), s.message());
    return a.on_device;
}

// Whether every node of `layer` (-1: input and output) runs on the device.
bool layer_on_device(const Graph &g, const std::vector<uint8_t> &on, int32_t layer) {
    bool all = true, any = false;
    for (size_t i = 0; i < g.nodes.size(); ++i)
        if (g.nodes[i].layer == layer) {
            all = all && on[i];
            any = true;
        }
    return any && all;
}

uint64_t all_weight_bytes(const FakeModel &m) {
    uint64_t total = 0;
    for (const WeightRef &w : m.weights) total += (w.n_bytes + 255) / 256 * 256;
    return total;
}

} // namespace

TEST_CASE("placement: without a device every node runs on the CPU and nothing is uploaded") {
    FakeModel m;
    const Graph g = m.build(3, false);
    const Placement p = place(g, 3, {});
    for (uint8_t on : sides(g, p)) CHECK(on == 0);
    CHECK(p.device_weights.empty());
    CHECK(p.device_weight_bytes == 0);
    CHECK(p.host_weight_bytes > 0);
}

TEST_CASE("placement: n_gpu_layers follows llama.cpp's -ngl: the last N layers, the output past n_layer") {
    FakeModel m;
    const Graph g = m.build(4, false);
    const BackendEntry dev = fake_device();
    PlacementRequest req;
    req.device = &dev;
    for (int32_t ngl : {0, 1, 2, 4, 5, 9, kAllLayers}) {
        CAPTURE(ngl);
        req.n_gpu_layers = ngl;
        const Placement p = place(g, 4, req);
        const std::vector<uint8_t> on = sides(g, p);
        const int32_t n = ngl == kAllLayers ? 5 : std::min(ngl, 5);
        CHECK(p.n_gpu_layers == n);
        for (int32_t l = 0; l < 4; ++l) CHECK(layer_on_device(g, on, l) == (l >= 4 - n));
        CHECK(on.front() == (n >= 4));         // the embedding goes with layer 0
        CHECK(on.back() == (n >= 5));          // the output layer
        for (int32_t l = 0; l < 4; ++l) CHECK(p.kv_on_device[static_cast<size_t>(l)] == (l >= 4 - n));
        if (n == 0) CHECK(p.device_weights.empty());
    }
    req.n_gpu_layers = kAllLayers;
    const Placement all = place(g, 4, req);
    CHECK(all.device_weight_bytes == all_weight_bytes(m));
    CHECK(all.host_weight_bytes == 0);
}

TEST_CASE("placement: auto puts the most layers that fit the budget, counting the reserve") {
    FakeModel m;
    const Graph g = m.build(6, false);
    const BackendEntry dev = fake_device();
    PlacementRequest req;
    req.device = &dev;
    req.n_gpu_layers = 3;
    const uint64_t three = place(g, 6, req).device_weight_bytes;
    req.n_gpu_layers = 4;
    const uint64_t four = place(g, 6, req).device_weight_bytes;
    REQUIRE(four > three);
    req.n_gpu_layers = kAutoLayers;
    req.reserve = 1000;
    req.reserve_per_layer = 10;
    req.budget = three + 1000 + 30;
    CHECK(place(g, 6, req).n_gpu_layers == 3);
    req.budget = three + 1000 + 29; // one byte short of three layers with their reserve
    CHECK(place(g, 6, req).n_gpu_layers == 2);
    req.budget = 0; // no limit
    CHECK(place(g, 6, req).n_gpu_layers == 7);
    req.budget = 1; // nothing fits: no layer, not an error
    CHECK(place(g, 6, req).n_gpu_layers == 0);
}

TEST_CASE("placement: layers over the budget are INFER_ERR_OUT_OF_MEMORY naming what would fit") {
    FakeModel m;
    const Graph g = m.build(6, false);
    const BackendEntry dev = fake_device();
    PlacementRequest req;
    req.device = &dev;
    req.n_gpu_layers = 2;
    const uint64_t two = place(g, 6, req).device_weight_bytes;
    req.n_gpu_layers = kAllLayers;
    req.budget = two + 100;
    Placement p;
    const Status s = place_model(g, 6, req, &p);
    CHECK(s.code() == INFER_ERR_OUT_OF_MEMORY);
    CHECK_MESSAGE(s.message().find("n_gpu_layers 2 fits") != std::string::npos, s.message());
    CHECK_MESSAGE(s.message().find("layers 0..5 and the output layer on FakeGPU") != std::string::npos,
                  s.message());
}

TEST_CASE("placement: exps=CPU keeps every routed expert on the CPU, the rest on the device") {
    FakeModel m;
    const Graph g = m.build(3, true);
    const BackendEntry dev = fake_device();
    PlacementRequest req;
    req.device = &dev;
    req.overrides = {{"exps", INFER_BACKEND_CPU}};
    const Placement p = place(g, 3, req);
    const std::vector<uint8_t> on = sides(g, p);
    for (size_t i = 0; i < g.nodes.size(); ++i)
        CHECK(on[i] == (g.nodes[i].op != Op::MoeFfn));
    for (const WeightSpan &w : p.device_weights)
        for (const WeightRef &ref : m.weights)
            if (ref.data == w.data) CHECK(ref.name.find("exps") == std::string_view::npos);
    // Three experts tensors of 4 x 64 x 128 floats per layer stay in place.
    CHECK(p.host_weight_bytes == 3 * 3 * 4 * 64 * 128 * 4);
}

TEST_CASE("placement: an override can put a CPU layer's tensor on the device; the first match wins") {
    FakeModel m;
    const Graph g = m.build(3, false);
    const BackendEntry dev = fake_device();
    PlacementRequest req;
    req.device = &dev;
    req.n_gpu_layers = 0;
    req.overrides = {{"blk\\.0\\.ffn_up", INFER_BACKEND_CPU}, {"ffn_(up|down)", INFER_BACKEND_CUDA}};
    const Placement p = place(g, 3, req);
    const std::vector<uint8_t> on = sides(g, p);
    int device_nodes = 0;
    for (size_t i = 0; i < g.nodes.size(); ++i)
        if (on[i]) {
            ++device_nodes;
            CHECK(g.nodes[i].op == Op::MatMul);
            const std::string name(g.nodes[i].w->name);
            CHECK((name.find("ffn_up") != std::string::npos || name.find("ffn_down") != std::string::npos));
            CHECK(name != "blk.0.ffn_up.weight");
        }
    CHECK(device_nodes == 5); // up of layers 1-2, down of layers 0-2
    CHECK(p.device_weights.size() == 5);
}

TEST_CASE("placement: a bad override is an error naming it") {
    FakeModel m;
    const Graph g = m.build(2, true);
    const BackendEntry dev = fake_device();
    PlacementRequest req;
    req.device = &dev;
    Placement p;
    req.overrides = {{"exps", INFER_BACKEND_CPU}, {"no_such_tensor", INFER_BACKEND_CPU}};
    Status s = place_model(g, 2, req, &p);
    CHECK(s.code() == INFER_ERR_INVALID_ARGUMENT);
    CHECK(s.message().find("'no_such_tensor' matches no weight") != std::string::npos);
    req.overrides = {{"exps(", INFER_BACKEND_CPU}};
    s = place_model(g, 2, req, &p);
    CHECK(s.code() == INFER_ERR_INVALID_ARGUMENT);
    CHECK(s.message().find("'exps(' is not a regex") != std::string::npos);
    req.overrides = {{"exps", INFER_BACKEND_VULKAN}};
    s = place_model(g, 2, req, &p);
    CHECK(s.code() == INFER_ERR_INVALID_ARGUMENT);
    CHECK(s.message().find("neither the CPU nor this model's device (FakeGPU)") != std::string::npos);
}

TEST_CASE("placement: nodes the device refuses fall back to the CPU, one line per kind") {
    FakeModel m;
    const Graph g = m.build(3, true);
    const BackendEntry dev = fake_device(refuses_moe);
    PlacementRequest req;
    req.device = &dev;
    const Placement p = place(g, 3, req);
    REQUIRE(p.fallbacks.size() == 2);
    CHECK(p.fallbacks[0].find("MoeRoute: no kernel on FakeGPU; such nodes run on the CPU") == 0);
    CHECK(p.fallbacks[1].find("MoeFfn") == 0);
    const std::vector<uint8_t> on = sides(g, p);
    for (size_t i = 0; i < g.nodes.size(); ++i) {
        const bool moe = g.nodes[i].op == Op::MoeFfn || g.nodes[i].op == Op::MoeRoute;
        CHECK(on[i] == !moe);
    }
    // The experts are not uploaded: no device node reads them.
    CHECK(p.host_weight_bytes == 3 * 3 * 4 * 64 * 128 * 4);
}

TEST_CASE("placement: a layer whose attention the device refuses keeps its KV cache on the host") {
    FakeModel m;
    const Graph g = m.build(2, false);
    const BackendEntry dev = fake_device(refuses_attention);
    PlacementRequest req;
    req.device = &dev;
    const Placement p = place(g, 2, req);
    CHECK(p.kv_on_device == std::vector<uint8_t>{0, 0});
    const std::vector<uint8_t> on = sides(g, p);
    for (size_t i = 0; i < g.nodes.size(); ++i)
        if (g.nodes[i].op == Op::KvStore || g.nodes[i].op == Op::Attention) CHECK(on[i] == 0);
}

TEST_CASE("segments: runs of one side, the activations that cross, and where the logits are") {
    FakeModel m;
    const Graph g = m.build(4, false);
    const BackendEntry dev = fake_device();
    PlacementRequest req;
    req.device = &dev;
    req.n_gpu_layers = 2; // layers 2-3 on the device, the output on the CPU
    const Placement p = place(g, 4, req);
    const std::vector<uint8_t> on = sides(g, p);
    const SegmentPlan s = plan_segments(g, on);
    REQUIRE(s.segments.size() == 3); // CPU (input, layers 0-1), device (2-3), CPU (output)
    CHECK(!s.segments[0].on_device);
    CHECK(s.segments[1].on_device);
    CHECK(!s.segments[2].on_device);
    CHECK(s.segments[0].nodes.begin == 0);
    CHECK(s.segments[2].nodes.end == static_cast<int32_t>(g.nodes.size()));
    // The residual stream crosses each way; positions are read on both sides (graph inputs, which
    // the context writes itself, so no segment copies them).
    REQUIRE(s.segments[0].copies_after.size() == 1);
    CHECK(s.segments[0].copies_after[0].to_device);
    REQUIRE(s.segments[1].copies_after.size() == 1);
    CHECK(!s.segments[1].copies_after[0].to_device);
    CHECK(s.segments[2].copies_after.empty());
    CHECK(s.sides[static_cast<size_t>(g.positions)] == (kOnHost | kOnDevice));
    CHECK(s.sides[static_cast<size_t>(g.tokens)] == kOnHost);
    CHECK(!s.logits_on_device);
    CHECK(tensor_bytes(g, s.segments[0].copies_after[0].tensor, 1) == 64 * 4);
    CHECK(tensor_bytes(g, s.segments[0].copies_after[0].tensor, 3) == 3 * 64 * 4);

    const std::string text = format_placement(g, p, NodeAssignment{on, {}});
    CHECK_MESSAGE(text.find("layers 2..3") != std::string::npos, text);
    CHECK_MESSAGE(text.find("3 segments; 2 activation copies") != std::string::npos, text);
}

TEST_CASE("segments: an in-place op on the other side gets the tensor copied there and back") {
    // MatMul on the host writes q; RoPE (in place) on the device rewrites it; the host then reads
    // it again: two copies of the same tensor, one each way.
    WeightRef w;
    w.name = "w";
    w.ne[0] = 8, w.ne[1] = 8;
    w.data = &w;
    GraphBuilder b(2);
    WeightRef embd;
    embd.ne[0] = 8, embd.ne[1] = 10;
    embd.data = &embd;
    const TensorId x = b.embed(embd, 1.0f);                                      // 0 host
    const TensorId q = b.matmul(w, x);                                           // 1 host
    const TensorId r = b.rope(q, 2, 4, 4, RopeMode::Normal, 1e4f, 1, nullptr);   // 2 device
    const Graph g = b.finish(b.add(r, x));                                       // 3 host
    const SegmentPlan s = plan_segments(g, std::vector<uint8_t>{0, 0, 1, 0});
    REQUIRE(s.segments.size() == 3);
    REQUIRE(s.segments[0].copies_after.size() == 1);
    CHECK(s.segments[0].copies_after[0].tensor == q);
    CHECK(s.segments[0].copies_after[0].to_device);
    REQUIRE(s.segments[1].copies_after.size() == 1);
    CHECK(s.segments[1].copies_after[0].tensor == q);
    CHECK(!s.segments[1].copies_after[0].to_device);
    CHECK(s.sides[static_cast<size_t>(x)] == kOnHost);
}

// ---- Per-expert offload (PlacementRequest::experts_by_popularity, expert_split.h) -------------

namespace {

constexpr uint64_t kOneExpert = 3 * 64 * 128 * 4; // gate, up and down slices of the fake F32 experts

// Layer 0 favours expert 2, layer 1 expert 0; the others are rarely chosen.
ExpertPopularity skewed(int32_t n_layer) {
    std::vector<uint64_t> counts(static_cast<size_t>(n_layer) * 4, 1);
    counts[2] = 100;
    counts[4 + 0] = 60;
    counts[4 + 3] = 30;
    return popularity_from_counts(counts, n_layer, 4, "test counts");
}

size_t index_of(const Graph &g, Op op, int32_t layer, int nth = 0) {
    for (size_t i = 0; i < g.nodes.size(); ++i)
        if (g.nodes[i].op == op && g.nodes[i].layer == layer && nth-- == 0) return i;
    FAIL("no such node");
    return 0;
}

} // namespace

TEST_CASE("placement: per expert, the budget keeps the most popular experts; the CPU computes the rest") {
    FakeModel m;
    const Graph g = m.build(2, true);
    const BackendEntry gpu = fake_device();
    const ExpertPopularity popularity = skewed(2);
    PlacementRequest req;
    req.device = &gpu;
    req.experts_by_popularity = true;
    req.popularity = &popularity;
    const Placement unlimited = place(g, 2, req);
    CHECK(unlimited.experts.n_resident == std::vector<int32_t>{4, 4});
    CHECK(unlimited.expert_total_bytes == 8 * kOneExpert);
    const uint64_t others = unlimited.device_weight_bytes - unlimited.expert_total_bytes;

    // Room for three experts (and the two layers' slot tables): layer 0's expert 2, layer 1's
    // experts 0 and 3.
    req.budget = others + 3 * kOneExpert + 2 * 256;
    const Placement p = place(g, 2, req);
    CHECK(p.experts.n_resident == std::vector<int32_t>{1, 2});
    CHECK(p.experts.slot == std::vector<int32_t>{-1, -1, 0, -1, 0, -1, -1, 1});
    CHECK(p.device_weight_bytes == others + 3 * kOneExpert + 2 * 256);
    CHECK(p.device_weight_bytes <= req.budget);
    for (const WeightSpan &w : p.device_weights)
        if (w.expert_slot) CHECK(w.bytes == w.expert_bytes * (w.expert_slot == p.experts.layer_slots(0) ? 1u : 2u));

    // The split graph: the device's experts, then (after the shared work) the CPU's and their sum.
    Graph split = g;
    apply_expert_residency(split, p);
    const std::vector<uint8_t> on = sides(split, p);
    for (int32_t l = 0; l < 2; ++l) {
        CAPTURE(l);
        const size_t dev = index_of(split, Op::MoeFfn, l, 0), cpu = index_of(split, Op::MoeFfn, l, 1);
        CHECK(split.nodes[dev].experts_resident);
        CHECK_FALSE(split.nodes[cpu].experts_resident);
        CHECK(split.nodes[dev].expert_slot == p.experts.layer_slots(l));
        CHECK(on[dev] == 1);
        CHECK(on[cpu] == 0);
        const Node &sum = split.nodes[cpu + 1];
        CHECK(sum.op == Op::Add);
        CHECK(sum.in[0] == split.nodes[dev].out);
        CHECK(sum.in[1] == split.nodes[cpu].out);
        CHECK(on[cpu + 1] == 1);
        CHECK(split.nodes[cpu + 2].in[1] == sum.out); // the residual add reads the sum
    }
    // Segments: the device's segment ends at the route, so x, ids and weights go to the host
    // while the device's experts run; the CPU's sum comes back.
    const SegmentPlan s = plan_segments(split, on);
    const size_t route = index_of(split, Op::MoeRoute, 0), dev = index_of(split, Op::MoeFfn, 0, 0);
    const size_t cpu = index_of(split, Op::MoeFfn, 0, 1);
    bool cut_after_route = false, cpu_result_back = false;
    for (const Segment &seg : s.segments) {
        if (seg.on_device && seg.nodes.end == static_cast<int32_t>(route) + 1) {
            cut_after_route = true;
            CHECK(seg.copies_after.size() == 3);
            for (const SegmentCopy &c : seg.copies_after) CHECK_FALSE(c.to_device);
        }
        if (!seg.on_device && seg.nodes.begin == static_cast<int32_t>(cpu)) {
            CHECK(seg.nodes.end == static_cast<int32_t>(cpu) + 1);
            REQUIRE(seg.copies_after.size() == 1);
            CHECK(seg.copies_after[0].tensor == split.storage_of(split.nodes[cpu].out));
            cpu_result_back = seg.copies_after[0].to_device;
        }
        if (seg.on_device && seg.nodes.begin <= static_cast<int32_t>(dev) && static_cast<int32_t>(dev) < seg.nodes.end)
            CHECK(seg.nodes.end <= static_cast<int32_t>(cpu)); // queued before the CPU starts
    }
    CHECK(cut_after_route);
    CHECK(cpu_result_back);
    const std::string text = format_placement(split, p, NodeAssignment{on, {}});
    CHECK(text.find("3 of 8 resident") != std::string::npos);
    CHECK(text.find("resident per layer: 1 2") != std::string::npos);
}

TEST_CASE("placement: per expert, no room keeps every expert on the CPU; a wrong popularity shape is an error") {
    FakeModel m;
    const Graph g = m.build(2, true);
    const BackendEntry gpu = fake_device();
    PlacementRequest req;
    req.device = &gpu;
    req.experts_by_popularity = true; // the uniform prior
    const Placement unlimited = place(g, 2, req);
    req.budget = unlimited.device_weight_bytes - unlimited.expert_total_bytes;
    const Placement p = place(g, 2, req);
    CHECK(p.experts.n_resident == std::vector<int32_t>{0, 0});
    // The device holds empty stacks (for prefill streaming), no expert byte, no slot table.
    int empty_stacks = 0;
    for (const WeightSpan &w : p.device_weights) {
        CHECK(w.data != static_cast<const void *>(p.experts.layer_slots(0)));
        if (!w.expert_slot) continue;
        CHECK(w.bytes == 0);
        ++empty_stacks;
    }
    CHECK(empty_stacks == 2 * 3); // gate, up and down of both layers
    CHECK(p.device_weight_bytes <= req.budget);
    Graph split = g;
    apply_expert_residency(split, p);
    CHECK(split.nodes.size() == g.nodes.size()); // one node per layer, computing on the CPU
    const std::vector<uint8_t> on = sides(split, p);
    for (int32_t l = 0; l < 2; ++l) CHECK(on[index_of(split, Op::MoeFfn, l)] == 0);
    CHECK(p.host_weight_bytes == 8 * kOneExpert);
    // A prefill graph that may stream: each device layer gets a device node (computing only what
    // is streamed), the CPU twin and their sum.
    Graph streaming = g;
    apply_expert_residency(streaming, p, true);
    CHECK(streaming.nodes.size() == g.nodes.size() + 2 * 2);
    const std::vector<uint8_t> on_streaming = sides(streaming, p);
    for (int32_t l = 0; l < 2; ++l) {
        CAPTURE(l);
        const size_t dev = index_of(streaming, Op::MoeFfn, l, 0),
                     cpu = index_of(streaming, Op::MoeFfn, l, 1);
        CHECK(streaming.nodes[dev].experts_resident);
        CHECK_FALSE(streaming.nodes[cpu].experts_resident);
        CHECK(on_streaming[dev] == 1);
        CHECK(on_streaming[cpu] == 0);
        CHECK(streaming.nodes[cpu + 1].op == Op::Add);
    }

    const ExpertPopularity three_layers = skewed(3);
    req.popularity = &three_layers;
    Placement bad;
    const Status s = place_model(g, 2, req, &bad);
    CHECK(s.code() == INFER_ERR_INVALID_ARGUMENT);
    CHECK(s.message().find("3 layers of 4 experts; the model has 2 of 4") != std::string::npos);
}
