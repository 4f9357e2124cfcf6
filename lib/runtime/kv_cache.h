// The KV cache: per layer, K [n_head_kv][n_ctx][head_dim] then V [n_head_kv][n_ctx][head_dim_v]
// of F16 (default) or F32. Head-major so that attention for one head streams its keys
// contiguously. With multi-head latent attention (DeepSeek) there is no V: a layer caches one
// "key" row per position, the compressed latent then the rope key, and the values are the
// latent, the first head_dim_v elements of each key row (v_in_k).
//
// Each layer has dims of its own, as the graph's KvStore nodes write them
// (kv_layout_from_graph); a layer that no node stores to caches nothing (an attention there
// reads another layer's cache: cross-layer KV sharing).
#pragma once

#include "core/status.h"
#include "graph/graph.h"

#include <cstdint>
#include <vector>

namespace infer {

// What one layer caches per position.
struct KvLayerLayout {
    int64_t n_head_kv = 0;  // 0: this layer caches nothing
    int64_t head_dim = 0;   // key row
    int64_t head_dim_v = 0; // value row (0: head_dim; with v_in_k, what attention reads of a key)
    bool v_in_k = false;    // values are the keys' first head_dim_v elements: no V plane

    // Written out, not defaulted: the CUDA backend's .cu files, which include this, are C++17.
    bool operator==(const KvLayerLayout &o) const {
        return n_head_kv == o.n_head_kv && head_dim == o.head_dim && head_dim_v == o.head_dim_v &&
               v_in_k == o.v_in_k;
    }

    bool caches() const { return n_head_kv > 0; }
    int64_t value_dim() const { return head_dim_v ? head_dim_v : head_dim; }
    // Elements per position, K and V together (what a token costs, times the element size).
    int64_t token_elems() const { return n_head_kv * (head_dim + (v_in_k ? 0 : value_dim())); }
    // Elements of the K plane, n_head_kv * n_ctx * head_dim, and of the V plane (0 when the
    // values live in K).
    int64_t plane_elems(int64_t n_ctx) const { return n_head_kv * n_ctx * head_dim; }
    int64_t v_plane_elems(int64_t n_ctx) const {
        return v_in_k ? 0 : n_head_kv * n_ctx * value_dim();
    }
};

// The whole cache: one element type and length for every layer, dims per layer. Bytes need the
// element type, so the byte sizes of a layer's planes are asked of the cache.
struct KvCacheLayout {
    uint32_t type = 1; // ggml type id: 1 F16, 0 F32
    int64_t n_ctx = 0;
    std::vector<KvLayerLayout> layers; // [n_layer]

    bool operator==(const KvCacheLayout &o) const {
        return type == o.type && n_ctx == o.n_ctx && layers == o.layers;
    }

    int64_t n_layer() const { return static_cast<int64_t>(layers.size()); }
    const KvLayerLayout &layer(int64_t l) const { return layers[static_cast<size_t>(l)]; }
    uint64_t elem_bytes() const { return type == 0 ? 4 : 2; }
    uint64_t plane_bytes(int64_t l) const { return bytes(layer(l).plane_elems(n_ctx)); }
    uint64_t v_plane_bytes(int64_t l) const { return bytes(layer(l).v_plane_elems(n_ctx)); }
    uint64_t layer_bytes(int64_t l) const { return plane_bytes(l) + v_plane_bytes(l); }
    uint64_t largest_layer_bytes() const;
    // Bytes one position costs in every layer together.
    uint64_t token_bytes() const;
    uint64_t total_bytes() const;

private:
    uint64_t bytes(int64_t elems) const { return static_cast<uint64_t>(elems) * elem_bytes(); }
};

// The layout the graph's KvStore and Attention nodes describe, for layers [0, n_layer): each
// layer's dims from its KvStore node(s), which must agree; every Attention must read a layer
// that is stored, with the same n_head_kv, head_dim, v_in_k and value size (with v_in_k the
// store leaves the value size to the attentions, which must agree among themselves).
// INFER_ERR_MODEL_BAD_HPARAM, naming the node and layer, for any mismatch.
Status kv_layout_from_graph(const graph::Graph &g, int64_t n_layer, uint32_t type, int64_t n_ctx,
                            KvCacheLayout *out);

// Each layer's K and V planes live in the memory of the backend that runs the layer's attention
// (a split model keeps some layers' caches on a device, the rest on the host).
struct KvCache {
    KvCacheLayout layout;
    // [2 * layer] K, [2 * layer + 1] V (K's plane again when v_in_k; both null for a layer that
    // caches nothing), in the owning context's memory
    std::vector<uint8_t *> planes;

    void *k(int64_t layer) const { return planes[static_cast<size_t>(2 * layer)]; }
    void *v(int64_t layer) const { return planes[static_cast<size_t>(2 * layer + 1)]; }
};

} // namespace infer
