// Attention of each query row over the layer's cached keys and values, with an online softmax
// (no score matrix): o = softmax_j(logit(q . K[j])) V over the keys position pos sees (causal;
// with window > 0 only key j with pos - j < window; GQA: head h reads kv head h / (n_head /
// n_head_kv)). logit = dot * scale, soft-capped as softcap * tanh(x / softcap) when softcap > 0.
//
// One workgroup per (token, head), striding over them. Keys come in tiles of 64: invocation i
// forms the logit of the tile's key i, then every invocation updates its output dims (d = i,
// i + 64, ...; head_dim <= 512) over the tile's values.
//
// Flash-decoding (splits > 1, the GPU kernels' decode): the cache's positions are cut into
// `splits` chunks of `chunk`, and a workgroup per (token, head, chunk) writes its running max,
// sum and unnormalized output to `part` (max, sum, then head_dim values) for
// attention_combine.comp, so that a few query rows over a long cache still fill the device.
#version 450
#include "common.glsl"

layout(local_size_x = 64) in;

layout(push_constant) uniform Push {
    uint o, q, kc, vc, pos, n_tokens, n_head, n_head_kv, head_dim, n_ctx, f16, window;
    float scale, softcap;
    uint splits, chunk, part;
} p;

const uint TILE = 64u;
const uint MAX_DIMS = 8u; // 512 / 64
shared float q_s[512];
shared float p_s[TILE];

void main() {
    const uint tid = gl_LocalInvocationID.x;
    const uint hd = p.head_dim;
    const uint rows = p.n_tokens * p.n_head;
    for (uint wg = gl_WorkGroupID.x; wg < rows * p.splits; wg += gl_NumWorkGroups.x) {
        const uint row = wg % rows, split = wg / rows;
        const uint t = row / p.n_head, h = row % p.n_head;
        const uint kvh = h / (p.n_head / p.n_head_kv);
        const uint qb = p.q + (t * p.n_head + h) * hd;
        for (uint d = tid; d < hd; d += 64u) q_s[d] = ctx.f[qb + d];
        barrier();
        const int pos = ctx_i.i[p.pos + t];
        int first = p.window > 0u ? max(pos - int(p.window) + 1, 0) : 0;
        int last = pos;
        if (p.splits > 1u) {
            first = max(first, int(split * p.chunk));
            last = min(last, int((split + 1u) * p.chunk) - 1);
        }
        const uint kb = p.kc + kvh * p.n_ctx * hd, vb = p.vc + kvh * p.n_ctx * hd;
        float acc[MAX_DIMS];
        for (uint i = 0u; i < MAX_DIMS; ++i) acc[i] = 0.0;
        float m = -1.0 / 0.0, l = 0.0;
        for (int tile = first; tile <= last; tile += int(TILE)) {
            const uint nk = min(TILE, uint(last - tile + 1));
            if (tid < nk) {
                const uint krow = kb + uint(tile + int(tid)) * hd;
                float dot = 0.0;
                for (uint d = 0u; d < hd; ++d) dot += q_s[d] * kv_load(p.f16, krow + d);
                float x = dot * p.scale;
                if (p.softcap > 0.0) x = p.softcap * tanh(clamp(x / p.softcap, -15.0, 15.0));
                p_s[tid] = x;
            }
            barrier();
            float tmax = -1.0 / 0.0;
            for (uint kk = 0u; kk < nk; ++kk) tmax = max(tmax, p_s[kk]);
            const float m_new = max(m, tmax);
            const float corr = exp(m - m_new); // 0 on the first tile (m = -inf)
            barrier();
            if (tid < nk) p_s[tid] = exp(p_s[tid] - m_new);
            barrier();
            float sum = 0.0;
            for (uint kk = 0u; kk < nk; ++kk) sum += p_s[kk];
            l = l * corr + sum;
            for (uint i = 0u; i < MAX_DIMS; ++i) {
                const uint d = tid + i * 64u;
                if (d >= hd) break;
                float x = acc[i] * corr;
                for (uint kk = 0u; kk < nk; ++kk)
                    x += p_s[kk] * kv_load(p.f16, vb + uint(tile + int(kk)) * hd + d);
                acc[i] = x;
            }
            m = m_new;
            barrier();
        }
        if (p.splits > 1u) { // an empty chunk leaves max -inf and sum 0: it weighs nothing
            const uint pb = p.part + (row * p.splits + split) * (hd + 2u);
            if (tid == 0u) {
                ctx.f[pb] = m;
                ctx.f[pb + 1u] = l;
            }
            for (uint i = 0u; i < MAX_DIMS; ++i) {
                const uint d = tid + i * 64u;
                if (d < hd) ctx.f[pb + 2u + d] = acc[i];
            }
        } else {
            const uint ob = p.o + row * hd;
            for (uint i = 0u; i < MAX_DIMS; ++i) {
                const uint d = tid + i * 64u;
                if (d < hd) ctx.f[ob + d] = l > 0.0 ? acc[i] / l : 0.0;
            }
        }
        barrier();
    }
}
