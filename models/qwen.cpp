// qwen2 (biases on q/k/v) and qwen3 (per-head RMSNorm of q and k), and their mixture-of-experts
// versions: qwen2moe (a sigmoid-gated shared expert beside the routed ones; the k routing weights
// are not renormalized) and qwen3moe (renormalized). All rope NeoX-style (rotating dimension i
// with i + n_rot/2).
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

Status bind_qwen2moe(const gguf::File &file, Hparams *hp, ModelWeights *w) {
    INFER_TRY(read_decoder_hparams(file, "qwen2moe", hp));
    MoeKeys keys;
    keys.expert_ff_key = true;
    keys.shared_ff_key = true;
    INFER_TRY(read_moe_hparams(file, keys, hp));
    hp->rope_mode = graph::RopeMode::Neox;
    DecoderTensors which;
    which.qkv_bias = true;
    which.shared_expert = true;
    return bind_decoder_tensors(file, which, hp, w);
}

Status bind_qwen3moe(const gguf::File &file, Hparams *hp, ModelWeights *w) {
    INFER_TRY(read_decoder_hparams(file, "qwen3moe", hp));
    MoeKeys keys;
    keys.expert_ff_key = true;
    keys.norm_weights = true;
    INFER_TRY(read_moe_hparams(file, keys, hp));
    hp->rope_mode = graph::RopeMode::Neox;
    DecoderTensors which;
    which.qk_norm = true;
    return bind_decoder_tensors(file, which, hp, w);
}

} // namespace

extern const Architecture kQwen2 = {"qwen2", bind_qwen2, build_decoder};
extern const Architecture kQwen3 = {"qwen3", bind_qwen3, build_decoder};
extern const Architecture kQwen2Moe = {"qwen2moe", bind_qwen2moe, build_decoder};
extern const Architecture kQwen3Moe = {"qwen3moe", bind_qwen3moe, build_decoder};

} // namespace infer::models
