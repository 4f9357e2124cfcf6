#include "models/decoder.h"

#include "core/types.h"

#include <cmath>
#include <limits>

namespace infer::models {
namespace {

// rope.scaling.*: none, linear or YaRN, times rope.scaling.attn_factor for every kind. YaRN's
// magnitude scale is what llama.cpp's context sets: mscale(factor) / (1 + 0.1 ln factor) (the
// kernel multiplies the second factor back in).
Status read_rope_scaling(const MetaReader &meta, const Hparams &hp, graph::RopeScaling *out) {
    const char *arch = hp.arch.c_str();
    std::string kind;
    INFER_TRY(meta.text("rope.scaling.type", &kind, false));
    INFER_TRY(meta.number("rope.scaling.attn_factor", &out->attn_factor, false));
    if (!(out->attn_factor > 0))
        return make_error(INFER_ERR_MODEL_BAD_HPARAM, "%s: rope.scaling.attn_factor must be > 0",
                          arch);
    if (kind.empty() || kind == "none") return Status::ok();
    if (kind != "linear" && kind != "yarn")
        return make_error(INFER_ERR_MODEL_BAD_HPARAM,
                          "%s: rope scaling '%s' is not supported (linear, yarn)", arch,
                          kind.c_str());
    INFER_TRY(meta.number("rope.scaling.factor", &out->factor));
    if (!(out->factor > 0))
        return make_error(INFER_ERR_MODEL_BAD_HPARAM, "%s: rope.scaling.factor must be > 0", arch);
    out->kind = graph::RopeScalingKind::Linear;
    if (kind == "linear") return Status::ok();
    out->kind = graph::RopeScalingKind::Yarn;
    out->orig_ctx = hp.n_ctx_train;
    INFER_TRY(meta.count("rope.scaling.original_context_length", &out->orig_ctx, false));
    const float f = 1.0f / out->freq_scale(); // llama.cpp's factor, from its freq_scale
    const float mscale = f <= 1.0f ? 1.0f : 0.1f * std::log(f) + 1.0f;
    out->attn_factor *= mscale * (1.0f / (1.0f + 0.1f * std::log(f)));
    return Status::ok();
}

} // namespace

Status read_decoder_hparams(const gguf::File &file, const std::string &arch, Hparams *hp) {
    const MetaReader meta(file, arch);
    hp->arch = arch;
    INFER_TRY(meta.count("context_length", &hp->n_ctx_train));
    INFER_TRY(meta.count("embedding_length", &hp->n_embd));
    INFER_TRY(meta.count("block_count", &hp->n_layer));
    INFER_TRY(meta.uniform_count("feed_forward_length", &hp->n_ff));
    INFER_TRY(meta.uniform_count("attention.head_count", &hp->n_head));
    hp->n_head_kv = hp->n_head;
    INFER_TRY(meta.uniform_count("attention.head_count_kv", &hp->n_head_kv, false));
    INFER_TRY(meta.number("attention.layer_norm_rms_epsilon", &hp->norm_eps));
    INFER_TRY(meta.number("rope.freq_base", &hp->rope.base, false));
    if (hp->n_embd == 0 || hp->n_layer == 0 || hp->n_head == 0 || hp->n_head_kv == 0 ||
        hp->n_ff == 0)
        return make_error(INFER_ERR_MODEL_BAD_HPARAM,
                          "%s: embedding_length, block_count, head counts and "
                          "feed_forward_length must be positive", arch.c_str());
    if (hp->n_head % hp->n_head_kv != 0)
        return make_error(INFER_ERR_MODEL_BAD_HPARAM,
                          "%s: %lld heads do not divide into %lld key/value heads", arch.c_str(),
                          static_cast<long long>(hp->n_head), static_cast<long long>(hp->n_head_kv));
    hp->head_dim = hp->n_embd / hp->n_head;
    INFER_TRY(meta.count("attention.key_length", &hp->head_dim, false));
    hp->head_dim_v = hp->head_dim;
    INFER_TRY(meta.count("attention.value_length", &hp->head_dim_v, false));
    int64_t n_rot = hp->head_dim;
    INFER_TRY(meta.count("rope.dimension_count", &n_rot, false));
    if (hp->head_dim == 0 || hp->head_dim % 2 != 0 || n_rot > hp->head_dim || n_rot % 2 != 0)
        return make_error(INFER_ERR_MODEL_BAD_HPARAM, "%s: head size %lld / rope dims %lld invalid",
                          arch.c_str(), static_cast<long long>(hp->head_dim),
                          static_cast<long long>(n_rot));
    hp->rope.n_rot = static_cast<int32_t>(n_rot);

    INFER_TRY(read_rope_scaling(meta, *hp, &hp->rope.scaling));
    hp->attn_scale = 1.0f / std::sqrt(static_cast<float>(hp->head_dim));
    return Status::ok();
}

Status read_sliding_window(const gguf::File &file, int64_t pattern, bool pattern_key, Hparams *hp) {
    const MetaReader meta(file, hp->arch);
    Hparams::SlidingWindow swa;
    swa.pattern = pattern;
    INFER_TRY(meta.count("attention.sliding_window", &swa.window));
    if (pattern_key) INFER_TRY(meta.count("attention.sliding_window_pattern", &swa.pattern, false));
    if (swa.window == 0 || swa.pattern == 0)
        return make_error(INFER_ERR_MODEL_BAD_HPARAM,
                          "%s: a sliding window and a pattern of at least 1 are required "
                          "(got window %lld, pattern %lld)",
                          hp->arch.c_str(), static_cast<long long>(swa.window),
                          static_cast<long long>(swa.pattern));
    if (swa.window > std::numeric_limits<int32_t>::max())
        return make_error(INFER_ERR_MODEL_BAD_HPARAM, "%s: sliding window %lld is too large",
                          hp->arch.c_str(), static_cast<long long>(swa.window));
    swa.rope = hp->rope;
    hp->swa = swa;
    return Status::ok();
}

Status read_moe_hparams(const gguf::File &file, const MoeKeys &keys, Hparams *hp) {
    const MetaReader meta(file, hp->arch);
    const char *arch = hp->arch.c_str();
    if (keys.experts == MoeKeys::None) return Status::ok();
    const bool required = keys.experts == MoeKeys::Always;
    Hparams::Moe moe;
    INFER_TRY(meta.count("expert_count", &moe.n_expert, required));
    if (moe.n_expert == 0) {
        if (required)
            return make_error(INFER_ERR_MODEL_BAD_HPARAM, "%s: expert_count must be positive", arch);
        return Status::ok();
    }
    INFER_TRY(meta.uniform_count("expert_used_count", &moe.n_expert_used));
    if (moe.n_expert_used < 1 || moe.n_expert_used > moe.n_expert || moe.n_expert > (1 << 16))
        return make_error(INFER_ERR_MODEL_BAD_HPARAM,
                          "%s: expert_used_count %lld must lie in [1, expert_count = %lld] "
                          "(at most 65536 experts)",
                          arch, static_cast<long long>(moe.n_expert_used),
                          static_cast<long long>(moe.n_expert));
    moe.n_ff_exp = keys.expert_ff_key ? hp->n_ff / moe.n_expert_used : hp->n_ff;
    if (keys.expert_ff_key)
        INFER_TRY(meta.uniform_count("expert_feed_forward_length", &moe.n_ff_exp, false));
    if (keys.shared_ff_key) {
        moe.n_ff_shexp = hp->n_ff;
        INFER_TRY(meta.count("expert_shared_feed_forward_length", &moe.n_ff_shexp, false));
    }
    if (moe.n_ff_exp == 0 || (keys.shared_ff_key && moe.n_ff_shexp == 0))
        return make_error(INFER_ERR_MODEL_BAD_HPARAM, "%s: expert feed-forward lengths must be positive",
                          arch);
    moe.routing.norm_weights = keys.norm_weights;
    hp->moe = moe;
    return Status::ok();
}

Status bind_decoder_family(const gguf::File &file, const DecoderFamily &family, Hparams *hp,
                           ModelWeights *w) {
    INFER_TRY(read_decoder_hparams(file, family.arch, hp));
    INFER_TRY(read_moe_hparams(file, family.moe, hp));
    hp->rope.mode = family.rope_mode;
    return bind_decoder_tensors(file, family.tensors, hp, w);
}

Status bind_decoder_tensors(const gguf::File &file, const DecoderTensors &which, Hparams *hp,
                            ModelWeights *w) {
    if (hp->head_dim_v != hp->head_dim) // multi-head latent attention has its own binder
        return make_error(INFER_ERR_MODEL_BAD_HPARAM,
                          "%s: key length %lld != value length %lld is not supported",
                          hp->arch.c_str(), static_cast<long long>(hp->head_dim),
                          static_cast<long long>(hp->head_dim_v));
    const int64_t n_embd = hp->n_embd;
    const gguf::TensorInfo *embd = file.find_tensor("token_embd.weight");
    if (!embd)
        return make_error(INFER_ERR_MODEL_MISSING_TENSOR, "tensor 'token_embd.weight' is missing");
    hp->n_vocab = static_cast<int64_t>(embd->dims[1]);
    const int64_t n_vocab = hp->n_vocab;
    INFER_TRY(bind_tensor(file, "token_embd.weight", {n_embd, n_vocab}, true, &w->tok_embd));
    INFER_TRY(bind_tensor(file, "output_norm.weight", {n_embd}, true, &w->output_norm));
    INFER_TRY(bind_tensor(file, "output.weight", {n_embd, n_vocab}, false, &w->output));
    if (!present(w->output)) w->output = w->tok_embd; // tied embeddings
    INFER_TRY(bind_tensor(file, "rope_freqs.weight", {hp->n_rot() / 2}, false, &w->rope_freqs));
    if (present(w->rope_freqs) && w->rope_freqs.type != 0)
        return make_error(INFER_ERR_MODEL_TENSOR_TYPE, "tensor 'rope_freqs.weight' must be F32");

    const int64_t q_dim = hp->n_head * hp->head_dim;
    const int64_t kv_dim = hp->n_head_kv * hp->head_dim;
    w->layers.resize(static_cast<size_t>(hp->n_layer));
    for (int64_t l = 0; l < hp->n_layer; ++l) {
        LayerWeights &L = w->layers[static_cast<size_t>(l)];
        auto bind = [&](const char *suffix, std::initializer_list<int64_t> dims, bool required,
                        graph::WeightRef *out, const char *kind = "weight") {
            return bind_tensor(file, layer_tensor(l, suffix, kind), dims, required, out);
        };
        // Biases and sinks: required, and F32 (the kernels add them as floats).
        auto bind_f32 = [&](const char *suffix, std::initializer_list<int64_t> dims,
                            graph::WeightRef *out, const char *kind = "weight") {
            INFER_TRY(bind(suffix, dims, true, out, kind));
            if (out->type != static_cast<uint32_t>(TypeId::F32))
                return make_error(INFER_ERR_MODEL_TENSOR_TYPE, "tensor '%s' must be F32",
                                  layer_tensor(l, suffix, kind).c_str());
            return Status::ok();
        };
        INFER_TRY(bind("attn_norm", {n_embd}, true, &L.attn_norm));
        INFER_TRY(bind("attn_q", {n_embd, q_dim}, true, &L.wq));
        INFER_TRY(bind("attn_k", {n_embd, kv_dim}, true, &L.wk));
        INFER_TRY(bind("attn_v", {n_embd, kv_dim}, true, &L.wv));
        INFER_TRY(bind("attn_output", {q_dim, n_embd}, true, &L.wo));
        if (which.qkv_bias) {
            INFER_TRY(bind_f32("attn_q", {q_dim}, &L.bq, "bias"));
            INFER_TRY(bind_f32("attn_k", {kv_dim}, &L.bk, "bias"));
            INFER_TRY(bind_f32("attn_v", {kv_dim}, &L.bv, "bias"));
        }
        if (which.out_bias) INFER_TRY(bind_f32("attn_output", {n_embd}, &L.bo, "bias"));
        if (which.attn_sinks) INFER_TRY(bind_f32("attn_sinks", {hp->n_head}, &L.attn_sinks));
        if (which.qk_norm || which.qk_norm_full) {
            // The weight's length is the span each norm covers (build_decoder's group).
            INFER_TRY(bind("attn_q_norm", {which.qk_norm ? hp->head_dim : q_dim}, true, &L.q_norm));
            INFER_TRY(bind("attn_k_norm", {which.qk_norm ? hp->head_dim : kv_dim}, true, &L.k_norm));
        }
        if (which.post_norms) {
            INFER_TRY(bind("post_attention_norm", {n_embd}, true, &L.post_attn_norm));
            INFER_TRY(bind("post_ffw_norm", {n_embd}, true, &L.post_ffn_norm));
        }
        INFER_TRY(bind(which.ffn_norm, {n_embd}, true, &L.ffn_norm));
        if (!hp->moe) {
            INFER_TRY(bind("ffn_gate", {n_embd, hp->n_ff}, true, &L.ffn_gate));
            INFER_TRY(bind("ffn_up", {n_embd, hp->n_ff}, true, &L.ffn_up));
            INFER_TRY(bind("ffn_down", {hp->n_ff, n_embd}, true, &L.ffn_down));
            continue;
        }
        const int64_t n_expert = hp->moe->n_expert, n_ff_exp = hp->moe->n_ff_exp;
        INFER_TRY(bind("ffn_gate_inp", {n_embd, n_expert}, true, &L.ffn_gate_inp));
        INFER_TRY(bind("ffn_gate_exps", {n_embd, n_ff_exp, n_expert}, true, &L.ffn_gate_exps));
        INFER_TRY(bind("ffn_up_exps", {n_embd, n_ff_exp, n_expert}, true, &L.ffn_up_exps));
        INFER_TRY(bind("ffn_down_exps", {n_ff_exp, n_embd, n_expert}, true, &L.ffn_down_exps));
        if (which.moe_biases) {
            INFER_TRY(bind_f32("ffn_gate_inp", {n_expert}, &L.ffn_gate_inp_b, "bias"));
            INFER_TRY(bind_f32("ffn_gate_exps", {n_ff_exp, n_expert}, &L.ffn_gate_exps_b, "bias"));
            INFER_TRY(bind_f32("ffn_up_exps", {n_ff_exp, n_expert}, &L.ffn_up_exps_b, "bias"));
            INFER_TRY(bind_f32("ffn_down_exps", {n_embd, n_expert}, &L.ffn_down_exps_b, "bias"));
        }
        if (which.shared_expert) {
            const int64_t n_ff_sh = hp->moe->n_ff_shexp;
            INFER_TRY(bind("ffn_gate_inp_shexp", {n_embd}, true, &L.ffn_gate_inp_shexp));
            INFER_TRY(bind("ffn_gate_shexp", {n_embd, n_ff_sh}, true, &L.ffn_gate_shexp));
            INFER_TRY(bind("ffn_up_shexp", {n_embd, n_ff_sh}, true, &L.ffn_up_shexp));
            INFER_TRY(bind("ffn_down_shexp", {n_ff_sh, n_embd}, true, &L.ffn_down_shexp));
        }
    }
    return Status::ok();
}

namespace {

// down(act(gate x) * up x)
graph::TensorId gated_ffn(graph::GraphBuilder &g, const graph::WeightRef &gate,
                          const graph::WeightRef &up, const graph::WeightRef &down,
                          graph::TensorId x, graph::Activation act) {
    return g.matmul(down, g.glu(g.matmul(gate, x), g.matmul(up, x), act));
}

const graph::WeightRef *optional(const graph::WeightRef &ref) {
    return present(ref) ? &ref : nullptr;
}

// The routed experts (router, top k), plus a shared expert: qwen2moe's sigmoid-gated one, or
// DeepSeek's plain one.
graph::TensorId moe_ffn(graph::GraphBuilder &g, const Hparams::Moe &moe, graph::Activation act,
                        const LayerWeights &L, graph::TensorId x) {
    graph::GraphBuilder::Routing routing = moe.routing;
    routing.bias = optional(L.exp_probs_b);
    const graph::GraphBuilder::Route route =
        g.moe_route(g.matmul(L.ffn_gate_inp, x, optional(L.ffn_gate_inp_b)),
                    static_cast<int32_t>(moe.n_expert_used), routing);
    const graph::WeightRef *const biases[3] = {
        optional(L.ffn_gate_exps_b), optional(L.ffn_up_exps_b), optional(L.ffn_down_exps_b)};
    graph::TensorId f = g.moe_ffn(x, route, L.ffn_gate_exps, L.ffn_up_exps, L.ffn_down_exps, act,
                                  biases[0] ? biases : nullptr);
    if (present(L.ffn_up_shexp)) {
        graph::TensorId shared =
            gated_ffn(g, L.ffn_gate_shexp, L.ffn_up_shexp, L.ffn_down_shexp, x, act);
        if (present(L.ffn_gate_inp_shexp))
            shared = g.sigmoid_gate(shared, g.matmul(L.ffn_gate_inp_shexp, x));
        f = g.add(f, shared);
    }
    return f;
}

} // namespace

graph::TensorId decoder_ffn(graph::GraphBuilder &g, const Hparams &hp, const LayerWeights &L,
                            int64_t layer, graph::TensorId x) {
    if (hp.layer_has_experts(layer)) return moe_ffn(g, *hp.moe, hp.ffn_act, L, x);
    return gated_ffn(g, L.ffn_gate, L.ffn_up, L.ffn_down, x, hp.ffn_act);
}

Status check_routing(const Hparams &hp) {
    const Hparams::Moe &moe = *hp.moe;
    const int64_t groups = moe.routing.n_group, used = moe.routing.n_group_used;
    if (groups == 0) return Status::ok();
    const int64_t size = groups > 0 ? moe.n_expert / groups : 0;
    if (groups < 2 || groups > 64 || moe.n_expert % groups != 0 || size < 2 || used < 1 ||
        used >= groups || moe.n_expert_used > used * size)
        return make_error(INFER_ERR_MODEL_BAD_HPARAM,
                          "%s: expert_group_count %lld / expert_group_used_count %lld do not fit "
                          "%lld experts, %lld per token (groups: 2..64 of at least 2 experts, "
                          "1 <= used < groups, k <= used * group size)",
                          hp.arch.c_str(), static_cast<long long>(groups),
                          static_cast<long long>(used), static_cast<long long>(moe.n_expert),
                          static_cast<long long>(moe.n_expert_used));
    return Status::ok();
}

graph::Graph build_decoder(const Hparams &hp, const ModelWeights &w, int64_t max_tokens,
                           bool all_logits) {
    using graph::TensorId;
    graph::GraphBuilder g(max_tokens);
    const auto n_head = static_cast<int32_t>(hp.n_head);
    const auto n_head_kv = static_cast<int32_t>(hp.n_head_kv);
    const auto head_dim = static_cast<int32_t>(hp.head_dim);
    const float *freq_factors =
        present(w.rope_freqs) ? static_cast<const float *>(w.rope_freqs.data) : nullptr;

    TensorId x = g.embed(w.tok_embd, hp.embed_scale); // [t][n_embd]
    for (int64_t l = 0; l < hp.n_layer; ++l) {
        const LayerWeights &L = w.layers[static_cast<size_t>(l)];
        const auto layer = static_cast<int32_t>(l);
        graph::Rope rope = hp.layer_rope(l);
        rope.freq_factors = freq_factors;
        const int32_t window = hp.layer_slides(l) ? static_cast<int32_t>(hp.swa->window) : 0;
        g.set_layer(layer);

        // Attention: q [t][n_head][head_dim], k and v [t][n_head_kv][head_dim].
        TensorId h = g.rms_norm(x, &L.attn_norm, hp.norm_eps);
        TensorId q = g.matmul(L.wq, h, optional(L.bq));
        TensorId k = g.matmul(L.wk, h, optional(L.bk));
        const TensorId v = g.matmul(L.wv, h, optional(L.bv));
        if (present(L.q_norm)) { // per head, or over the whole vector (olmoe)
            q = g.rms_norm(q, &L.q_norm, hp.norm_eps, L.q_norm.ne[0]);
            k = g.rms_norm(k, &L.k_norm, hp.norm_eps, L.k_norm.ne[0]);
        }
        q = g.rope(q, n_head, head_dim, rope);
        k = g.rope(k, n_head_kv, head_dim, rope);
        g.kv_store(layer, k, v, n_head_kv, head_dim);
        const float *sinks =
            present(L.attn_sinks) ? static_cast<const float *>(L.attn_sinks.data) : nullptr;
        const TensorId a =
            g.attention(layer, q, n_head, n_head_kv, head_dim, hp.attn_scale, 0, window, sinks);
        TensorId o = g.matmul(L.wo, a, optional(L.bo));
        if (present(L.post_attn_norm)) o = g.rms_norm(o, &L.post_attn_norm, hp.norm_eps);
        if (l == hp.n_layer - 1 && !all_logits) {
            // Only the last token's logits are wanted: the rest of the pass runs on one row.
            o = g.select_last(o);
            x = g.select_last(x);
        }
        x = g.add(x, o);

        // Feed-forward: act(gate) * up, then down; or the mixture of experts.
        h = g.rms_norm(x, &L.ffn_norm, hp.norm_eps);
        TensorId f = decoder_ffn(g, hp, L, l, h);
        if (present(L.post_ffn_norm)) f = g.rms_norm(f, &L.post_ffn_norm, hp.norm_eps);
        x = g.add(x, f);
    }
    g.set_layer(-1);
    x = g.rms_norm(x, &w.output_norm, hp.norm_eps);
    return g.finish(g.matmul(w.output, x));
}

} // namespace infer::models
