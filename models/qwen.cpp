// qwen2 (biases on q/k/v) and qwen3 (per-head RMSNorm of q and k). Both rope NeoX-style
// (rotating dimension i with i + n_rot/2).
#include "models/decoder.h"

namespace infer::models {
namespace {

Status bind_qwen2(const gguf::File &file, Hparams *hp, ModelWeights *w) {
    INFER_TRY(read_decoder_hparams(file, "qwen2", hp));
    hp->rope_mode = graph::RopeMode::Neox;
    DecoderTensors which;
    which.qkv_bias = true;
    return bind_decoder_tensors(file, which, hp, w);
}

Status bind_qwen3(const gguf::File &file, Hparams *hp, ModelWeights *w) {
    INFER_TRY(read_decoder_hparams(file, "qwen3", hp));
    hp->rope_mode = graph::RopeMode::Neox;
    DecoderTensors which;
    which.qk_norm = true;
    return bind_decoder_tensors(file, which, hp, w);
}

} // namespace

extern const Architecture kQwen2 = {"qwen2", bind_qwen2, build_decoder};
extern const Architecture kQwen3 = {"qwen3", bind_qwen3, build_decoder};

} // namespace infer::models
