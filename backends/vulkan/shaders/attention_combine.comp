// The second step of flash-decoding (attention.comp with splits > 1): for each (token, head)
// row, the chunks' partial results (max m_s, sum l_s, unnormalized output a_s) merge into
// o = sum_s exp(m_s - M) a_s / sum_s exp(m_s - M) l_s, M the largest m_s (the chunk holding the
// query's own position is never empty, so M is finite). One invocation per output dim.
#version 450
#include "common.glsl"

layout(local_size_x = 64) in;

layout(push_constant) uniform Push {
    uint o, part, rows, splits, head_dim;
} p;

void main() {
    const uint hd = p.head_dim, stride = hd + 2u;
    for (uint i = gl_GlobalInvocationID.x; i < p.rows * hd; i += gl_NumWorkGroups.x * 64u) {
        const uint row = i / hd, d = i % hd;
        const uint base = p.part + row * p.splits * stride;
        float top = -1.0 / 0.0;
        for (uint s = 0u; s < p.splits; ++s) top = max(top, ctx.f[base + s * stride]);
        float num = 0.0, den = 0.0;
        for (uint s = 0u; s < p.splits; ++s) {
            const uint b = base + s * stride;
            const float w = exp(ctx.f[b] - top);
            num += w * ctx.f[b + 2u + d];
            den += w * ctx.f[b + 1u];
        }
        ctx.f[p.o + row * hd + d] = den > 0.0 ? num / den : 0.0;
    }
}
