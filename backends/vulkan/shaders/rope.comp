// RoPE in place on x [n_tokens][n_head][head_dim] at positions pos: one invocation per (token,
// head, pair). cos and sin of pair k's angle iterate theta *= theta_scale k times as ggml and
// rope_ref do; frequency factors (llama3) are F32 in the weight chunk when has_ff.
#version 450
#include "common.glsl"

layout(local_size_x = 256) in;

layout(push_constant) uniform Push {
    uint x, pos, n_tokens, n_head, head_dim, n_rot, neox, ff_off, has_ff;
    float theta_scale, freq_scale;
} p;

void main() {
    const uint half_rot = p.n_rot / 2u;
    const uint total = p.n_tokens * p.n_head * half_rot;
    for (uint i = gl_GlobalInvocationID.x; i < total; i += gl_NumWorkGroups.x * 256u) {
        const uint k = i % half_rot;
        const uint row = i / half_rot; // token * n_head + head
        const uint token = row / p.n_head;
        float theta = float(ctx_i.i[p.pos + token]);
        for (uint s = 0u; s < k; ++s) theta *= p.theta_scale;
        const float ff = p.has_ff != 0u ? wf32(p.ff_off + 4u * k) : 1.0;
        const float th = p.freq_scale * (theta / ff);
        const float c = cos(th), sn = sin(th);
        const uint base = p.x + row * p.head_dim;
        const uint j0 = base + (p.neox != 0u ? k : 2u * k);
        const uint j1 = base + (p.neox != 0u ? k + half_rot : 2u * k + 1u);
        const float x0 = ctx.f[j0], x1 = ctx.f[j1];
        ctx.f[j0] = x0 * c - x1 * sn;
        ctx.f[j1] = x0 * sn + x1 * c;
    }
}
