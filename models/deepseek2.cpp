// DeepSeek-V2/V2-Lite/V3 and Kimi K2 (llama.cpp's `deepseek2`): multi-head latent attention in
// its absorbed form, then a dense FFN for the first leading_dense_block_count layers and routed
// experts plus shared experts after.
//
// Attention per layer (llama.cpp's MLA graph, which it runs for prompts and decode alike):
//   q       = wq h, or wq_b norm(wq_a h)           [t][n_head][nope + rope]
//   kv      = wkv_a_mqa h                          [t][kv_lora + rope]
//   latent  = norm(kv[0, kv_lora)), k_rope = rope(kv[kv_lora, ..)) (one head, shared by all)
//   Q_h     = [wk_b_h q_h[0, nope), rope(q_h[nope, ..))]   (the key projection absorbed)
//   cache  <- [latent, k_rope]: kv_lora + rope elements per position, for every head
//   o_h     = softmax(Q_h . K^T * scale) latent    (values = the cached latent: v_in_k)
//   out     = wo [wv_b_h o_h]                       (the value projection after attention)
// So the cache holds kv_lora + rope elements per position and layer (576 for V3), where a plain
// cache of the decompressed heads would hold n_head * (nope + rope + v_head) (40960 for V3).
// The scale is mscale^2 / sqrt(nope + rope), with DeepSeek's YaRN magnitude correction in mscale
// (llama.cpp's TAG_DEEPSEEK2_YARN_LOG_MUL_FIX).
#include "models/decoder.h"

#include "core/types.h"

#include <cmath>

