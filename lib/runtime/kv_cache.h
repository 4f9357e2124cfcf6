// The KV cache: per layer, K [n_head_kv][n_ctx][head_dim] then V [n_head_kv][n_ctx][head_dim_v]
// of F16 (default) or F32. Head-major so that attention for one head streams its keys
// contiguously. With multi-head latent attention (DeepSeek) there is no V: a layer caches one
// "key" row per position, the compressed latent then the rope key, and the values are the
// latent, the first head_dim_v elements of each key row (v_in_k).
#pragma once

#include <cstdint>
#include <vector>

namespace infer {

struct KvCacheLayout {
    uint32_t type = 1; // ggml type id: 1 F16, 0 F32
    int64_t n_layer = 0;
    int64_t n_ctx = 0;
    int64_t n_head_kv = 0;
    int64_t head_dim = 0;   // key row
    int64_t head_dim_v = 0; // value row (0: head_dim)
    bool v_in_k = false;    // values are the keys' first head_dim_v elements: no V plane

    uint64_t elem_bytes() const { return type == 0 ? 4 : 2; }
    int64_t value_dim() const { return head_dim_v ? head_dim_v : head_dim; }
    // Elements per position of one layer, K and V together (what a token costs, times elem_bytes).
    int64_t token_elems() const { return n_head_kv * (head_dim + (v_in_k ? 0 : value_dim())); }
    // Bytes of one layer's K plane: n_head_kv * n_ctx * head_dim elements.
    uint64_t plane_bytes() const {
        return static_cast<uint64_t>(n_head_kv * n_ctx * head_dim) * elem_bytes();
    }
    // Bytes of one layer's V plane (0 when the values live in K).
    uint64_t v_plane_bytes() const {
        return v_in_k ? 0 : static_cast<uint64_t>(n_head_kv * n_ctx * value_dim()) * elem_bytes();
    }
    uint64_t layer_bytes() const { return plane_bytes() + v_plane_bytes(); }
    uint64_t total_bytes() const { return static_cast<uint64_t>(n_layer) * layer_bytes(); }
};

// Each layer's K and V planes live in the memory of the backend that runs the layer's attention
// (a split model keeps some layers' caches on a device, the rest on the host).
struct KvCache {
    KvCacheLayout layout;
    // [2 * layer] K, [2 * layer + 1] V (K's plane again when v_in_k), in the owning context's
    // memory
    std::vector<uint8_t *> planes;

    void *k(int64_t layer) const { return planes[static_cast<size_t>(2 * layer)]; }
    void *v(int64_t layer) const { return planes[static_cast<size_t>(2 * layer + 1)]; }
};

} // namespace infer
