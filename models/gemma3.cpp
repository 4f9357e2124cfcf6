// gemma3: five sliding-window layers (rope base 10000) to one global layer, per-head q/k norms,
// norms after attention and after the FFN, GELU-gated FFN, embeddings scaled by sqrt(n_embd),
// output tied to the embeddings. The GGUF norm weights already include Gemma's +1.
#include "models/decoder.h"

#include <cmath>

namespace infer::models {
namespace {

Status bind_gemma3(const gguf::File &file, Hparams *hp, ModelWeights *w) {
    INFER_TRY(read_decoder_hparams(file, "gemma3", hp));
    hp->rope.mode = graph::RopeMode::Neox;
    // llama.cpp fixes the pattern at 6 for gemma3, whatever the file says.
    INFER_TRY(read_sliding_window(file, 6, false, hp));
    // The sliding layers rope at base 10000, unscaled, whatever the global layers do.
    hp->swa->rope.base = 10000.0f;
    hp->swa->rope.scaling.kind = graph::RopeScalingKind::None;
    hp->ffn_act = graph::Activation::GeluTanh;
    hp->embed_scale = std::sqrt(static_cast<float>(hp->n_embd));
    // Gemma 3 27B scales queries by (n_embd / n_head)^-1/2, every other size by head_dim^-1/2.
    if (hp->n_layer == 62)
        hp->attn_scale = 1.0f / std::sqrt(static_cast<float>(hp->n_embd / hp->n_head));
    DecoderTensors which;
    which.qk_norm = true;
    which.post_norms = true;
    return bind_decoder_tensors(file, which, hp, w);
}

} // namespace

extern const Architecture kGemma3 = {"gemma3", bind_gemma3, build_decoder};

} // namespace infer::models
