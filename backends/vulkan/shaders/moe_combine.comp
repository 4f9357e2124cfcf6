// MoeFfn, step 3 of 3: out[t][i] = sum over j of weights[t][j] * y[t * k + j][i], skipping the
// pairs moe_select.comp marked -1 (they add nothing here: the CPU computes them). Zeros when no
// pair of the token is computed.
#version 450
#include "common.glsl"

layout(local_size_x = 256) in;

layout(push_constant) uniform Push {
    uint out_off, y, weights, sel, n_tokens, k, n;
} p;

void main() {
    const uint total = p.n_tokens * p.n;
    for (uint i = gl_GlobalInvocationID.x; i < total; i += gl_NumWorkGroups.x * 256u) {
        const uint t = i / p.n, c = i % p.n;
        float sum = 0.0;
        for (uint j = 0u; j < p.k; ++j) {
            const uint pair = t * p.k + j;
            if (ctx_i.i[p.sel + pair] >= 0) sum += ctx.f[p.weights + pair] * ctx.f[p.y + pair * p.n + c];
        }
        ctx.f[p.out_off + i] = sum;
    }
}
