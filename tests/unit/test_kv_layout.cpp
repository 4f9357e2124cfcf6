// The KV cache layout derived from a graph's KvStore and Attention nodes, per layer: dims that
// differ between layers, values inside the keys, a layer that caches nothing and reads another
// layer's cache, each mismatch an error; and such a graph's caches written and read per layer
// by the CPU backend.
#include "core/random.h"
#include "runtime/backend_registry.h"
#include "runtime/kv_cache.h"

#include <doctest/doctest.h>

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <vector>

using namespace infer;
using graph::GraphBuilder;
using graph::TensorId;

namespace {

constexpr int64_t kEmbd = 8;

// Builds KV graphs over one token row; each stored or queried tensor is a MatMul of the token's
// embedding of the width asked for (shapes only: nothing here reads the weights' data).
class KvGraph {
public:
    KvGraph() : b_(1), x_(b_.embed(shaped(100), 1.0f)) {}

    TensorId row(int64_t width) { return b_.matmul(shaped(width), x_); }
    // Stores keys of n_head_kv x head_dim, and values of n_head_kv x head_dim_v (0: none, the
    // values live in the keys).
    void store(int32_t layer, int32_t n_head_kv, int32_t head_dim, int32_t head_dim_v) {
        const TensorId k = row(int64_t{n_head_kv} * head_dim);
        const TensorId v = head_dim_v ? row(int64_t{n_head_kv} * head_dim_v) : graph::kNoTensor;
        b_.kv_store(layer, k, v, n_head_kv, head_dim);
    }
    TensorId attend(int32_t layer, int32_t n_head, int32_t n_head_kv, GraphBuilder::KvDims dims) {
        return b_.attention(layer, row(int64_t{n_head} * dims.k), n_head, n_head_kv, dims, 0.25f,
                            0.0f, 0);
    }
    GraphBuilder &builder() { return b_; }
    graph::Graph finish(TensorId out) { return b_.finish(out); }

private:
    const graph::WeightRef &shaped(int64_t ne1) {
        graph::WeightRef &w = weights_.emplace_back();
        w.ne[0] = kEmbd;
        w.ne[1] = ne1;
        return w;
    }

    std::deque<graph::WeightRef> weights_; // the builder keeps pointers to them
    GraphBuilder b_;
    TensorId x_;
};

// Four layers, each unlike the others: 2 KV heads of 16; 1 head of keys 24 and values 8; keys
// alone (1 head of 72, whose first 56 are the values); and a layer that stores nothing and
// attends over layer 0's cache.
// g keeps the weights the graph points to: it must outlive the graph's use.
graph::Graph mixed_layers(KvGraph &g, std::vector<TensorId> *outs = nullptr) {
    std::vector<TensorId> o;
    g.store(0, 2, 16, 16);
    o.push_back(g.attend(0, 4, 2, {16, 16, false}));
    g.store(1, 1, 24, 8);
    o.push_back(g.attend(1, 2, 1, {24, 8, false}));
    g.store(2, 1, 72, 0);
    o.push_back(g.attend(2, 3, 1, {72, 56, true}));
    g.builder().set_layer(3);
    o.push_back(g.attend(0, 2, 2, {16, 16, false}));
    if (outs) *outs = o;
    return g.finish(o.back());
}

Status layout_of(const graph::Graph &g, KvCacheLayout *out, int64_t n_layer = 4) {
    return kv_layout_from_graph(g, n_layer, 1, 10, out);
}

// The error a graph's KV nodes give, with a word its message must name.
void refused(const graph::Graph &g, const std::string &names) {
    KvCacheLayout kv;
    const Status s = layout_of(g, &kv);
    CHECK(s.code() == INFER_ERR_MODEL_BAD_HPARAM);
    CHECK_MESSAGE(s.message().find(names) != std::string::npos, s.message());
}

} // namespace

