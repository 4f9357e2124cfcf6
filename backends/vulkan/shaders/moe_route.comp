// MoeRoute, as cpu::moe_route_ref (graph.h's RouteFn): for each token an expert's score is, by
// fn, its softmax over every expert (shifted by the max; the sum in float here, the reference's
// in double: one common factor), its logit (top-k then softmax), or its sigmoid. It is chosen by
// its selection value, the score plus the F32 bias at byte bias_off of the weight chunk when
// has_bias; with n_group groups, only the experts of the n_group_used groups with the largest
// sums of their two best selection values compete (the others select as -inf; ties to the lower
// group). ids = the k experts of largest selection value, best first, ties to the lower id;
// weights = their unbiased scores (softmax over the k for top-k then softmax), divided by their
// sum (clamped below at 2^-14) when norm, then times scale. One invocation per token: k rounds
// of a scan for the best expert after the previous pick in the order "value descending, then id
// ascending".
#version 450
#include "common.glsl"

layout(local_size_x = 64) in;

layout(push_constant) uniform Push {
    uint logits, ids, weights, n_tokens, n_expert, k, norm, fn, has_bias, bias_off, n_group,
        n_group_used;
    float scale;
} p;

const uint FN_SOFTMAX = 0u, FN_SOFTMAX_TOPK = 1u, FN_SIGMOID = 2u; // graph::RouteFn's order
const uint MAX_GROUPS = 64u;                                       // cpu kMaxRouteGroups

// The token's logits and, for FN_SOFTMAX, their max and the inverse of their exp sum.
uint lb;
float l_max, inv_sum;
// Bit g of the allowed groups (all without groups).
uvec2 allowed;

float score(uint e) {
    const float l = ctx.f[lb + e];
    if (p.fn == FN_SOFTMAX) return exp(l - l_max) * inv_sum;
    if (p.fn == FN_SIGMOID) return 1.0 / (1.0 + exp(-l));
    return l;
}

float biased(uint e) { return p.has_bias != 0u ? score(e) + wf32(p.bias_off + 4u * e) : score(e); }

float selection(uint e) {
    if (p.n_group == 0u) return biased(e);
    const uint g = e / (p.n_expert / p.n_group);
    return ((allowed[g / 32u] >> (g % 32u)) & 1u) != 0u ? biased(e) : -1.0 / 0.0;
}

bool routes_before(float pa, int a, float pb, int b) { return pa > pb || (pa == pb && a < b); }

// The groups whose rank by the sum of their two best biased scores is below n_group_used.
void choose_groups() {
    const uint size = p.n_expert / p.n_group;
    float sums[MAX_GROUPS];
    for (uint g = 0u; g < p.n_group; ++g) {
        float top1 = -1.0 / 0.0, top2 = -1.0 / 0.0;
        for (uint e = g * size; e < (g + 1u) * size; ++e) {
            const float v = biased(e);
            if (v > top1) {
                top2 = top1;
                top1 = v;
            } else if (v > top2) {
                top2 = v;
            }
        }
        sums[g] = top1 + top2;
    }
    allowed = uvec2(0u);
    for (uint g = 0u; g < p.n_group; ++g) {
        uint rank = 0u;
        for (uint h = 0u; h < p.n_group; ++h)
            if (routes_before(sums[h], int(h), sums[g], int(g))) ++rank;
        if (rank < p.n_group_used) allowed[g / 32u] |= 1u << (g % 32u);
    }
}

void main() {
    for (uint t = gl_GlobalInvocationID.x; t < p.n_tokens; t += gl_NumWorkGroups.x * 64u) {
        lb = p.logits + t * p.n_expert;
        if (p.fn == FN_SOFTMAX) {
            l_max = -1.0 / 0.0;
            for (uint e = 0u; e < p.n_expert; ++e) l_max = max(l_max, ctx.f[lb + e]);
            float sum = 0.0;
            for (uint e = 0u; e < p.n_expert; ++e) sum += exp(ctx.f[lb + e] - l_max);
            inv_sum = 1.0 / sum;
        }
        if (p.n_group > 0u) choose_groups();
        const uint wb = p.weights + t * p.k;
        float last_v = 0.0;
        int last = -1;
        for (uint j = 0u; j < p.k; ++j) {
            float best_v = 0.0;
            int best = -1;
            for (uint e = 0u; e < p.n_expert; ++e) {
                const float v = selection(e);
                const bool after_last = last < 0 || routes_before(last_v, last, v, int(e));
                if (after_last && (best < 0 || routes_before(v, int(e), best_v, best))) {
                    best_v = v;
                    best = int(e);
                }
            }
            // No candidate only with NaN values: repeat a valid id.
            if (best < 0) {
                best = last < 0 ? 0 : last;
                best_v = last_v;
            }
            ctx_i.i[p.ids + t * p.k + j] = best;
            ctx.f[wb + j] = score(uint(best));
            last = best;
            last_v = best_v;
        }
        if (p.fn == FN_SOFTMAX_TOPK) {
            float w_max = -1.0 / 0.0;
            for (uint j = 0u; j < p.k; ++j) w_max = max(w_max, ctx.f[wb + j]);
            float sum = 0.0;
            for (uint j = 0u; j < p.k; ++j) sum += exp(ctx.f[wb + j] - w_max);
            const float inv = 1.0 / sum;
            for (uint j = 0u; j < p.k; ++j) ctx.f[wb + j] = exp(ctx.f[wb + j] - w_max) * inv;
        }
        if (p.norm != 0u) {
            float total = 0.0;
            for (uint j = 0u; j < p.k; ++j) total += ctx.f[wb + j];
            const float d = max(total, 6.103515625e-5);
            for (uint j = 0u; j < p.k; ++j) ctx.f[wb + j] /= d;
        }
        if (p.scale != 1.0)
            for (uint j = 0u; j < p.k; ++j) ctx.f[wb + j] *= p.scale;
    }
}
