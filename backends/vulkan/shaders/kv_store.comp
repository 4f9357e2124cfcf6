// KvStore: the K and V caches [n_head_kv][n_ctx][head_dim] (F16 or F32) at rows pos[t] <- k, v
// [n_tokens][n_head_kv][head_dim]. One invocation per (token, kv head, element). kc and vc are
// element offsets: halves for an F16 cache, floats for F32.
#version 450
#include "common.glsl"

layout(local_size_x = 256) in;

layout(push_constant) uniform Push {
    uint k, v, pos, kc, vc, n_tokens, n_head_kv, head_dim, n_ctx, f16;
} p;

void main() {
    const uint total = p.n_tokens * p.n_head_kv * p.head_dim;
    for (uint i = gl_GlobalInvocationID.x; i < total; i += gl_NumWorkGroups.x * 256u) {
        const uint d = i % p.head_dim;
        const uint row = i / p.head_dim; // token * n_head_kv + head
        const uint head = row % p.n_head_kv, token = row / p.n_head_kv;
        const uint at = (head * p.n_ctx + uint(ctx_i.i[p.pos + token])) * p.head_dim + d;
        if (p.f16 != 0u) {
            ctx_h.h[p.kc + at] = uint16_t(packHalf2x16(vec2(ctx.f[p.k + i], 0.0)) & 0xffffu);
            ctx_h.h[p.vc + at] = uint16_t(packHalf2x16(vec2(ctx.f[p.v + i], 0.0)) & 0xffffu);
        } else {
            ctx.f[p.kc + at] = ctx.f[p.k + i];
            ctx.f[p.vc + at] = ctx.f[p.v + i];
        }
    }
}
