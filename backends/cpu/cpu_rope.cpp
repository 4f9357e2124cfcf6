// Rotary position embedding, in place on x [t][n_head][head_dim] with positions pos [t].
// For pair i (0 <= i < n_rot/2) of each head:
//   theta_i = pos * freq_scale * freq_base^(-2i/n_rot) / freq_factors[i]
//   (x0, x1) <- (x0 cos - x1 sin, x0 sin + x1 cos)
// where the pair is (2i, 2i+1) in normal mode (llama) and (i, i + n_rot/2) in neox mode (qwen,
// gemma). Dims n_rot..head_dim-1 pass through.
//
// The angles are computed as ggml's CPU rope does (ggml_rope_cache_init + rope_yarn): theta
// starts at float(pos) and is multiplied by theta_scale = powf(freq_base, -2/n_rot) once per
// pair, then divided by the factor and scaled by freq_scale, and cosf/sinf are taken in float.
// The iterated product drifts from the closed form by a few ulps per pair; matching it keeps us
// close to llama.cpp rather than to the math. YaRN (ext_factor != 0) blends the scaled and
// unscaled angle by rope_yarn's ramp and scales cos and sin, in rope_yarn's float operations.
#include "cpu/cpu_ops.h"

#include <algorithm>
#include <cmath>

namespace infer::cpu {
namespace {

// cos and sin of pair i0/2's angle, theta_extrap = theta / ff (ggml's rope_yarn).
void rope_yarn(float theta_extrap, int i0, const RopeParams &p, float *c, float *s) {
    const float theta_interp = p.freq_scale * theta_extrap;
    float theta = theta_interp;
    float mscale = p.attn_factor;
    if (p.ext_factor != 0.0f) {
        const float y =
            float(i0 / 2 - p.corr_dims[0]) / std::max(0.001f, p.corr_dims[1] - p.corr_dims[0]);
        const float ramp_mix = (1 - std::min(1.0f, std::max(0.0f, y))) * p.ext_factor;
        theta = theta_interp * (1 - ramp_mix) + theta_extrap * ramp_mix;
        mscale *= 1.0f + 0.1f * std::log(1.0f / p.freq_scale);
    }
    *c = std::cos(theta) * mscale;
    *s = std::sin(theta) * mscale;
}

// cache[2i], cache[2i+1] = cos, sin of theta_i for one position.  cache: (n_rot,)
void rope_angles(float *cache, int32_t pos, const RopeParams &p) {
    const float theta_scale = std::pow(p.freq_base, -2.0f / float(p.n_rot));
    float theta = float(pos);
    for (int i0 = 0; i0 < p.n_rot; i0 += 2) {
        const float ff = p.freq_factors ? p.freq_factors[i0 / 2] : 1.0f;
        rope_yarn(theta / ff, i0, p, &cache[i0 + 0], &cache[i0 + 1]);
        theta *= theta_scale;
    }
}

// Rotates one head.  xh: (head_dim,)  cache: (n_rot,)
void rope_head(float *xh, const float *cache, const RopeParams &p) {
    // normal: pair i is (2i, 2i+1); neox: pair i is (i, i + n_rot/2)
    const int stride = p.mode == RopeMode::neox ? 1 : 2;
    const int offset = p.mode == RopeMode::neox ? p.n_rot / 2 : 1;
    for (int i = 0; i < p.n_rot / 2; i++) {
        const float c = cache[2 * i + 0];
        const float s = cache[2 * i + 1];
        float *a = xh + i * stride;
        const float x0 = a[0];
        const float x1 = a[offset];
        a[0] = x0 * c - x1 * s;
        a[offset] = x0 * s + x1 * c;
    }
}

} // namespace

size_t rope_scratch_bytes(const RopeParams &p) { return sizeof(float) * size_t(p.n_rot); }

void rope_ref(float *x, const int32_t *pos, int t, const RopeParams &p) {
    const float theta_scale = std::pow(p.freq_base, -2.0f / float(p.n_rot));
    for (int i = 0; i < t; i++) {
        for (int h = 0; h < p.n_head; h++) {
            float *xh = x + (int64_t(i) * p.n_head + h) * p.head_dim; // (head_dim,)
            float theta = float(pos[i]); // theta_k = pos * theta_scale^k, iterated as ggml does
            for (int k = 0; k < p.n_rot / 2; k++) {
                const float ff = p.freq_factors ? p.freq_factors[k] : 1.0f;
                float c, s;
                rope_yarn(theta / ff, 2 * k, p, &c, &s);
                theta *= theta_scale;
                // the pair this angle turns
                const int j0 = p.mode == RopeMode::neox ? k : 2 * k;
                const int j1 = p.mode == RopeMode::neox ? k + p.n_rot / 2 : 2 * k + 1;
                const float x0 = xh[j0];
                const float x1 = xh[j1];
                xh[j0] = x0 * c - x1 * s;
                xh[j1] = x0 * s + x1 * c;
            }
        }
    }
}

void rope(float *x, const int32_t *pos, int t, const RopeParams &p, void *scratch, int ith,
          int nth) {
    float *cache = static_cast<float *>(scratch); // (n_rot,): cos/sin for the current token
    const Range rows = split_range(int64_t(t) * p.n_head, ith, nth);
    int64_t cached_token = -1;
    for (int64_t r = rows.begin; r < rows.end; r++) {
        const int64_t token = r / p.n_head;
        // A thread's rows are contiguous, so it computes each token's angles once.
        if (token != cached_token) {
            rope_angles(cache, pos[token], p);
            cached_token = token;
        }
        rope_head(x + r * p.head_dim, cache, p);
    }
}

} // namespace infer::cpu