namespace infer::models {
namespace {

Status bad(const char *what, long long a, long long b = 0) {
    return make_error(INFER_ERR_MODEL_BAD_HPARAM, "deepseek2: %s (%lld, %lld)", what, a, b);
}

// The attention-related keys beyond the decoder's: the MLA shapes and DeepSeek's YaRN.
Status read_mla_hparams(const gguf::File &file, Hparams *hp) {
    const MetaReader meta(file, "deepseek2");
    Hparams::Mla mla;
    INFER_TRY(meta.count("attention.q_lora_rank", &mla.q_lora_rank, false));
    INFER_TRY(meta.count("attention.kv_lora_rank", &mla.kv_lora_rank));
    INFER_TRY(meta.count("attention.key_length_mla", &mla.head_dim_qk, false));
    INFER_TRY(meta.count("attention.value_length_mla", &mla.head_dim_v, false));
    if (mla.head_dim_qk == 0 || mla.head_dim_v == 0)
        return make_error(INFER_ERR_MODEL_BAD_HPARAM,
                          "deepseek2: the file has no key_length_mla / value_length_mla: it was "
                          "converted before llama.cpp split attn_kv_b into attn_k_b and attn_v_b; "
                          "convert it again with a current convert_hf_to_gguf.py");
    // The cache row: the latent then the rope key, one "head"; the values are the latent.
    const int64_t n_rot = hp->n_rot();
    if (hp->n_head_kv != 1 || hp->head_dim != mla.kv_lora_rank + n_rot ||
        hp->head_dim_v != mla.kv_lora_rank)
        return make_error(INFER_ERR_MODEL_BAD_HPARAM,
                          "deepseek2: an MLA file has head_count_kv 1, key_length = kv_lora_rank "
                          "+ rope dims and value_length = kv_lora_rank (got %lld, %lld, %lld)",
                          static_cast<long long>(hp->n_head_kv),
                          static_cast<long long>(hp->head_dim),
                          static_cast<long long>(hp->head_dim_v));
    if (mla.head_dim_qk <= n_rot || mla.kv_lora_rank < 1)
        return bad("key_length_mla must exceed the rope dims", mla.head_dim_qk, n_rot);
    // Bounds that keep every shape product (heads x head sizes) far from overflowing.
    constexpr int64_t kMaxDim = int64_t{1} << 20;
    if (mla.q_lora_rank > kMaxDim || mla.kv_lora_rank > kMaxDim || mla.head_dim_qk > kMaxDim ||
        mla.head_dim_v > kMaxDim || hp->n_head > kMaxDim)
        return bad("MLA ranks, head sizes and the head count must be at most 2^20",
                   mla.kv_lora_rank, mla.head_dim_qk);
    hp->mla = mla;

    // llama.cpp's context sets YaRN's attn factor to mscale(f, m) / mscale(f, m_all) / (1 + 0.1
    // ln f) when the file has a log multiplier, and for deepseek2 m = m_all: the ratio is 1.
    float log_mul = 0.0f; // written as 0.1 * mscale_all_dim
    INFER_TRY(meta.number("rope.scaling.yarn_log_multiplier", &log_mul, false));
    graph::RopeScaling &scaling = hp->rope.scaling;
    if (scaling.kind == graph::RopeScalingKind::Yarn && log_mul != 0.0f) {
        float attn_factor = 1.0f;
        INFER_TRY(meta.number("rope.scaling.attn_factor", &attn_factor, false));
        scaling.attn_factor = attn_factor / (1.0f + 0.1f * std::log(1.0f / scaling.freq_scale()));
    }
    // The logit scale, as llama.cpp's deepseek2 graph pre-scales it.
    const float ln_scale = std::log(1.0f / scaling.freq_scale());
    const float attn_factor_org = scaling.attn_factor * (1.0f + 0.1f * ln_scale);
    const float mscale = attn_factor_org * (1.0f + 0.1f * (log_mul / 0.1f) * ln_scale);
    hp->attn_scale = mscale * mscale / std::sqrt(static_cast<float>(mla.head_dim_qk));
    return Status::ok();
}

// expert_gating_func: 0 (absent: V2's softmax), 1 softmax, 2 sigmoid.
Status read_routing(const gguf::File &file, Hparams *hp) {
    const MetaReader meta(file, "deepseek2");
    Hparams::Moe &moe = *hp->moe;
    graph::GraphBuilder::Routing &routing = moe.routing;
    int64_t gating = 0, norm = 0, shared = 0, groups = 0, groups_used = 0;
    INFER_TRY(meta.count("expert_gating_func", &gating, false));
    if (gating > 2) return bad("expert_gating_func is not softmax (1) or sigmoid (2)", gating);
    routing.fn = gating == 2 ? graph::RouteFn::Sigmoid : graph::RouteFn::Softmax;
    INFER_TRY(meta.count("expert_weights_norm", &norm, false));
    routing.norm_weights = norm != 0;
    INFER_TRY(meta.number("expert_weights_scale", &routing.scale, false));
    if (routing.scale == 0.0f) routing.scale = 1.0f; // llama.cpp: 0 = none
    INFER_TRY(meta.count("expert_group_count", &groups, false));
    INFER_TRY(meta.count("expert_group_used_count", &groups_used, false));
    if (groups > 64 || groups_used > 64)
        return bad("expert_group_count / expert_group_used_count exceed 64", groups, groups_used);
    if (groups <= 1) groups = groups_used = 0;
    routing.n_group = static_cast<int32_t>(groups);
    routing.n_group_used = static_cast<int32_t>(groups_used);
    INFER_TRY(check_routing(*hp));
    INFER_TRY(meta.count("leading_dense_block_count", &moe.n_layer_dense_lead, false));
    if (moe.n_layer_dense_lead > hp->n_layer)
        return bad("leading_dense_block_count exceeds block_count", moe.n_layer_dense_lead,
                   hp->n_layer);
    INFER_TRY(meta.count("expert_shared_count", &shared));
    if (shared > (1 << 16) || moe.n_ff_exp > (int64_t{1} << 32))
        return bad("expert_shared_count or expert_feed_forward_length is out of range", shared,
                   moe.n_ff_exp);
    moe.n_ff_shexp = moe.n_ff_exp * shared;
    return Status::ok();
}

Status bind_layer(const gguf::File &file, const Hparams &hp, int64_t l, LayerWeights *L) {
    const int64_t n_embd = hp.n_embd, n_head = hp.n_head, n_rot = hp.n_rot();
    const Hparams::Mla &mla = *hp.mla;
    const Hparams::Moe &moe = *hp.moe;
    const int64_t nope = mla.head_dim_qk - n_rot, q_dim = n_head * mla.head_dim_qk;
    auto bind = [&](const char *suffix, std::initializer_list<int64_t> dims, graph::WeightRef *out,
                    bool required = true, const char *kind = "weight") {
        return bind_tensor(file, layer_tensor(l, suffix, kind), dims, required, out);
    };
    INFER_TRY(bind("attn_norm", {n_embd}, &L->attn_norm));
    if (mla.q_lora_rank > 0) {
        INFER_TRY(bind("attn_q_a", {n_embd, mla.q_lora_rank}, &L->wq_a));
        INFER_TRY(bind("attn_q_a_norm", {mla.q_lora_rank}, &L->q_a_norm));
        INFER_TRY(bind("attn_q_b", {mla.q_lora_rank, q_dim}, &L->wq_b));
    } else {
        INFER_TRY(bind("attn_q", {n_embd, q_dim}, &L->wq));
    }
    INFER_TRY(bind("attn_kv_a_mqa", {n_embd, mla.kv_lora_rank + n_rot}, &L->wkv_a_mqa));
    INFER_TRY(bind("attn_kv_a_norm", {mla.kv_lora_rank}, &L->kv_a_norm));
    INFER_TRY(bind("attn_k_b", {nope, mla.kv_lora_rank, n_head}, &L->wk_b));
    INFER_TRY(bind("attn_v_b", {mla.kv_lora_rank, mla.head_dim_v, n_head}, &L->wv_b));
    INFER_TRY(bind("attn_output", {n_head * mla.head_dim_v, n_embd}, &L->wo));
    INFER_TRY(bind("ffn_norm", {n_embd}, &L->ffn_norm));
    if (!hp.layer_has_experts(l)) {
        INFER_TRY(bind("ffn_gate", {n_embd, hp.n_ff}, &L->ffn_gate));
        INFER_TRY(bind("ffn_up", {n_embd, hp.n_ff}, &L->ffn_up));
        return bind("ffn_down", {hp.n_ff, n_embd}, &L->ffn_down);
    }
    const int64_t n_expert = moe.n_expert, n_ff_exp = moe.n_ff_exp;
    INFER_TRY(bind("ffn_gate_inp", {n_embd, n_expert}, &L->ffn_gate_inp));
    INFER_TRY(bind("exp_probs_b", {n_expert}, &L->exp_probs_b, false, "bias"));
    if (present(L->exp_probs_b) && L->exp_probs_b.type != static_cast<uint32_t>(TypeId::F32))
        return make_error(INFER_ERR_MODEL_TENSOR_TYPE, "tensor '%s' must be F32",
                          layer_tensor(l, "exp_probs_b", "bias").c_str());
    INFER_TRY(bind("ffn_gate_exps", {n_embd, n_ff_exp, n_expert}, &L->ffn_gate_exps));
    INFER_TRY(bind("ffn_up_exps", {n_embd, n_ff_exp, n_expert}, &L->ffn_up_exps));
    INFER_TRY(bind("ffn_down_exps", {n_ff_exp, n_embd, n_expert}, &L->ffn_down_exps));
    if (moe.n_ff_shexp == 0) return Status::ok();
    INFER_TRY(bind("ffn_gate_shexp", {n_embd, moe.n_ff_shexp}, &L->ffn_gate_shexp));
    INFER_TRY(bind("ffn_up_shexp", {n_embd, moe.n_ff_shexp}, &L->ffn_up_shexp));
    return bind("ffn_down_shexp", {moe.n_ff_shexp, n_embd}, &L->ffn_down_shexp);
}

Status bind_deepseek2(const gguf::File &file, Hparams *hp, ModelWeights *w) {
    INFER_TRY(read_decoder_hparams(file, "deepseek2", hp));
    INFER_TRY(read_moe_hparams(file, {.experts = MoeKeys::Always, .expert_ff_key = true}, hp));
    INFER_TRY(read_mla_hparams(file, hp));
    INFER_TRY(read_routing(file, hp));
    hp->rope.mode = graph::RopeMode::Normal;

    const int64_t n_embd = hp->n_embd;
    const gguf::TensorInfo *embd = file.find_tensor("token_embd.weight");
    if (!embd)
        return make_error(INFER_ERR_MODEL_MISSING_TENSOR, "tensor 'token_embd.weight' is missing");
    hp->n_vocab = static_cast<int64_t>(embd->dims[1]);
    INFER_TRY(bind_tensor(file, "token_embd.weight", {n_embd, hp->n_vocab}, true, &w->tok_embd));
    INFER_TRY(bind_tensor(file, "output_norm.weight", {n_embd}, true, &w->output_norm));
    INFER_TRY(bind_tensor(file, "output.weight", {n_embd, hp->n_vocab}, false, &w->output));
    if (!present(w->output)) w->output = w->tok_embd; // tied embeddings
    w->layers.resize(static_cast<size_t>(hp->n_layer));
    for (int64_t l = 0; l < hp->n_layer; ++l)
        INFER_TRY(bind_layer(file, *hp, l, &w->layers[static_cast<size_t>(l)]));
    return Status::ok();
}

// Multi-head latent attention of one layer on the normed input h (the file comment's steps).
graph::TensorId mla_attention(graph::GraphBuilder &g, const Hparams &hp, const LayerWeights &L,
                              int32_t layer, graph::TensorId h) {
    using graph::TensorId;
    const auto n_head = static_cast<int32_t>(hp.n_head);
    const int32_t n_rot = hp.rope.n_rot;
    const auto kv_lora = static_cast<int32_t>(hp.mla->kv_lora_rank);
    const auto qk = static_cast<int32_t>(hp.mla->head_dim_qk);
    auto rope = [&](TensorId x, int32_t heads) { return g.rope(x, heads, n_rot, hp.rope); };

    TensorId q = present(L.wq)
                     ? g.matmul(L.wq, h)
                     : g.matmul(L.wq_b, g.rms_norm(g.matmul(L.wq_a, h), &L.q_a_norm, hp.norm_eps));
    const TensorId kv = g.matmul(L.wkv_a_mqa, h);
    const TensorId latent = g.rms_norm(g.slice(kv, 1, kv_lora, 0, 0), &L.kv_a_norm, hp.norm_eps);
    const TensorId k_rope = rope(g.slice(kv, 1, n_rot, 0, kv_lora), 1);
    const TensorId q_rope = rope(g.slice(q, n_head, n_rot, qk, qk - n_rot), n_head);
    const TensorId q_absorbed = g.head_matmul(L.wk_b, q, qk); // each head's first nope elements
    g.kv_store(layer, g.concat(latent, k_rope, 1), graph::kNoTensor, 1, kv_lora + n_rot);
    const TensorId a =
        g.attention(layer, g.concat(q_absorbed, q_rope, n_head), n_head, 1,
                    {.k = kv_lora + n_rot, .v = kv_lora, .v_in_k = true}, hp.attn_scale, 0, 0);
    return g.matmul(L.wo, g.head_matmul(L.wv_b, a, kv_lora));
}

graph::Graph build_deepseek2(const Hparams &hp, const ModelWeights &w, int64_t max_tokens,
                             bool all_logits) {
    using graph::TensorId;
    graph::GraphBuilder g(max_tokens);
    TensorId x = g.embed(w.tok_embd, 1.0f);
    for (int64_t l = 0; l < hp.n_layer; ++l) {
        const LayerWeights &L = w.layers[static_cast<size_t>(l)];
        g.set_layer(static_cast<int32_t>(l));
        TensorId o = mla_attention(g, hp, L, static_cast<int32_t>(l),
                                   g.rms_norm(x, &L.attn_norm, hp.norm_eps));
        if (l == hp.n_layer - 1 && !all_logits) { // the rest runs on the last token's row
            o = g.select_last(o);
            x = g.select_last(x);
        }
        x = g.add(x, o);
        x = g.add(x, decoder_ffn(g, hp, L, l, g.rms_norm(x, &L.ffn_norm, hp.norm_eps)));
    }
    g.set_layer(-1);
    x = g.rms_norm(x, &w.output_norm, hp.norm_eps);
    return g.finish(g.matmul(w.output, x));
}

} // namespace

extern const Architecture kDeepseek2 = {"deepseek2", bind_deepseek2, build_deepseek2};

} // namespace infer::models
