// llama: Llama 1-3 (with optional rope_freqs), Mistral, SmolLM2, and Mixtral (llama with
// expert_count > 0: every FFN is a mixture of experts; the top-k softmax probabilities are
// renormalized, which is the softmax over the k selected logits). Rope on adjacent pairs.
#include "models/decoder.h"

namespace infer::models {
namespace {

constexpr DecoderFamily kLlamaFamily{
    "llama", graph::RopeMode::Normal, {}, {.experts = MoeKeys::Optional, .norm_weights = true}};

} // namespace

extern const Architecture kLlama = {"llama", bind_family<kLlamaFamily>, build_decoder};

} // namespace infer::models
