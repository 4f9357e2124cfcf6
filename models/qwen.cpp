// qwen2 (biases on q/k/v) and qwen3 (per-head RMSNorm of q and k), and their mixture-of-experts
// versions: qwen2moe (a sigmoid-gated shared expert beside the routed ones; the k routing weights
// are not renormalized) and qwen3moe (renormalized). All rope NeoX-style (rotating dimension i
// with i + n_rot/2).
#include "models/decoder.h"

namespace infer::models {
namespace {

using graph::RopeMode;

constexpr DecoderFamily kQwen2Family{"qwen2", RopeMode::Neox, {.qkv_bias = true}, {}};
constexpr DecoderFamily kQwen3Family{"qwen3", RopeMode::Neox, {.qk_norm = true}, {}};
constexpr DecoderFamily kQwen2MoeFamily{
    "qwen2moe", RopeMode::Neox, {.qkv_bias = true, .shared_expert = true},
    {.experts = MoeKeys::Always, .expert_ff_key = true, .shared_ff_key = true}};
constexpr DecoderFamily kQwen3MoeFamily{
    "qwen3moe", RopeMode::Neox, {.qk_norm = true},
    {.experts = MoeKeys::Always, .expert_ff_key = true, .norm_weights = true}};

} // namespace

extern const Architecture kQwen2 = {"qwen2", bind_family<kQwen2Family>, build_decoder};
extern const Architecture kQwen3 = {"qwen3", bind_family<kQwen3Family>, build_decoder};
extern const Architecture kQwen2Moe = {"qwen2moe", bind_family<kQwen2MoeFamily>, build_decoder};
extern const Architecture kQwen3Moe = {"qwen3moe", bind_family<kQwen3MoeFamily>, build_decoder};

} // namespace infer::models
