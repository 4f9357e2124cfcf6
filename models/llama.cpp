// llama: Llama 1-3 (with optional rope_freqs), Mistral, SmolLM2. Rope on adjacent pairs.
#include "models/decoder.h"

namespace infer::models {
namespace {

Status bind_llama(const gguf::File &file, Hparams *hp, ModelWeights *w) {
    INFER_TRY(read_decoder_hparams(file, "llama", hp));
    int64_t n_expert = 0;
    INFER_TRY(MetaReader(file, "llama").count("expert_count", &n_expert, false));
    if (n_expert > 0)
        return make_error(INFER_ERR_MODEL_UNKNOWN_ARCH,
                          "llama with %lld experts (Mixtral) is not supported yet",
                          static_cast<long long>(n_expert));
    hp->rope_mode = graph::RopeMode::Normal;
    return bind_decoder_tensors(file, DecoderTensors{}, hp, w);
}

} // namespace

extern const Architecture kLlama = {"llama", bind_llama, build_decoder};

} // namespace infer::models
