// RoPE in place on x [n_tokens][n_head][head_dim] at positions pos: one invocation per (token,
// head, pair). cos and sin of pair k's angle iterate theta *= theta_scale k times as ggml and
// rope_ref do; frequency factors (llama3) are F32 in the weight chunk when has_ff. YaRN
// (ext_factor != 0) blends the scaled and unscaled angle over the pairs corr_lo..corr_hi and grows
// cos and sin, as ggml's rope_yarn; attn_factor scales them always.
#version 450
#include "common.glsl"

layout(local_size_x = 256) in;

layout(push_constant) uniform Push {
    uint x, pos, n_tokens, n_head, head_dim, n_rot, neox, ff_off, has_ff;
    float theta_scale, freq_scale, ext_factor, attn_factor, corr_lo, corr_hi;
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
        const float theta_extrap = theta / ff;
        const float theta_interp = p.freq_scale * theta_extrap;
        float th = theta_interp;
        float mscale = p.attn_factor;
        if (p.ext_factor != 0.0) {
            const float y = (float(k) - p.corr_lo) / max(0.001, p.corr_hi - p.corr_lo);
            const float ramp_mix = (1.0 - min(1.0, max(0.0, y))) * p.ext_factor;
            th = theta_interp * (1.0 - ramp_mix) + theta_extrap * ramp_mix;
            mscale *= 1.0 + 0.1 * log(1.0 / p.freq_scale);
        }
        const float c = cos(th) * mscale, sn = sin(th) * mscale;
        const uint base = p.x + row * p.head_dim;
        const uint j0 = base + (p.neox != 0u ? k : 2u * k);
        const uint j1 = base + (p.neox != 0u ? k + half_rot : 2u * k + 1u);
        const float x0 = ctx.f[j0], x1 = ctx.f[j1];
        ctx.f[j0] = x0 * c - x1 * sn;
        ctx.f[j1] = x0 * sn + x1 * c;
    }
}
