// The KV cache: per layer, K then V, each [n_head_kv][n_ctx][head_dim] of F16 (default) or F32.
// Head-major so that attention for one head streams its keys contiguously.
#pragma once

#include <cstdint>

namespace infer {

struct KvCacheLayout {
    uint32_t type = 1; // ggml type id: 1 F16, 0 F32
    int64_t n_layer = 0;
    int64_t n_ctx = 0;
    int64_t n_head_kv = 0;
    int64_t head_dim = 0;

    uint64_t elem_bytes() const { return type == 0 ? 4 : 2; }
    // Bytes of one layer's K (or V): n_head_kv * n_ctx * head_dim elements.
    uint64_t plane_bytes() const {
        return static_cast<uint64_t>(n_head_kv * n_ctx * head_dim) * elem_bytes();
    }
    uint64_t total_bytes() const { return 2 * static_cast<uint64_t>(n_layer) * plane_bytes(); }
};

struct KvCache {
    KvCacheLayout layout;
    uint8_t *data = nullptr; // total_bytes(), owned by the context's allocation

    void *k(int64_t layer) const { return data + (2 * layer) * layout.plane_bytes(); }
    void *v(int64_t layer) const { return data + (2 * layer + 1) * layout.plane_bytes(); }
};

} // namespace infer
