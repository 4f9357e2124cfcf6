// llama: Llama 1-3 (with optional rope_freqs), Mistral, SmolLM2, and Mixtral (llama with
// expert_count > 0: every FFN is a mixture of experts; the top-k softmax probabilities are
// renormalized, which is the softmax over the k selected logits). Rope on adjacent pairs.
#include "models/decoder.h"

namespace infer::models {
namespace {

Status bind_llama(const gguf::File &file, Hparams *hp, ModelWeights *w) {
    INFER_TRY(read_decoder_hparams(file, "llama", hp));
    MoeKeys keys;
    keys.required = false;
    keys.norm_weights = true;
    INFER_TRY(read_moe_hparams(file, keys, hp));
    hp->rope_mode = graph::RopeMode::Normal;
    return bind_decoder_tensors(file, DecoderTensors{}, hp, w);
}

} // namespace

extern const Architecture kLlama = {"llama", bind_llama, build_decoder};

} // namespace infer::models
