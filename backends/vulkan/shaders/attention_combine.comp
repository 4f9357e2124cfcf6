// The second step of flash-decoding (attention.comp with splits > 1): for each (token, head)
// row, the chunks' partial results (max m_s, sum l_s, unnormalized output a_s) merge into
// o = sum_s exp(m_s - M) a_s / sum_s exp(m_s - M) l_s, M the largest m_s (the chunk holding the
// query's own position is never empty, so M is finite). With has_sinks the row's head h = row %
// n_head has a sink logit (F32 at byte sinks + 4h of the weight chunk) that joins M and adds
// exp(sink - M) to the denominator. One invocation per output dim (head_dim_v per row).
#version 450
#include "common.glsl"

layout(local_size_x = 64) in;

layout(push_constant) uniform Push {
    uint o, part, rows, splits, head_dim_v, n_head, has_sinks, sinks;
} p;

void main() {
    const uint hd = p.head_dim_v, stride = hd + 2u;
    for (uint i = gl_GlobalInvocationID.x; i < p.rows * hd; i += gl_NumWorkGroups.x * 64u) {
        const uint row = i / hd, d = i % hd;
        const uint base = p.part + row * p.splits * stride;
        const float sink = p.has_sinks != 0u ? wf32(p.sinks + 4u * (row % p.n_head)) : -1.0 / 0.0;
        float top = sink;
        for (uint s = 0u; s < p.splits; ++s) top = max(top, ctx.f[base + s * stride]);
        float num = 0.0, den = p.has_sinks != 0u ? exp(sink - top) : 0.0;
        for (uint s = 0u; s < p.splits; ++s) {
            const uint b = base + s * stride;
            const float w = exp(ctx.f[b] - top);
            num += w * ctx.f[b + 2u + d];
            den += w * ctx.f[b + 1u];
        }
        ctx.f[p.o + row * hd + d] = den > 0.0 ? num / den : 0.0;
    }
}
