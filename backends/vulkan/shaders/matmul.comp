// MatMul: y[t][r] = W[r] . x[t] for t < n_tokens, rows of any type blocks.glsl reads. One
// workgroup per output row (striding over rows); up to 32 tokens share each decoded weight
// element, then the next 32. Invocation i decodes elements i, i + 64, ... (every invocation busy
// even on a row of one 256-element block), reduced in shared memory. Bias is a separate
// elementwise dispatch (it may sit in another weight chunk).
#version 450
#include "common.glsl"
#include "blocks.glsl"

layout(local_size_x = 64) in;

layout(push_constant) uniform Push {
    uint type, w_off, row_bytes, block_bytes, k, n, x, y, n_tokens;
} p;

const uint TOKENS = 32u;
shared float partial[TOKENS][64];

void main() {
    const uint tid = gl_LocalInvocationID.x;
    const uint be = block_elems(p.type);
    for (uint r = gl_WorkGroupID.x; r < p.n; r += gl_NumWorkGroups.x) {
        const uint row = p.w_off + r * p.row_bytes;
        for (uint t0 = 0u; t0 < p.n_tokens; t0 += TOKENS) {
            const uint nt = min(TOKENS, p.n_tokens - t0);
            float acc[TOKENS];
            for (uint t = 0u; t < TOKENS; ++t) acc[t] = 0.0;
            for (uint col = tid; col < p.k; col += 64u) {
                const float wv = dq(p.type, row + (col / be) * p.block_bytes, col % be);
                for (uint t = 0u; t < nt; ++t) acc[t] += wv * ctx.f[p.x + (t0 + t) * p.k + col];
            }
            for (uint t = 0u; t < TOKENS; ++t) partial[t][tid] = acc[t];
            barrier();
            for (uint s = 32u; s > 0u; s >>= 1) {
                if (tid < s)
                    for (uint t = 0u; t < nt; ++t) partial[t][tid] += partial[t][tid + s];
                barrier();
            }
            if (tid < nt) ctx.f[p.y + (t0 + tid) * p.n + r] = partial[tid][0];
            barrier();
        }
    }
}
