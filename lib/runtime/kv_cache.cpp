#include "runtime/kv_cache.h"

#include <algorithm>

namespace infer {

uint64_t KvCacheLayout::largest_layer_bytes() const {
    uint64_t largest = 0;
    for (int64_t l = 0; l < n_layer(); ++l)
        largest = std::max(largest, layer_bytes(l));
    return largest;
}

uint64_t KvCacheLayout::token_bytes() const {
    int64_t elems = 0;
    for (const KvLayerLayout &l : layers)
        elems += l.token_elems();
    return bytes(elems);
}

uint64_t KvCacheLayout::total_bytes() const {
    uint64_t total = 0;
    for (int64_t l = 0; l < n_layer(); ++l)
        total += layer_bytes(l);
    return total;
}

namespace {

Status bad_node(size_t node, const char *op, int32_t layer, const char *why) {
    return make_error(INFER_ERR_MODEL_BAD_HPARAM,
                      "the graph's %s node %zu (KV cache of layer %d) %s", op, node, layer, why);
}

// What a KvStore node writes per position (GraphBuilder::kv_store sets its value size); with
// v_in_k head_dim_v stays 0: the attentions reading the layer say how much of a key row the
// values are.
KvLayerLayout stored_layout(const graph::Node &n) {
    return {n.n_head_kv, n.head_dim, n.v_in_k ? 0 : n.head_dim_v, n.v_in_k};
}

Status add_store(const graph::Graph &g, size_t i, KvCacheLayout *kv) {
    const graph::Node &n = g.nodes[i];
    if (n.layer < 0 || n.layer >= kv->n_layer())
        return bad_node(i, "KvStore", n.layer, "is outside the model's layers");
    const KvLayerLayout stored = stored_layout(n);
    if (stored.n_head_kv < 1 || stored.head_dim < 1 || (!stored.v_in_k && stored.head_dim_v < 1))
        return bad_node(i, "KvStore", n.layer, "stores empty heads");
    KvLayerLayout &layer = kv->layers[static_cast<size_t>(n.layer)];
    if (layer.caches() && !(layer == stored))
        return bad_node(i, "KvStore", n.layer, "stores other dims than an earlier KvStore there");
    layer = stored;
    return Status::ok();
}

Status check_attention(const graph::Node &n, size_t i, KvCacheLayout *kv) {
    if (n.layer < 0 || n.layer >= kv->n_layer())
        return bad_node(i, "Attention", n.layer, "is outside the model's layers");
    KvLayerLayout &layer = kv->layers[static_cast<size_t>(n.layer)];
    if (!layer.caches())
        return bad_node(i, "Attention", n.layer, "reads a layer nothing stores to");
    if (n.n_head_kv != layer.n_head_kv || n.head_dim != layer.head_dim || n.v_in_k != layer.v_in_k)
        return make_error(
            INFER_ERR_MODEL_BAD_HPARAM,
            "the graph's Attention node %zu reads layer %d's cache as %d KV heads of "
            "%d%s; it holds %lld of %lld%s",
            i, n.layer, n.n_head_kv, n.head_dim, n.v_in_k ? " (values in the keys)" : "",
            static_cast<long long>(layer.n_head_kv), static_cast<long long>(layer.head_dim),
            layer.v_in_k ? " (values in the keys)" : "");
    const int64_t value_dim = n.head_dim_v ? n.head_dim_v : n.head_dim;
    if (layer.v_in_k && layer.head_dim_v == 0 && value_dim <= layer.head_dim)
        layer.head_dim_v = value_dim; // the first attention says what the values are
    if (value_dim != layer.value_dim())
        return make_error(INFER_ERR_MODEL_BAD_HPARAM,
                          "the graph's Attention node %zu reads values of %lld from layer %d's "
                          "cache, whose values are %lld%s",
                          i, static_cast<long long>(value_dim), n.layer,
                          static_cast<long long>(layer.value_dim()),
                          layer.v_in_k ? " (inside the keys)" : "");
    return Status::ok();
}

} // namespace

Status kv_layout_from_graph(const graph::Graph &g, int64_t n_layer, uint32_t type, int64_t n_ctx,
                            KvCacheLayout *out) {
    KvCacheLayout kv;
    kv.type = type;
    kv.n_ctx = n_ctx;
    kv.layers.assign(static_cast<size_t>(std::max<int64_t>(n_layer, 0)), KvLayerLayout{});
    // Every store first: each attention is checked against its layer's settled dims.
    for (size_t i = 0; i < g.nodes.size(); ++i)
        if (g.nodes[i].op == graph::Op::KvStore) INFER_TRY(add_store(g, i, &kv));
    for (size_t i = 0; i < g.nodes.size(); ++i)
        if (g.nodes[i].op == graph::Op::Attention) INFER_TRY(check_attention(g.nodes[i], i, &kv));
    *out = std::move(kv);
    return Status::ok();
}

} // namespace infer
