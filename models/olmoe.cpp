// olmoe: OLMoE, every FFN a mixture of experts (64 experts, top 8, softmax router, weights not
// renormalized, expert FFN length = feed_forward_length), RMSNorm of q and k over all heads at
// once (before rope), rope NeoX-style.
#include "models/decoder.h"

namespace infer::models {
namespace {

constexpr DecoderFamily kOlmoeFamily{
    "olmoe", graph::RopeMode::Neox, {.qk_norm_full = true}, {.experts = MoeKeys::Always}};

} // namespace

extern const Architecture kOlmoe = {"olmoe", bind_family<kOlmoeFamily>, build_decoder};

} // namespace infer::models