TEST_CASE(
    "kv layout: each layer's dims come from its KvStore; a layer without one caches nothing") {
    KvCacheLayout kv;
    KvGraph owner;
    REQUIRE(layout_of(mixed_layers(owner), &kv).is_ok());
    REQUIRE(kv.n_layer() == 4);
    CHECK(kv.layer(0) == KvLayerLayout{2, 16, 16, false});
    CHECK(kv.layer(1) == KvLayerLayout{1, 24, 8, false});
    CHECK(kv.layer(2) == KvLayerLayout{1, 72, 56, true}); // the value size from its attention
    CHECK(kv.layer(3) == KvLayerLayout{});
    CHECK(!kv.layer(3).caches());
    // F16, n_ctx 10: per position 2 * (16 + 16) + (24 + 8) + 72 elements.
    CHECK(kv.token_bytes() == (64 + 32 + 72) * 2);
    CHECK(kv.total_bytes() == kv.token_bytes() * 10);
    CHECK(kv.plane_bytes(1) == 24 * 10 * 2);
    CHECK(kv.v_plane_bytes(1) == 8 * 10 * 2);
    CHECK(kv.v_plane_bytes(2) == 0);
    CHECK(kv.layer_bytes(3) == 0);
    CHECK(kv.largest_layer_bytes() == 72 * 10 * 2);
}

TEST_CASE("kv layout: two stores to one layer must agree") {
    KvGraph same;
    same.store(0, 2, 16, 16);
    same.store(0, 2, 16, 16);
    KvCacheLayout kv;
    CHECK(layout_of(same.finish(same.attend(0, 2, 2, {16, 16, false})), &kv).is_ok());

    KvGraph heads;
    heads.store(0, 2, 16, 16);
    heads.store(0, 1, 16, 16);
    refused(heads.finish(heads.attend(0, 2, 2, {16, 16, false})), "earlier KvStore");

    KvGraph values;
    values.store(1, 2, 16, 16);
    values.store(1, 2, 16, 8);
    refused(values.finish(values.attend(1, 2, 2, {16, 16, false})), "layer 1");
}

TEST_CASE("kv layout: an attention must read a stored layer with its dims") {
    struct Store {
        int32_t layer, n_head_kv, head_dim, head_dim_v;
    };
    struct Read {
        int32_t layer, n_head, n_head_kv;
        GraphBuilder::KvDims dims;
    };
    struct Mismatch {
        Store store;
        Read read;
        const char *names; // what the message must say
    };
    const Mismatch cases[] = {
        {{0, 2, 16, 16}, {1, 2, 2, {16, 16, false}}, "nothing stores"},
        {{0, 2, 16, 16}, {0, 4, 1, {16, 16, false}}, "1 KV heads of 16"},
        {{0, 2, 16, 16}, {0, 2, 2, {24, 16, false}}, "2 KV heads of 24"},
        {{0, 2, 16, 8}, {0, 2, 2, {16, 16, false}}, "values of 16"},
        // A V plane read as values in the keys, and keys alone read as if they had a V plane.
        {{0, 2, 16, 16}, {0, 2, 2, {16, 16, true}}, "values in the keys"},
        {{0, 1, 72, 0}, {0, 2, 1, {72, 56, false}}, "values in the keys"},
    };
    for (const Mismatch &c : cases) {
        CAPTURE(c.names);
        KvGraph g;
        g.store(c.store.layer, c.store.n_head_kv, c.store.head_dim, c.store.head_dim_v);
        refused(g.finish(g.attend(c.read.layer, c.read.n_head, c.read.n_head_kv, c.read.dims)),
                c.names);
    }
}

TEST_CASE("kv layout: attentions over values in the keys agree on their size, within a key row") {
    KvGraph two;
    two.store(0, 1, 72, 0);
    two.attend(0, 2, 1, {72, 56, true});
    refused(two.finish(two.attend(0, 2, 1, {72, 48, true})), "values of 48");

    KvGraph wide;
    wide.store(0, 1, 72, 0);
    refused(wide.finish(wide.attend(0, 2, 1, {72, 80, true})), "values of 80");
}

TEST_CASE("kv layout: a KV node outside the model's layers is an error") {
    KvCacheLayout kv;
    KvGraph owner;
    const Status s = layout_of(mixed_layers(owner), &kv, 2);
    CHECK(s.code() == INFER_ERR_MODEL_BAD_HPARAM);
    CHECK_MESSAGE(s.message().find("outside the model's layers") != std::string::npos, s.message());
}

