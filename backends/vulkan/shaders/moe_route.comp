// MoeRoute, as cpu::moe_route_ref: for each token p = softmax(router logits [n_expert]) shifted
// by the max (the sum in float here, the reference's in double: one common factor, so the
// ranking is the same); ids = the k experts of largest p, best first, ties to the lower id;
// weights = their p, divided by their sum (clamped below at 2^-14) when norm. One invocation per
// token: k rounds of a scan for the best expert after the previous pick in the order "p
// descending, then id ascending".
#version 450
#include "common.glsl"

layout(local_size_x = 64) in;

layout(push_constant) uniform Push {
    uint logits, ids, weights, n_tokens, n_expert, k, norm;
} p;

bool routes_before(float pa, int a, float pb, int b) { return pa > pb || (pa == pb && a < b); }

void main() {
    for (uint t = gl_GlobalInvocationID.x; t < p.n_tokens; t += gl_NumWorkGroups.x * 64u) {
        const uint lb = p.logits + t * p.n_expert;
        float l_max = -1.0 / 0.0;
        for (uint e = 0u; e < p.n_expert; ++e) l_max = max(l_max, ctx.f[lb + e]);
        float sum = 0.0;
        for (uint e = 0u; e < p.n_expert; ++e) sum += exp(ctx.f[lb + e] - l_max);
        const float inv_sum = 1.0 / sum;
        float last_p = 0.0, total = 0.0;
        int last = -1;
        for (uint j = 0u; j < p.k; ++j) {
            float best_p = 0.0;
            int best = -1;
            for (uint e = 0u; e < p.n_expert; ++e) {
                const float pe = exp(ctx.f[lb + e] - l_max) * inv_sum;
                const bool after_last = last < 0 || routes_before(last_p, last, pe, int(e));
                if (after_last && (best < 0 || routes_before(pe, int(e), best_p, best))) {
                    best_p = pe;
                    best = int(e);
                }
            }
            // No candidate only with NaN logits: repeat a valid id.
            if (best < 0) {
                best = last < 0 ? 0 : last;
                best_p = last_p;
            }
            ctx_i.i[p.ids + t * p.k + j] = best;
            ctx.f[p.weights + t * p.k + j] = best_p;
            total += best_p;
            last = best;
            last_p = best_p;
        }
        if (p.norm != 0u) {
            const float d = max(total, 6.103515625e-5);
            for (uint j = 0u; j < p.k; ++j) ctx.f[p.weights + t * p.k + j] /= d;
        }
    }
}
