// gpt-oss (OpenAI's open-weight MoE; llama.cpp's LLM_ARCH_OPENAI_MOE): biases on the q/k/v and
// output projections, a learned sink logit per head in every attention softmax, sliding-window
// (even) and full (odd) layers alternating, YaRN rope (NeoX pairs) in both, and every FFN a
// mixture of experts: the router (with a bias) picks the top k logits and weights them by a
// softmax over those k, each expert's gate/up/down products add their own bias, and the gate is
// gpt-oss's clamped SwiGLU. "post_attention_norm" is the FFN's input norm.
#include "models/decoder.h"

#include <cmath>

namespace infer::models {
namespace {

Status bind_gpt_oss(const gguf::File &file, Hparams *hp, ModelWeights *w) {
    const char *arch = "gpt-oss";
    INFER_TRY(read_decoder_hparams(file, arch, hp));
    INFER_TRY(read_moe_hparams(file, {.experts = MoeKeys::Always, .expert_ff_key = true}, hp));
    // llama.cpp's load_swa_pattern(ml, 2): layers l with l % pattern < pattern - 1 slide.
    hp->rope.mode = graph::RopeMode::Neox;
    INFER_TRY(read_sliding_window(file, 2, true, hp)); // both kinds of layer use the scaled rope
    INFER_TRY(MetaReader(file, arch).number("rope.freq_base_swa", &hp->swa->rope.base, false));
    hp->ffn_act = graph::Activation::SwigluOai;
    hp->moe->routing.fn = graph::RouteFn::SoftmaxTopK;
    hp->attn_scale = 1.0f / std::sqrt(static_cast<float>(hp->n_rot()));
    const DecoderTensors which{.qkv_bias = true,
                               .out_bias = true,
                               .attn_sinks = true,
                               .moe_biases = true,
                               .ffn_norm = "post_attention_norm"};
    return bind_decoder_tensors(file, which, hp, w);
}

} // namespace

extern const Architecture kGptOss = {"gpt-oss", bind_gpt_oss, build_decoder};

} // namespace infer::models
