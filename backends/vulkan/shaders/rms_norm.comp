// RmsNorm over rows of `group` floats: y = (x * (1 / sqrt(mean(x^2) + eps))) * w (w optional,
// F32 in the weight chunk). One workgroup per row; the sum of squares reduced in shared memory.
#version 450
#include "common.glsl"

layout(local_size_x = 64) in;

layout(push_constant) uniform Push {
    uint x, y, w_off, has_w, rows, group;
    float eps;
} p;

shared float partial[64];

void main() {
    const uint tid = gl_LocalInvocationID.x;
    for (uint r = gl_WorkGroupID.x; r < p.rows; r += gl_NumWorkGroups.x) {
        const uint base = r * p.group;
        float ss = 0.0;
        for (uint i = tid; i < p.group; i += 64u) {
            const float v = ctx.f[p.x + base + i];
            ss += v * v;
        }
        partial[tid] = ss;
        barrier();
        for (uint s = 32u; s > 0u; s >>= 1) {
            if (tid < s) partial[tid] += partial[tid + s];
            barrier();
        }
        const float scale = 1.0 / sqrt(partial[0] / float(p.group) + p.eps);
        barrier(); // partial[0] read by all before the next row writes it
        for (uint i = tid; i < p.group; i += 64u) {
            const float v = ctx.f[p.x + base + i] * scale;
            ctx.f[p.y + base + i] = p.has_w != 0u ? v * wf32(p.w_off + 4u * i) : v;
        }
    }
}
