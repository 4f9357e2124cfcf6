// Attention of each query row over the layer's cached keys and values, with an online softmax
// (no score matrix): o = softmax_j(logit(q . K[j])) V over the keys position pos sees (causal;
// with window > 0 only key j with pos - j < window; GQA: head h reads kv head h / (n_head /
// n_head_kv)). logit = dot * scale, soft-capped as softcap * tanh(x / softcap) when softcap > 0.
// With has_sinks, head h's sink logit (F32 at byte sinks + 4h of the weight chunk) joins the
// softmax's max and denominator, with no value (cpu attention_out_scale).
//
// Keys and queries have head_dim elements, values head_dim_v; value row j is v_row elements
// after row j - 1 from vc, so with multi-head latent attention (DeepSeek: values are the first
// head_dim_v elements of each key row) vc is kc and v_row head_dim.
//
// One workgroup per (token, head), striding over them. Keys come in tiles of 64: invocation i
// forms the logit of the tile's key i, then every invocation updates its output dims (d = i,
// i + 64, ...) over the tile's values. Head sizes up to MAX_HEAD_DIM: 512 keeps the common
// sizes' accumulators few; the attention_wide module takes up to 1024 (DeepSeek's 576).
//
// Flash-decoding (splits > 1, the GPU kernels' decode): the cache's positions are cut into
// `splits` chunks of `chunk`, and a workgroup per (token, head, chunk) writes its running max,
// sum and unnormalized output to `part` (max, sum, then head_dim_v values) for
// attention_combine.comp, so that a few query rows over a long cache still fill the device.
#version 450
#include "common.glsl"

layout(local_size_x = 64) in;

layout(push_constant) uniform Push {
    uint o, q, kc, vc, pos, n_tokens, n_head, n_head_kv, head_dim, n_ctx, f16, window;
    float scale, softcap;
    uint splits, chunk, part, has_sinks, sinks, head_dim_v, v_row;
} p;

#ifndef MAX_HEAD_DIM
#define MAX_HEAD_DIM 512
#endif
const uint TILE = 64u;
const uint MAX_DIMS = uint(MAX_HEAD_DIM) / 64u; // output dims per invocation
shared float q_s[MAX_HEAD_DIM];
shared float p_s[TILE];

void main() {
    const uint tid = gl_LocalInvocationID.x;
    const uint hd = p.head_dim, hdv = p.head_dim_v;
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
        const uint kb = p.kc + kvh * p.n_ctx * hd, vb = p.vc + kvh * p.n_ctx * p.v_row;
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
                if (d >= hdv) break;
                float x = acc[i] * corr;
                for (uint kk = 0u; kk < nk; ++kk)
                    x += p_s[kk] * kv_load(p.f16, vb + uint(tile + int(kk)) * p.v_row + d);
                acc[i] = x;
            }
            m = m_new;
            barrier();
        }
        if (p.splits > 1u) { // an empty chunk leaves max -inf and sum 0: it weighs nothing
            const uint pb = p.part + (row * p.splits + split) * (hdv + 2u);
            if (tid == 0u) {
                ctx.f[pb] = m;
                ctx.f[pb + 1u] = l;
            }
            for (uint i = 0u; i < MAX_DIMS; ++i) {
                const uint d = tid + i * 64u;
                if (d < hdv) ctx.f[pb + 2u + d] = acc[i];
            }
        } else {
            // 1 / l; with a sink c / (l c + e^(sink - top)), the sum rescaled to the larger max
            // top (c = 0 when no key was visible). No visible key and no sink: zeros, not NaN.
            float inv = l > 0.0 ? 1.0 / l : 0.0;
            if (p.has_sinks != 0u) {
                const float sink = wf32(p.sinks + 4u * h), top = max(m, sink);
                const float c = exp(m - top);
                inv = c / (l * c + exp(sink - top));
            }
            const uint ob = p.o + row * hdv;
            for (uint i = 0u; i < MAX_DIMS; ++i) {
                const uint d = tid + i * 64u;
                if (d < hdv) ctx.f[ob + d] = acc[i] * inv;
            }
        }
        barrier();
    }
}