// One token at position 0 of an empty F32 cache: each attention's softmax has one key, weight
// 1, so every query head's output is its KV head's value row (the keys' first head_dim_v with
// the values inside the keys); the layer without a store reads layer 0's row.
TEST_CASE("kv layout: the CPU backend stores and attends per layer, each with its own dims") {
    std::vector<TensorId> outs;
    KvGraph owner;
    graph::Graph g = mixed_layers(owner, &outs);
    KvCacheLayout layout;
    REQUIRE(kv_layout_from_graph(g, 4, 0, 4, &layout).is_ok());
    std::unique_ptr<Backend> cpu;
    REQUIRE(cpu_backend_entry().make_backend(BackendConfig{}, &cpu).is_ok());
    REQUIRE(cpu->start().is_ok());
    cpu->size_scratch(g, layout);

    // Every tensor and cache plane in memory of its own (64-byte aligned), inputs random.
    std::vector<std::vector<float>> memory;
    auto floats = [&](uint64_t bytes) {
        std::vector<float> &v = memory.emplace_back((bytes + 3) / 4 + 16); // 64 bytes of slack
        const auto at = reinterpret_cast<uintptr_t>(v.data());
        return reinterpret_cast<uint8_t *>(v.data()) + (64 - at % 64) % 64;
    };
    BoundGraph bound;
    bound.graph = &g;
    Rng rng(5);
    for (size_t t = 0; t < g.tensors.size(); ++t) {
        bound.tensor_data.push_back(floats(g.max_bytes(static_cast<TensorId>(t))));
        if (g.tensors[t].dtype == graph::DType::F32)
            for (int64_t i = 0; i < g.tensors[t].n; ++i)
                reinterpret_cast<float *>(bound.tensor_data.back())[i] = rng.normal();
    }
    *reinterpret_cast<int32_t *>(bound.tensor_data[static_cast<size_t>(g.positions)]) = 0;
    KvCache kv;
    kv.layout = layout;
    for (int64_t l = 0; l < layout.n_layer(); ++l) {
        uint8_t *k = layout.layer(l).caches() ? floats(layout.layer_bytes(l)) : nullptr;
        kv.planes.push_back(k);
        kv.planes.push_back(layout.layer(l).v_in_k || !k ? k : k + layout.plane_bytes(l));
    }
    CHECK(kv.k(3) == nullptr);

    for (size_t i = 0; i < g.nodes.size(); ++i) {
        const graph::Op op = g.nodes[i].op;
        if (op != graph::Op::KvStore && op != graph::Op::Attention) continue;
        const auto node = static_cast<int32_t>(i);
        REQUIRE(cpu->run(bound, {node, node + 1}, 1, kv, StopSignal{}).is_ok());
    }
    auto data = [&](TensorId id) { return reinterpret_cast<const float *>(bound.tensor_data[id]); };
    for (size_t a = 0; a < outs.size(); ++a) {
        const graph::Node *attention = nullptr;
        for (const graph::Node &n : g.nodes)
            if (n.out == outs[a]) attention = &n;
        const graph::Node *store = nullptr;
        for (const graph::Node &n : g.nodes)
            if (n.op == graph::Op::KvStore && n.layer == attention->layer) store = &n;
        const KvLayerLayout &l = layout.layer(attention->layer);
        // Values: the store's V input, or its keys (rows of head_dim) when they hold the values.
        const float *values = data(l.v_in_k ? store->in[0] : store->in[1]);
        const int64_t row = l.v_in_k ? l.head_dim : l.value_dim();
        const int64_t group = attention->n_head / l.n_head_kv;
        for (int64_t h = 0; h < attention->n_head; ++h)
            for (int64_t d = 0; d < l.value_dim(); ++d)
                CHECK(data(outs[a])[h * l.value_dim() + d] ==
                      doctest::Approx(values[h / group * row + d]).epsilon(1e-6));
    }
}
