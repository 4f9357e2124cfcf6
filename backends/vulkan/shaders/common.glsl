// What every graph-op shader of the Vulkan backend shares (vk_ops.h describes the convention):
// binding 0 is the context memory (KV cache and activations) seen as floats, ints, uints and
// halves; binding 1 the weight chunk of the node's weight (bytes, read as words); binding 2 the
// backend's own small buffer (expert counters). Offsets in push constants are in elements of the
// view they index: floats/ints/uints of the context, halves for an f16 KV cache, bytes for
// weights.
#extension GL_EXT_shader_16bit_storage : require

layout(std430, set = 0, binding = 0) buffer CtxF { float f[]; } ctx;
layout(std430, set = 0, binding = 0) buffer CtxI { int i[]; } ctx_i;
layout(std430, set = 0, binding = 0) buffer CtxH { uint16_t h[]; } ctx_h;
layout(std430, set = 0, binding = 1) readonly buffer Weights { uint w[]; } weights;
layout(std430, set = 0, binding = 2) buffer Aux { uint u[]; } aux;

// Byte `off` of the weight chunk, and little-endian 16/32-bit fields at any byte offset (block
// fields are not word aligned: a Q8_0 block is 34 bytes).
uint wbyte(uint off) { return (weights.w[off >> 2] >> ((off & 3u) << 3)) & 0xffu; }
uint wu16(uint off) {
    if ((off & 3u) == 3u) return wbyte(off) | (wbyte(off + 1u) << 8);
    return (weights.w[off >> 2] >> ((off & 3u) << 3)) & 0xffffu;
}
uint wu32(uint off) {
    if ((off & 3u) == 0u) return weights.w[off >> 2];
    return wu16(off) | (wu16(off + 2u) << 16);
}
float whalf(uint off) { return unpackHalf2x16(wu16(off)).x; }
float wf32(uint off) { return uintBitsToFloat(wu32(off)); }

float kv_load(uint f16, uint at) {
    return f16 != 0u ? unpackHalf2x16(uint(ctx_h.h[at])).x : ctx.f[at];
}

float silu(float x) { return x / (1.0 + exp(-x)); }
float gelu_tanh(float x) {
    const float sqrt_2_over_pi = 0.79788456080286535587989211986876;
    const float coef_a = 0.044715;
    return 0.5 * x * (1.0 + tanh(sqrt_2_over_pi * x * (1.0 + coef_a * x * x)));
}
// gpt-oss's clamped SwiGLU (cpu swiglu_oai_ref: alpha 1.702, limit 7).
float swiglu_oai(float gate, float up) {
    const float x = min(gate, 7.0);
    return x / (1.0 + exp(1.702 * -x)) * (clamp(up, -7.0, 7.0) + 1.0);
}
// act: 0 silu, 1 gelu_tanh, 2 the clamped SwiGLU (act_code in vk_record.cpp).
float glu_value(float gate, float up, uint act) {
    if (act == 2u) return swiglu_oai(gate, up);
    return (act == 0u ? silu(gate) : gelu_tanh(gate)) * up;
}
