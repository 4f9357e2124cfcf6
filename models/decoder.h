// The dense decoder-only transformer shared by llama, qwen2, qwen3 and gemma3: hyperparameters
// common to them, binding of the standard tensor names, and the forward pass. Family files set
// the flags that differ.
#pragma once

#include "models/binding.h"
#include "models/transformer.h"

namespace infer::models {

// Which optional tensors a family has.
struct DecoderTensors {
    bool qkv_bias = false;   // qwen2, qwen2moe, gpt-oss
    bool out_bias = false;   // gpt-oss: attn_output.bias
    bool attn_sinks = false; // gpt-oss: attn_sinks, a logit per head in the softmax
    bool moe_biases = false; // gpt-oss: router and expert biases
    // The FFN's input norm: "ffn_norm", or gpt-oss's "post_attention_norm" (same place).
    const char *ffn_norm = "ffn_norm";
    bool qk_norm = false;      // qwen3, qwen3moe, gemma3: per head (head_dim weights)
    bool qk_norm_full = false; // olmoe: over all heads at once (q_dim / kv_dim weights)
    bool post_norms = false;   // gemma3: after attention and after the FFN
    bool shared_expert = false; // qwen2moe: a dense FFN beside the routed experts, sigmoid-gated
};

// Reads the `{arch}.*` keys every family uses, with llama.cpp's defaults for optional ones.
Status read_decoder_hparams(const gguf::File &file, const std::string &arch, Hparams *hp);

// Reads attention.sliding_window (required) into hp->swa, with every pattern-th layer global
// (or attention.sliding_window_pattern where the family reads that key); its rope starts as the
// model's.
Status read_sliding_window(const gguf::File &file, int64_t pattern, bool pattern_key, Hparams *hp);

// Whether a family's FFNs are mixtures of experts, and how it reads their hyperparameters.
struct MoeKeys {
    enum Experts { None, Optional, Always };
    Experts experts = None;     // Optional: expert_count may be absent or 0 (llama or Mixtral)
    bool expert_ff_key = false; // expert_feed_forward_length (default n_ff / k); else n_ff
    bool shared_ff_key = false; // expert_shared_feed_forward_length (default n_ff)
    bool norm_weights = false;  // renormalize the k routing weights
};

// Reads expert_count and expert_used_count (1 <= used <= count) and the expert FFN lengths into
// hp->moe, which stays absent when the family's experts are optional and the file has none.
Status read_moe_hparams(const gguf::File &file, const MoeKeys &keys, Hparams *hp);

// A family that the shared decoder handles with flags alone.
struct DecoderFamily {
    const char *arch;
    graph::RopeMode rope_mode;
    DecoderTensors tensors;
    MoeKeys moe;
};

// read_decoder_hparams, read_moe_hparams, then bind_decoder_tensors.
Status bind_decoder_family(const gguf::File &file, const DecoderFamily &family, Hparams *hp,
                           ModelWeights *w);
// An Architecture::bind for a DecoderFamily constant.
template <const DecoderFamily &F>
Status bind_family(const gguf::File &file, Hparams *hp, ModelWeights *w) {
    return bind_decoder_family(file, F, hp, w);
}

// Binds token_embd, output_norm, output (tied to token_embd when absent), rope_freqs and
// every layer's tensors; fills n_vocab from token_embd.
Status bind_decoder_tensors(const gguf::File &file, const DecoderTensors &which, Hparams *hp,
                            ModelWeights *w);

graph::Graph build_decoder(const Hparams &hp, const ModelWeights &w, int64_t max_tokens,
                           bool all_logits);

// Pieces of the forward pass that other layouts of attention share (deepseek2.cpp).
// A layer's FFN on x: dense (no experts, or one of the n_layer_dense_lead first layers), or the
// routed experts plus the shared expert when the layer has one (sigmoid-gated when it has a gate).
graph::TensorId decoder_ffn(graph::GraphBuilder &g, const Hparams &hp, const LayerWeights &L,
                            int64_t layer, graph::TensorId x);
// Checks DeepSeek's routing hyperparameters against the expert count (groups divide the experts
// into groups of at least two, k fits in the groups used).
Status check_routing(const Hparams &hp);

} // namespace infer::models
