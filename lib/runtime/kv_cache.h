// The KV cache: per layer, K then V, each [n_head_kv][n_ctx][head_dim] of F16 (default) or F32.
// Head-major so that attention for one head streams its keys contiguously.
#pragma once

#include <cstdint>
#include <vector>

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

// Each layer's K and V planes live in the memory of the backend that runs the layer's attention
// (a split model keeps some layers' caches on a device, the rest on the host).
struct KvCache {
    KvCacheLayout layout;
    std::vector<uint8_t *> planes; // [2 * layer] K, [2 * layer + 1] V, in the owning context's memory

    void *k(int64_t layer) const { return planes[static_cast<size_t>(2 * layer)]; }
    void *v(int64_t layer) const { return planes[static_cast<size_t>(2 * layer + 1)]; }
};

} // namespace infer
