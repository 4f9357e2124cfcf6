// KvStore: the K cache [n_head_kv][n_ctx][head_dim] and the V cache [n_head_kv][n_ctx][head_dim_v]
// (F16 or F32) at rows pos[t] <- k [n_tokens][n_head_kv][head_dim], v
// [n_tokens][n_head_kv][head_dim_v]. Without has_v (multi-head latent attention: the values
// live in the key rows) only K. One invocation per (token, kv head, element of the longer row).
// kc and vc are element offsets: halves for an F16 cache, floats for F32.
#version 450
#include "common.glsl"

layout(local_size_x = 256) in;

layout(push_constant) uniform Push {
    uint k, v, pos, kc, vc, n_tokens, n_head_kv, head_dim, head_dim_v, n_ctx, f16, has_v;
} p;

void kv_put(uint at, float x) {
    if (p.f16 != 0u)
        ctx_h.h[at] = uint16_t(packHalf2x16(vec2(x, 0.0)) & 0xffffu);
    else
        ctx.f[at] = x;
}

void main() {
    const uint width = p.has_v != 0u ? max(p.head_dim, p.head_dim_v) : p.head_dim;
    const uint total = p.n_tokens * p.n_head_kv * width;
    for (uint i = gl_GlobalInvocationID.x; i < total; i += gl_NumWorkGroups.x * 256u) {
        const uint d = i % width;
        const uint row = i / width; // token * n_head_kv + head
        const uint head = row % p.n_head_kv, token = row / p.n_head_kv;
        const uint cache_row = head * p.n_ctx + uint(ctx_i.i[p.pos + token]);
        if (d < p.head_dim)
            kv_put(p.kc + cache_row * p.head_dim + d, ctx.f[p.k + row * p.head_dim + d]);
        if (p.has_v != 0u && d < p.head_dim_v)
            kv_put(p.vc + cache_row * p.head_dim_v + d, ctx.f[p.v + row * p.head_dim_v + d]);
    }
}
