// The graph's nodes as compute dispatches (shaders/*.comp): each node becomes one dispatch or a
// few, with the offsets of its tensors (element indices into the context binding) and the byte
// offset of its weight in its chunk as push constants. A full barrier follows every dispatch.
#include "vulkan/vk_runner.h"

#include "core/types.h"

#include <algorithm>
#include <cmath>

namespace infer::vulkan {
namespace {

using graph::Node;
using graph::Op;

// The push-constant blocks of the shaders, field for field (std430 scalars, 4 bytes each).
struct EmbedPush {
    uint32_t w_off, row_bytes, block_bytes, n, n_rows, tokens, out, n_tokens;
    float scale;
    uint32_t row0, part_rows;
};
struct RmsNormPush {
    uint32_t x, y, w_off, has_w, rows, group;
    float eps;
};
struct MatMulPush { // matmul_push.glsl
    uint32_t w_off, row_bytes, block_bytes, k, n, x, y, n_tokens, row0, part_rows;
    uint32_t x_stride, y_stride, w_head, x_head, y_head;
};
struct QuantizeQ8Push {
    uint32_t x, k, n_tokens, qs, d, sums;
};
struct MatDotPush {
    uint32_t w_off, row_bytes, block_bytes, k, n, y, n_tokens, row0, part_rows, qs, d, sums;
};
struct ElementwisePush {
    uint32_t op, y, a, b, n, width, act, w_off, b_stride;
    float s;
};
struct RopePush {
    uint32_t x, pos, n_tokens, n_head, head_dim, n_rot, neox, ff_off, has_ff;
    float theta_scale, freq_scale, ext_factor, attn_factor, corr_lo, corr_hi;
};
struct KvStorePush {
    uint32_t k, v, pos, kc, vc, n_tokens, n_head_kv, head_dim, head_dim_v, n_ctx, f16, has_v;
};
struct AttentionPush {
    uint32_t o, q, kc, vc, pos, n_tokens, n_head, n_head_kv, head_dim, n_ctx, f16, window;
    float scale, softcap;
    uint32_t splits, chunk, part, has_sinks, sinks, head_dim_v, v_row;
};
struct AttentionCombinePush {
    uint32_t o, part, rows, splits, head_dim_v, n_head, has_sinks, sinks;
};
struct HeadCopyPush {
    uint32_t dst, src, n_blocks, width, groups, src_row, src_group, dst_block;
};
struct MoeRoutePush {
    uint32_t logits, ids, weights, n_tokens, n_expert, k, norm, fn, has_bias, bias_off, n_group,
        n_group_used;
    float scale;
};
struct MoeSelectPush {
    uint32_t ids, sel, count, list, n_pairs, n_expert, has_table, table_off, counting, count_base;
};
struct MoeMatvecPush {
    uint32_t w_off, row_bytes, block_bytes, expert_stride, k, n, x, y, n_pairs, per_token, count,
        list, mode, act, sel, slot0, n_slots;
};
struct MoeCombinePush {
    uint32_t out, y, weights, sel, n_tokens, k, n;
};
struct MoeBiasPush {
    uint32_t y, sel, n_pairs, n, w_off, slot0, n_slots;
};

uint32_t u32(int64_t v) { return static_cast<uint32_t>(v); }

// matmul_push.glsl's constants for rows [row0, row0 + part_rows) of matrix m, its part at byte
// w_off, over `rows` tokens of x and y rows of m's k and n floats: one head (HeadMatMul sets its
// strides and head steps after).
MatMulPush matmul_push(const graph::WeightRef &m, uint64_t w_off, uint32_t x, uint32_t y,
                       uint64_t rows, uint64_t row0, uint64_t part_rows) {
    const uint32_t k = u32(m.ne[0]), n = u32(m.ne[1]);
    return {u32(w_off),
            u32(m.row_bytes),
            type_traits(m.type)->block_bytes,
            k,
            n,
            x,
            y,
            u32(rows),
            u32(row0),
            u32(part_rows),
            k,
            n,
            0,
            0,
            0};
}

// With the GPU kernels, MatMul of at most this many tokens is a matrix-vector product (each
// weight byte read once per 4 tokens); more tokens go to the tiled kernel.
constexpr int64_t kMatVecMaxTokens = 8;

// Flash-decoding with the GPU kernels: a graph of at most kMatVecMaxTokens tokens splits the
// cache's n_ctx positions into chunks of at least kKeysPerSplit keys, at most kMaxSplits of
// them. The count is fixed per graph (the decode step's command buffer is replayed as positions
// advance), so chunks past the current position are empty and cost one write each.
constexpr int64_t kKeysPerSplit = 256;
constexpr int64_t kMaxSplits = 32;
// The int8 dot matvec (matmul_dot.comp) for MatMul `n` of a graph of at most
// kMatVecMaxTokens tokens, where the device runs it; its scratch holds the quantized activations:
// per token and 32-element block 8 words of codes, a scale and a sum.
bool uses_int8_dot(const DeviceInfo &info, const Node &n, int64_t graph_tokens) {
    return info.int8_dot_matvec && graph_tokens <= kMatVecMaxTokens && matmul_dot_reads(n.w->type);
}
uint64_t int8_dot_scratch_bytes(const Node &n, int64_t tokens) {
    return 4 * 10 * static_cast<uint64_t>(tokens) * static_cast<uint64_t>(n.w->ne[0] / 32);
}

int64_t attention_splits(bool gpu_kernels, int64_t n_tokens, int64_t n_ctx) {
    if (!gpu_kernels || n_tokens > kMatVecMaxTokens) return 1;
    return std::clamp<int64_t>((n_ctx + kKeysPerSplit - 1) / kKeysPerSplit, 1, kMaxSplits);
}

// common.glsl's glu_value codes.
uint32_t act_code(graph::Activation act) {
    switch (act) {
    case graph::Activation::Silu:
        return 0;
    case graph::Activation::GeluTanh:
        return 1;
    case graph::Activation::SwigluOai:
        return 2;
    }
    return 0;
}

uint64_t ceil_div(uint64_t a, uint64_t b) { return (a + b - 1) / b; }

// MoeFfn's scratch, in 4-byte words: the pairs' slots [pairs], the pair count of each slot
// [n_expert], the pairs of each slot [n_expert][pairs] (moe_select.comp), each padded to 64
// words; then the gate/up outputs [pairs][n_ff], the down outputs [pairs][n_embd] and, with
// expert biases, the up outputs [pairs][n_ff] (their bias joins before the activation).
struct MoeScratch {
    uint64_t pairs, sel_words, count_words, list_words, hidden_words, out_words, up_words;
    uint64_t bytes() const {
        return 4 * (sel_words + count_words + list_words + hidden_words + out_words + up_words);
    }
};
MoeScratch moe_scratch(const Node &n, int64_t tokens) {
    MoeScratch s{};
    s.pairs = static_cast<uint64_t>(tokens) * static_cast<uint64_t>(n.n_expert_used);
    s.sel_words = ceil_div(s.pairs, 64) * 64;
    s.count_words = ceil_div(static_cast<uint64_t>(n.n_expert), 64) * 64;
    s.list_words = ceil_div(static_cast<uint64_t>(n.n_expert) * s.pairs, 64) * 64;
    s.hidden_words = s.pairs * static_cast<uint64_t>(n.w->ne[1]);
    s.out_words = s.pairs * static_cast<uint64_t>(n.w3->ne[1]);
    s.up_words = n.expert_bias[0] ? s.hidden_words : 0;
    return s;
}

} // namespace

void VulkanBackend::size_scratch(graph::Graph &g, const KvCacheLayout &kv) const {
    graph::clear_scratch_sizes(g);
    for (const Node &n : g.nodes) {
        if (n.scratch == graph::kNoTensor) continue;
        uint64_t bytes = 0;
        if (n.op == Op::MoeFfn) bytes = moe_scratch(n, g.max_tokens).bytes();
        if (n.op == Op::MatMul && uses_int8_dot(device_.info(), n, g.max_tokens))
            bytes = int8_dot_scratch_bytes(n, g.max_tokens);
        if (n.op == Op::Attention) { // flash-decoding's partial results (attention.comp)
            const int64_t splits =
                attention_splits(device_.info().gpu_kernels, g.max_tokens, kv.n_ctx);
            if (splits > 1)
                bytes = 4 * static_cast<uint64_t>(g.max_tokens * n.n_head * splits *
                                                  (kv.layer(n.layer).value_dim() + 2));
        }
        graph::grow_scratch(g, n, bytes);
    }
}

VkDescriptorSet VulkanBackend::set_for(const Allocation &ctx, const WeightLocation *w) const {
    return w ? ctx.sets[w->chunk] : ctx.sets.back();
}

Status VulkanBackend::prepare_pipelines(const Node &n) {
    switch (n.op) {
    case Op::Embed:
        return ops_.prepare_typed(OpShader::Embed, n.w->type);
    case Op::MatMul:
        if (device_.info().gpu_kernels && device_.info().int8_dot_matvec &&
            matmul_dot_reads(n.w->type))
            INFER_TRY(ops_.prepare_typed(OpShader::MatDot, n.w->type));
        [[fallthrough]];
    case Op::HeadMatMul: // the float-activation kernels only (matmul_push.glsl)
        if (!device_.info().gpu_kernels) return ops_.prepare_typed(OpShader::MatMul, n.w->type);
        INFER_TRY(ops_.prepare_typed(OpShader::MatVec, n.w->type));
        return ops_.prepare_typed(OpShader::MatTile, n.w->type);
    case Op::MoeFfn:
        for (const graph::WeightRef *w : {n.w, n.w2, n.w3}) {
            INFER_TRY(ops_.prepare_typed(OpShader::MoeMatvec, w->type));
            if (device_.info().gpu_kernels)
                INFER_TRY(ops_.prepare_typed(OpShader::MoeMatvecVec, w->type));
        }
        return Status::ok();
    default:
        return Status::ok();
    }
}

void VulkanBackend::dispatch(VkCommandBuffer cmd, OpShader shader, VkDescriptorSet set,
                             const void *push, uint32_t push_bytes, uint64_t groups, uint32_t type,
                             uint32_t heads) const {
    const uint64_t most = device_.info().max_workgroup_count_x;
    vkCmdBindPipeline(cmd, VK_PIPELINE_BIND_POINT_COMPUTE, ops_.pipeline(shader, type));
    vkCmdBindDescriptorSets(cmd, VK_PIPELINE_BIND_POINT_COMPUTE, ops_.layout(), 0, 1, &set, 0,
                            nullptr);
    vkCmdPushConstants(cmd, ops_.layout(), VK_SHADER_STAGE_COMPUTE_BIT, 0, push_bytes, push);
    // The shaders stride over their work, so fewer groups than items is always correct.
    vkCmdDispatch(cmd, static_cast<uint32_t>(std::clamp<uint64_t>(groups, 1, most)), heads, 1);
    VkMemoryBarrier b{};
    b.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER;
    b.srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT;
    b.dstAccessMask = VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT |
                      VK_ACCESS_TRANSFER_READ_BIT | VK_ACCESS_HOST_READ_BIT;
    vkCmdPipelineBarrier(cmd, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT,
                         VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT |
                             VK_PIPELINE_STAGE_HOST_BIT,
                         0, 1, &b, 0, nullptr, 0, nullptr);
}

// Zeros [offset, offset + bytes) of the context before the next dispatch reads it.
static void fill_zero(VkCommandBuffer cmd, VkBuffer buffer, uint64_t offset, uint64_t bytes) {
    vkCmdFillBuffer(cmd, buffer, offset, bytes, 0);
    VkMemoryBarrier b{};
    b.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER;
    b.srcAccessMask = VK_ACCESS_TRANSFER_WRITE_BIT;
    b.dstAccessMask = VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT;
    vkCmdPipelineBarrier(cmd, VK_PIPELINE_STAGE_TRANSFER_BIT, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT,
                         0, 1, &b, 0, nullptr, 0, nullptr);
}

Status VulkanBackend::record_nodes(VkCommandBuffer cmd, const BoundGraph &bound, NodeRange nodes,
                                   int64_t n_tokens, KvCache &kv, const StopSignal &stop) {
    for (int32_t i = nodes.begin; i < nodes.end; ++i) {
        if (stop.should_stop()) return make_error(INFER_ERR_CANCELLED, "decode cancelled");
        INFER_TRY(
            record_node(cmd, bound, bound.graph->nodes[static_cast<size_t>(i)], n_tokens, kv));
    }
    return Status::ok();
}

Status VulkanBackend::record_node(VkCommandBuffer cmd, const BoundGraph &b, const Node &n,
                                  int64_t n_tokens, KvCache &kv) {
    const graph::Graph &g = *b.graph;
    INFER_TRY(prepare_pipelines(n)); // made at prepare(); a run without one makes them here
    // KvStore has no output tensor; every node has a first input.
    const graph::TensorId any = n.out != graph::kNoTensor ? n.out : n.in[0];
    const Place out = find(b.tensor_data[any], 0, MemoryKind::Context);
    if (!out.alloc)
        return make_error(INFER_ERR_INTERNAL, "%s (layer %d): output not in Vulkan context memory",
                          graph::op_name(n.op), n.layer);
    const Allocation &ctx = *out.alloc;
    // Element index of a context address (floats/ints; halves for an F16 KV cache).
    auto at = [&](const void *p, uint64_t elem_bytes = 4) {
        return u32((static_cast<const uint8_t *>(p) - ctx.base) / static_cast<int64_t>(elem_bytes));
    };
    auto t = [&](graph::TensorId id) { return at(b.tensor_data[id]); };
    auto rows_of = [&](graph::TensorId id) { return g.tensors[id].per_token ? n_tokens : 1; };
    auto weight_parts = [&](const void *host, const std::vector<WeightLocation> **out) {
        *out = weights_.parts(host);
        return *out ? Status::ok()
                    : make_error(INFER_ERR_INTERNAL, "%s (layer %d): a weight is not on the device",
                                 graph::op_name(n.op), n.layer);
    };
    auto weight = [&](const void *host, WeightLocation *loc) { // one read whole (a vector)
        const std::vector<WeightLocation> *parts = nullptr;
        INFER_TRY(weight_parts(host, &parts));
        *loc = parts->front();
        return Status::ok();
    };
    auto elementwise = [&](ElementwiseOp op, uint32_t a, uint32_t bb, int64_t count, uint32_t width,
                           float s, VkDescriptorSet set, uint32_t w_off, uint32_t b_stride) {
        const ElementwisePush p{
            static_cast<uint32_t>(op), t(n.out), a,        bb, u32(count), width,
            act_code(n.act),           w_off,    b_stride, s};
        dispatch(cmd, OpShader::Elementwise, set, &p, sizeof p, ceil_div(u32(count), 256));
    };
    // A float-activation matmul (matmul_push.glsl) of `rows` tokens over p.part_rows rows of
    // `heads` heads, with weight part w: the CPU-driver kernel, or the GPU kernels' matvec
    // (a workgroup per row) or 64 x 64 tiles.
    auto float_matmul = [&](const MatMulPush &p, const WeightLocation &w, uint64_t rows,
                            uint32_t heads) {
        if (!device_.info().gpu_kernels)
            dispatch(cmd, OpShader::MatMul, set_for(ctx, &w), &p, sizeof p,
                     ceil_div(p.part_rows, 64), n.w->type, heads);
        else if (rows <= kMatVecMaxTokens)
            dispatch(cmd, OpShader::MatVec, set_for(ctx, &w), &p, sizeof p, p.part_rows, n.w->type,
                     heads);
        else
            dispatch(cmd, OpShader::MatTile, set_for(ctx, &w), &p, sizeof p,
                     ceil_div(p.part_rows, 64) * ceil_div(rows, 64), n.w->type, heads);
    };
    auto head_copy = [&](const HeadCopyPush &p) {
        dispatch(cmd, OpShader::HeadCopy, set_for(ctx, nullptr), &p, sizeof p,
                 ceil_div(static_cast<uint64_t>(p.n_blocks) * p.width, 256));
    };
    const int64_t n_out = n.out == graph::kNoTensor ? 0 : rows_of(n.out) * g.tensors[n.out].n;
    const uint64_t elem = kv.layout.elem_bytes();

    switch (n.op) {
    case Op::Embed: {
        const std::vector<WeightLocation> *parts = nullptr;
        INFER_TRY(weight_parts(n.w->data, &parts));
        for (const WeightLocation &w : *parts) { // a table split over chunks: a part each
            const EmbedPush p{u32(w.offset),
                              u32(n.w->row_bytes),
                              type_traits(n.w->type)->block_bytes,
                              u32(n.w->ne[0]),
                              u32(n.w->ne[1]),
                              t(n.in[0]),
                              t(n.out),
                              u32(n_tokens),
                              n.scale,
                              u32(w.first),
                              u32(w.units ? w.units : n.w->ne[1])};
            dispatch(cmd, OpShader::Embed, set_for(ctx, &w), &p, sizeof p, n_tokens, n.w->type);
        }
        return Status::ok();
    }
    case Op::RmsNorm: {
        WeightLocation w{};
        if (n.w) INFER_TRY(weight(n.w->data, &w));
        const RmsNormPush p{t(n.in[0]),           t(n.out),     u32(w.offset), n.w ? 1u : 0u,
                            u32(n_out / n.group), u32(n.group), n.eps};
        dispatch(cmd, OpShader::RmsNorm, set_for(ctx, n.w ? &w : nullptr), &p, sizeof p,
                 n_out / n.group);
        return Status::ok();
    }
    case Op::MatMul: {
        const std::vector<WeightLocation> *parts = nullptr;
        INFER_TRY(weight_parts(n.w->data, &parts));
        const int64_t rows = rows_of(n.in[0]);
        if (uses_int8_dot(device_.info(), n, g.max_tokens)) {
            const uint64_t blocks =
                static_cast<uint64_t>(rows) * static_cast<uint64_t>(n.w->ne[0] / 32);
            const uint32_t qs = t(n.scratch), d = qs + u32(8 * blocks), sums = d + u32(blocks);
            const QuantizeQ8Push q{t(n.in[0]), u32(n.w->ne[0]), u32(rows), qs, d, sums};
            dispatch(cmd, OpShader::QuantizeQ8, set_for(ctx, nullptr), &q, sizeof q,
                     ceil_div(blocks, 64));
            for (const WeightLocation &w : *parts) {
                const uint64_t out_rows = w.units ? w.units : static_cast<uint64_t>(n.w->ne[1]);
                const MatDotPush p{u32(w.offset),
                                   u32(n.w->row_bytes),
                                   type_traits(n.w->type)->block_bytes,
                                   u32(n.w->ne[0]),
                                   u32(n.w->ne[1]),
                                   t(n.out),
                                   u32(rows),
                                   u32(w.first),
                                   u32(out_rows),
                                   qs,
                                   d,
                                   sums};
                dispatch(cmd, OpShader::MatDot, set_for(ctx, &w), &p, sizeof p, out_rows,
                         n.w->type);
            }
        } else {
            for (const WeightLocation &w : *parts) { // a matrix split over chunks: a part each
                const uint64_t out_rows = w.units ? w.units : static_cast<uint64_t>(n.w->ne[1]);
                float_matmul(
                    matmul_push(*n.w, w.offset, t(n.in[0]), t(n.out), rows, w.first, out_rows), w,
                    static_cast<uint64_t>(rows), 1);
            }
        }
        if (n.w2) {
            WeightLocation bias{};
            INFER_TRY(weight(n.w2->data, &bias));
            elementwise(ElementwiseOp::Bias, 0, 0, rows * n.w->ne[1], u32(n.w->ne[1]), 0,
                        set_for(ctx, &bias), u32(bias.offset), 0);
        }
        return Status::ok();
    }
    case Op::Add:
        elementwise(ElementwiseOp::Add, t(n.in[0]), t(n.in[1]), n_out, 1, 0, set_for(ctx, nullptr),
                    0, 0);
        return Status::ok();
    case Op::Scale:
        elementwise(ElementwiseOp::Scale, t(n.in[0]), 0, n_out, 1, n.scale, set_for(ctx, nullptr),
                    0, 0);
        return Status::ok();
    case Op::Glu:
        elementwise(ElementwiseOp::Glu, t(n.in[0]), t(n.in[1]), n_out, 1, 0, set_for(ctx, nullptr),
                    0, 0);
        return Status::ok();
    case Op::SigmoidGate:
        elementwise(ElementwiseOp::SigmoidGate, t(n.in[0]), t(n.in[1]), n_out,
                    u32(g.tensors[n.out].n), 0, set_for(ctx, nullptr), 0,
                    u32(g.tensors[n.in[1]].n));
        return Status::ok();
    case Op::HeadMatMul: {
        const std::vector<WeightLocation> *parts = nullptr;
        INFER_TRY(weight_parts(n.w->data, &parts));
        const uint64_t rows = static_cast<uint64_t>(rows_of(n.in[0]));
        const uint64_t head_rows = static_cast<uint64_t>(n.w->ne[1]);
        const uint64_t heads = static_cast<uint64_t>(n.n_head), row_bytes = n.w->row_bytes;
        // A part holds rows [first, end) of the stack's heads * head_rows: the heads whole in
        // it go in one dispatch, a row of workgroups each; a head the part cuts goes alone.
        for (const WeightLocation &w : *parts) {
            const uint64_t end = w.units ? w.first + w.units : heads * head_rows;
            for (uint64_t r = w.first; r < end;) {
                const uint64_t h = r / head_rows, r0 = r % head_rows;
                const uint64_t whole = r0 == 0 ? (end - r) / head_rows : 0;
                const uint64_t part_rows =
                    whole ? head_rows : std::min(end, (h + 1) * head_rows) - r;
                const uint64_t count = whole ? whole : 1;
                MatMulPush p = matmul_push(*n.w, w.offset + (r - w.first) * row_bytes,
                                           t(n.in[0]) + u32(h * static_cast<uint64_t>(n.stride)),
                                           t(n.out) + u32(h * head_rows), rows, r0, part_rows);
                p.x_stride = u32(g.tensors[n.in[0]].n);
                p.y_stride = u32(heads * head_rows);
                p.w_head = u32(head_rows * row_bytes);
                p.x_head = u32(n.stride);
                p.y_head = u32(head_rows);
                float_matmul(p, w, rows, u32(count));
                r += count * part_rows;
            }
        }
        return Status::ok();
    }
    case Op::Slice: // a block per (token, group): out[t][g] = in[t][g * stride + offset ..]
        head_copy({t(n.out), t(n.in[0]) + u32(n.offset), u32(rows_of(n.in[0]) * n.n_head),
                   u32(n.head_dim), u32(n.n_head), u32(g.tensors[n.in[0]].n), u32(n.stride),
                   u32(n.head_dim)});
        return Status::ok();
    case Op::Concat: { // each input's groups into their place of the joined groups
        const int64_t groups = rows_of(n.in[0]) * n.n_head;
        const int64_t wa = g.tensors[n.in[0]].n / n.n_head, wb = g.tensors[n.in[1]].n / n.n_head;
        head_copy({t(n.out), t(n.in[0]), u32(groups), u32(wa), 1, u32(wa), 0, u32(wa + wb)});
        head_copy(
            {t(n.out) + u32(wa), t(n.in[1]), u32(groups), u32(wb), 1, u32(wb), 0, u32(wa + wb)});
        return Status::ok();
    }
    case Op::SelectLast: {
        const int64_t width = g.tensors[n.out].n;
        elementwise(ElementwiseOp::Copy, t(n.in[0]) + u32((n_tokens - 1) * width), 0, width, 1, 0,
                    set_for(ctx, nullptr), 0, 0);
        return Status::ok();
    }
    case Op::Rope: {
        WeightLocation ff{};
        if (n.freq_factors) INFER_TRY(weight(n.freq_factors, &ff));
        const RopePush p{t(n.out),
                         t(n.in[1]),
                         u32(n_tokens),
                         u32(n.n_head),
                         u32(n.head_dim),
                         u32(n.n_rot),
                         n.rope_mode == graph::RopeMode::Neox ? 1u : 0u,
                         u32(ff.offset),
                         n.freq_factors ? 1u : 0u,
                         std::pow(n.freq_base, -2.0f / static_cast<float>(n.n_rot)),
                         n.freq_scale,
                         n.yarn.ext_factor,
                         n.yarn.attn_factor,
                         n.yarn.corr_dims[0],
                         n.yarn.corr_dims[1]};
        dispatch(cmd, OpShader::Rope, set_for(ctx, n.freq_factors ? &ff : nullptr), &p, sizeof p,
                 ceil_div(u32(n_tokens * n.n_head * (n.n_rot / 2)), 256));
        return Status::ok();
    }
    case Op::KvStore: { // with the values in the keys (v_in_k) there is no V to store
        const KvLayerLayout &l = kv.layout.layer(n.layer);
        const bool has_v = !l.v_in_k && n.in[1] != graph::kNoTensor;
        const int64_t width = has_v ? std::max(l.head_dim, l.value_dim()) : l.head_dim;
        const KvStorePush p{t(n.in[0]),
                            has_v ? t(n.in[1]) : 0u,
                            t(n.in[2]),
                            at(kv.k(n.layer), elem),
                            has_v ? at(kv.v(n.layer), elem) : 0u,
                            u32(n_tokens),
                            u32(l.n_head_kv),
                            u32(l.head_dim),
                            u32(l.value_dim()),
                            u32(kv.layout.n_ctx),
                            kv.layout.type != 0 ? 1u : 0u,
                            has_v ? 1u : 0u};
        dispatch(cmd, OpShader::KvStore, set_for(ctx, nullptr), &p, sizeof p,
                 ceil_div(u32(n_tokens * l.n_head_kv * width), 256));
        return Status::ok();
    }
    case Op::Attention: {
        // By the graph's token count, as size_scratch sized the partial results.
        const int64_t splits =
            attention_splits(device_.info().gpu_kernels, g.max_tokens, kv.layout.n_ctx);
        const uint32_t chunk =
            u32(ceil_div(static_cast<uint64_t>(kv.layout.n_ctx), static_cast<uint64_t>(splits)));
        WeightLocation sinks{};
        if (n.sinks) INFER_TRY(weight(n.sinks, &sinks));
        const VkDescriptorSet set = set_for(ctx, n.sinks ? &sinks : nullptr);
        // With the values in the keys (v_in_k) the V plane is the K plane, its rows head_dim.
        const KvLayerLayout &l = kv.layout.layer(n.layer);
        const int64_t dv = l.value_dim();
        const AttentionPush p{t(n.out),
                              t(n.in[0]),
                              at(kv.k(n.layer), elem),
                              at(kv.v(n.layer), elem),
                              t(n.in[1]),
                              u32(n_tokens),
                              u32(n.n_head),
                              u32(l.n_head_kv),
                              u32(l.head_dim),
                              u32(kv.layout.n_ctx),
                              kv.layout.type != 0 ? 1u : 0u,
                              u32(std::max(n.window, 0)),
                              n.scale,
                              n.softcap,
                              u32(splits),
                              chunk,
                              splits > 1 ? t(n.scratch) : 0u,
                              n.sinks ? 1u : 0u,
                              u32(sinks.offset),
                              u32(dv),
                              u32(l.v_in_k ? l.head_dim : dv)};
        const bool wide = std::max(l.head_dim, dv) > kAttentionHeadDim;
        dispatch(cmd, wide ? OpShader::AttentionWide : OpShader::Attention, set, &p, sizeof p,
                 n_tokens * n.n_head * splits);
        if (splits > 1) {
            const AttentionCombinePush c{
                t(n.out), t(n.scratch),  u32(n_tokens * n.n_head), u32(splits),
                u32(dv),  u32(n.n_head), n.sinks ? 1u : 0u,        u32(sinks.offset)};
            dispatch(cmd, OpShader::AttentionCombine, set, &c, sizeof c,
                     ceil_div(static_cast<uint64_t>(n_tokens * n.n_head * dv), 64));
        }
        return Status::ok();
    }
    case Op::MoeRoute: {
        const int64_t rows = rows_of(n.in[0]);
        WeightLocation bias{}; // the selection bias
        if (n.w) INFER_TRY(weight(n.w->data, &bias));
        const MoeRoutePush p{t(n.in[0]),
                             t(n.out),
                             t(n.out2),
                             u32(rows),
                             u32(n.n_expert),
                             u32(n.n_expert_used),
                             n.norm_weights ? 1u : 0u,
                             static_cast<uint32_t>(n.route_fn), // moe_route.comp's FN_ codes
                             n.w ? 1u : 0u,
                             u32(bias.offset),
                             u32(n.n_group),
                             u32(n.n_group_used),
                             n.route_scale};
        dispatch(cmd, OpShader::MoeRoute, set_for(ctx, n.w ? &bias : nullptr), &p, sizeof p,
                 ceil_div(rows, 64));
        return Status::ok();
    }
    case Op::MoeFfn: {
        const int64_t rows = rows_of(n.in[0]);
        const MoeScratch s = moe_scratch(n, rows);
        const uint32_t sel = t(n.scratch), count = sel + u32(s.sel_words),
                       list = count + u32(s.count_words), hidden = list + u32(s.list_words),
                       down_out = hidden + u32(s.hidden_words), up = down_out + u32(s.out_words);
        WeightLocation table{};
        bool has_table = false;
        if (n.expert_slot) { // a subset: the resident experts, packed by slot
            if (!n.experts_resident)
                return make_error(INFER_ERR_UNSUPPORTED,
                                  "MoeFfn (layer %d): the Vulkan backend computes only the "
                                  "experts it holds",
                                  n.layer);
            has_table = weights_.find(n.expert_slot, &table);
            if (!has_table) {
                if (std::any_of(n.expert_slot, n.expert_slot + n.n_expert,
                                [](int32_t slot) { return slot >= 0; }))
                    return make_error(INFER_ERR_INTERNAL,
                                      "layer %d's expert slots are not on the device", n.layer);
                // No resident expert: this node adds nothing.
                fill_zero(cmd, ctx.buffer.handle(), out.offset, static_cast<uint64_t>(n_out) * 4);
                return Status::ok();
            }
        }
        const bool counting = b.expert_counts && n.layer >= 0;
        fill_zero(cmd, ctx.buffer.handle(), static_cast<uint64_t>(count) * 4, s.count_words * 4);
        const MoeSelectPush select{t(n.in[1]),
                                   sel,
                                   count,
                                   list,
                                   u32(s.pairs),
                                   u32(n.n_expert),
                                   has_table ? 1u : 0u,
                                   u32(table.offset),
                                   counting ? 1u : 0u,
                                   counting ? u32(int64_t{n.layer} * n.n_expert) : 0u};
        dispatch(cmd, OpShader::MoeSelect, set_for(ctx, has_table ? &table : nullptr), &select,
                 sizeof select, ceil_div(s.pairs, 64));
        // Adds expert bias `bias` (rows of `width`) to the pairs' rows at y, a dispatch per part.
        auto add_expert_bias = [&](const graph::WeightRef &bias, uint32_t y, uint64_t width) {
            const std::vector<WeightLocation> *parts = nullptr;
            INFER_TRY(weight_parts(bias.data, &parts));
            for (const WeightLocation &w : *parts) {
                const MoeBiasPush p{y,
                                    sel,
                                    u32(s.pairs),
                                    u32(width),
                                    u32(w.offset),
                                    u32(w.first),
                                    u32(w.units ? w.units : n.n_expert)};
                dispatch(cmd, OpShader::MoeBias, set_for(ctx, &w), &p, sizeof p,
                         ceil_div(s.pairs * width, 256));
            }
            return Status::ok();
        };
        // gate, then up (fused with the activation), then down. With the GPU kernels a decode
        // step's few pairs get a workgroup per (pair, row); otherwise the pairs grouped by
        // expert, a row per invocation. Expert biases follow each product; up's bias must join
        // before the activation, so with biases up is a plain product into its own rows (mode
        // 0) and the activation an elementwise pass.
        const bool per_pair = device_.info().gpu_kernels && rows <= kMatVecMaxTokens;
        const bool biased = n.expert_bias[0] != nullptr;
        const graph::WeightRef *mats[3] = {n.w, n.w2, n.w3};
        for (uint32_t mode = 0; mode < 3; ++mode) {
            const graph::WeightRef &m = *mats[mode];
            const std::vector<WeightLocation> *parts = nullptr;
            INFER_TRY(weight_parts(m.data, &parts));
            const uint64_t out_rows = static_cast<uint64_t>(m.ne[1]);
            const bool separate_up = biased && mode == 1;
            const uint32_t y = mode == 2 ? down_out : separate_up ? up : hidden;
            for (const WeightLocation &w : *parts) { // a stack split over chunks: a part each
                const MoeMatvecPush p{u32(w.offset),
                                      u32(m.row_bytes),
                                      type_traits(m.type)->block_bytes,
                                      u32(static_cast<int64_t>(m.row_bytes) * m.ne[1]),
                                      u32(m.ne[0]),
                                      u32(m.ne[1]),
                                      mode == 2 ? hidden : t(n.in[0]),
                                      y,
                                      u32(s.pairs),
                                      u32(n.n_expert_used),
                                      count,
                                      list,
                                      separate_up ? 0u : mode,
                                      act_code(n.act),
                                      sel,
                                      u32(w.first),
                                      u32(w.units ? w.units : n.n_expert)};
                if (per_pair)
                    dispatch(cmd, OpShader::MoeMatvecVec, set_for(ctx, &w), &p, sizeof p,
                             s.pairs * out_rows, m.type);
                else
                    dispatch(cmd, OpShader::MoeMatvec, set_for(ctx, &w), &p, sizeof p,
                             (w.units ? w.units : static_cast<uint64_t>(n.n_expert)) *
                                 ceil_div(out_rows, 64),
                             m.type);
            }
            if (!biased) continue;
            INFER_TRY(add_expert_bias(*n.expert_bias[mode], y, out_rows));
            if (separate_up) { // hidden = act(hidden, up), the uncomputed pairs' rows unread
                const ElementwisePush glu{static_cast<uint32_t>(ElementwiseOp::Glu),
                                          hidden,
                                          hidden,
                                          up,
                                          u32(s.hidden_words),
                                          1,
                                          act_code(n.act),
                                          0,
                                          0,
                                          0};
                dispatch(cmd, OpShader::Elementwise, set_for(ctx, nullptr), &glu, sizeof glu,
                         ceil_div(s.hidden_words, 256));
            }
        }
        const MoeCombinePush p{t(n.out),
                               down_out,
                               t(n.in[2]),
                               sel,
                               u32(rows),
                               u32(n.n_expert_used),
                               u32(g.tensors[n.out].n)};
        dispatch(cmd, OpShader::MoeCombine, set_for(ctx, nullptr), &p, sizeof p,
                 ceil_div(static_cast<uint64_t>(n_out), 256));
        return Status::ok();
    }
    }
    return make_error(INFER_ERR_UNSUPPORTED, "the Vulkan backend has no kernel for %s",
                      graph::op_name(n.op));
}

} // namespace infer::vulkan
