// The dense decoder-only transformer shared by llama, qwen2, qwen3 and gemma3: hyperparameters
// common to them, binding of the standard tensor names, and the forward pass. Family files set
// the flags that differ.
#pragma once

#include "models/binding.h"
#include "models/transformer.h"

namespace infer::models {

// Which optional tensors a family has.
struct DecoderTensors {
    bool qkv_bias = false;   // qwen2
    bool qk_norm = false;    // qwen3, gemma3
    bool post_norms = false; // gemma3: after attention and after the FFN
};

// Reads the `{arch}.*` keys every family uses, with llama.cpp's defaults for optional ones.
Status read_decoder_hparams(const gguf::File &file, const std::string &arch, Hparams *hp);

// Binds token_embd, output_norm, output (tied to token_embd when absent), rope_freqs and
// every layer's tensors; fills n_vocab from token_embd.
Status bind_decoder_tensors(const gguf::File &file, const DecoderTensors &which, Hparams *hp,
                            ModelWeights *w);

graph::Graph build_decoder(const Hparams &hp, const ModelWeights &w, int64_t max_tokens,
                           bool all_logits);

} // namespace infer::models
