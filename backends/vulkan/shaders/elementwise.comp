// The elementwise ops, one pipeline (op chooses): over n floats of the context,
//   0 add:          y = a + b
//   1 scale:        y = a * s
//   2 glu:          y = act(a) * b (act 0 silu, 1 gelu_tanh), or act 2 the clamped SwiGLU of a, b
//   3 sigmoid gate: y[r][i] = a[r][i] * (1 / (1 + e^-b[r * b_stride])), rows of `width`
//   4 bias:         y[r][i] += w[i], the F32 bias at byte w_off of the weight chunk
//   5 copy:         y = a
// The invocations stride over the elements, so any n fits a capped dispatch.
#version 450
#include "common.glsl"

layout(local_size_x = 256) in;

layout(push_constant) uniform Push {
    uint op, y, a, b, n, width, act, w_off, b_stride;
    float s;
} p;

void main() {
    for (uint i = gl_GlobalInvocationID.x; i < p.n; i += gl_NumWorkGroups.x * 256u) {
        float v;
        switch (p.op) {
        case 0u: v = ctx.f[p.a + i] + ctx.f[p.b + i]; break;
        case 1u: v = ctx.f[p.a + i] * p.s; break;
        case 2u: v = glu_value(ctx.f[p.a + i], ctx.f[p.b + i], p.act); break;
        case 3u: v = ctx.f[p.a + i] * (1.0 / (1.0 + exp(-ctx.f[p.b + (i / p.width) * p.b_stride]))); break;
        case 4u: v = ctx.f[p.y + i] + wf32(p.w_off + 4u * (i % p.width)); break;
        default: v = ctx.f[p.a + i]; break;
        }
        ctx.f[p.y + i] = v;
    }
}
