// Activations to 8 bits for the int8 decode matvec (matmul_dot.comp): each 32-element block of
// x[t] becomes d = max|x| / 127 and q = round(x / d) in [-127, 127] (ties away from zero, as the
// CPU's Q8_0), packed four to a word, with the block's sum of q (for the weights' minimum of
// Q4_1/Q5_1). Layout, block i = t * (k / 32) + b: qs[8 i .. 8 i + 8), d[i], sums[i]. One
// invocation per block.
#version 450
#include "common.glsl"

layout(local_size_x = 64) in;

layout(push_constant) uniform Push {
    uint x, k, n_tokens, qs, d, sums;
} p;

void main() {
    const uint nb = p.k / 32u;
    for (uint i = gl_GlobalInvocationID.x; i < p.n_tokens * nb; i += gl_NumWorkGroups.x * 64u) {
        const uint xb = p.x + (i / nb) * p.k + (i % nb) * 32u;
        float amax = 0.0;
        for (uint j = 0u; j < 32u; ++j) amax = max(amax, abs(ctx.f[xb + j]));
        const float d = amax / 127.0;
        const float id = d > 0.0 ? 1.0 / d : 0.0;
        int sum = 0;
        for (uint w = 0u; w < 8u; ++w) {
            uint packed = 0u;
            for (uint e = 0u; e < 4u; ++e) {
                const float v = ctx.f[xb + w * 4u + e] * id;
                const int q = clamp(int(sign(v) * floor(abs(v) + 0.5)), -127, 127);
                sum += q;
                packed |= (uint(q) & 0xffu) << (8u * e);
            }
            ctx_i.i[p.qs + i * 8u + w] = int(packed);
        }
        ctx.f[p.d + i] = d;
        ctx_i.i[p.sums + i] = sum;
    }
}
