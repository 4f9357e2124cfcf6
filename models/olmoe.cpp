// olmoe: OLMoE, every FFN a mixture of experts (64 experts, top 8, softmax router, weights not
// renormalized, expert FFN length = feed_forward_length), RMSNorm of q and k over all heads at
// once (before rope), rope NeoX-style.
#include "models/decoder.h"

namespace infer::models {
namespace {

Status bind_olmoe(const gguf::File &file, Hparams *hp, ModelWeights *w) {
    INFER_TRY(read_decoder_hparams(file, "olmoe", hp));
    INFER_TRY(read_moe_hparams(file, MoeKeys{}, hp));
    hp->rope_mode = graph::RopeMode::Neox;
    DecoderTensors which;
    which.qk_norm_full = true;
    return bind_decoder_tensors(file, which, hp, w);
}

} // namespace

extern const Architecture kOlmoe = {"olmoe", bind_olmoe, build_decoder};

} // namespace infer::models
