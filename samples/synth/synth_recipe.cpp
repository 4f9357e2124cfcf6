// Shapes (presets), validation, and the tensor list with each tensor's type under a recipe.
//
// Recipes: a type name quantizes every 2-D weight to that type; norms, biases and rope_freqs
// stay F32. "Q4_K_M" follows llama.cpp's llama-quant.cpp (llama_tensor_get_type_impl,
// LLAMA_FTYPE_MOSTLY_Q4_K_M): Q4_K by default; Q6_K for output.weight, or for token_embd when
// the output is tied to it (and Q8_0 instead when its rows are not whole Q4_K blocks); Q6_K for
// attn_v and ffn_down in the layers where use_more_bits(i, n) holds (the first and last eighth
// of the layers and every third layer between). In both, a row that is not whole blocks of the
// chosen type falls back as llama.cpp's tensor_type_fallback does: Q4_K -> Q5_0, Q5_K -> Q5_1,
// Q6_K -> Q8_0, Q2_K/Q3_K -> Q4_0, then F16 if still not whole blocks.
//
// "Q3_K_M" follows LLAMA_FTYPE_MOSTLY_Q3_K_M in the same function: Q3_K by default; the output as
// under Q4_K_M; attn_v Q5_K in the first two layers and Q4_K after; attn_output Q4_K; ffn_down
// Q5_K in the first sixteenth of the layers and Q4_K after (llama.cpp's non-Falcon rule).
//
// Experts under Q4_K_M and Q3_K_M: ffn_{gate,up}_exps and the shared expert's gate/up take the
// default type; ffn_down_exps and ffn_down_shexp follow ffn_down's rule (llama.cpp matches
// "ffn_down" and reads the layer from the name); with exactly 8 experts (Mixtral) llama.cpp also
// raises attn_k and attn_v to Q8_0 and attn_output to Q5_K. Routers (ffn_gate_inp) and the 1-D
// shared-expert gate stay F32 under every recipe.
//
// "MXFP4_MOE" follows LLAMA_FTYPE_MOSTLY_MXFP4_MOE: the expert tensors (3-D, ffn_*_exps) MXFP4,
// every other 2-D weight Q8_0, token_embd and output included; rows that are not whole 32-element
// blocks fall back to F16, as llama.cpp's tensor_type_fallback does for a 32-element type.
// gpt-oss's attention sinks (1-D) stay F32 like the norms under every recipe.
//
// deepseek2 under every recipe, as llama-quant.cpp has it for that arch: attn_q_a, attn_q_b,
// attn_kv_a_mqa, attn_k_b and attn_v_b match none of its tensor categories (attn_k_b.weight is
// not "attn_k.weight") and take the recipe's default type, falling back by their own row length
// (attn_k_b's rows are qk_nope long, attn_v_b's kv_lora: 128 and 512 in the released models, so
// Q4_K -> Q5_0 and Q4_K); attn_q (V2-Lite) and attn_output follow their categories' rules; the
// dense ffn_down, ffn_down_exps and ffn_down_shexp follow ffn_down's (layer read from the name);
// the shared expert's gate/up take the default. Under MXFP4_MOE llama.cpp gives every 3-D tensor
// with more than one matrix MXFP4, and for deepseek2 that includes attn_k_b and attn_v_b (n_head
// matrices each), not only the experts. exp_probs_b.bias, the routers and the norms stay F32.
#include "synth/synth_model.h"

#include <algorithm>
#include <cmath>
#include <numbers>
#include <numeric>
#include <string_view>
#include <utility>

#include "core/random.h"
#include "core/iq_groups.h"
#include "core/types.h"
#include "tooling/quant_weights.h"

namespace infer::synth {

namespace {

struct Experts {
    int64_t n_expert, n_expert_used, n_ff_exp, n_ff_shexp;
};

// deepseek2's shapes (config.json of DeepSeek-V2-Lite and DeepSeek-V3 on Hugging Face; the tiny
// ones for tests). "tiny" applies to --arch deepseek2; the others set the arch.
struct MlaPreset {
    const char *name;
    int64_t n_vocab, n_embd, n_layer, n_head, n_ff, n_ctx;
    int64_t q_lora_rank, kv_lora_rank, qk_nope_dim, qk_rope_dim, v_head_dim;
    int64_t n_expert, n_expert_used, n_ff_exp, n_expert_shared, n_dense_lead;
    int64_t n_expert_groups, n_group_used;
    int expert_gating; // 1 softmax, 2 sigmoid
    bool expert_weights_norm;
    float expert_weights_scale;
    float yarn_factor;
    int64_t yarn_orig_ctx;
    float mscale_all_dim;
};
// clang-format off
constexpr MlaPreset kMlaPresets[] = {
    // name, n_vocab, n_embd, n_layer, n_head, n_ff, n_ctx,
    //   q_lora, kv_lora, qk_nope, qk_rope, v_head,
    //   n_expert, top-k, n_ff_exp, shared, dense lead, groups, groups used,
    //   gating, weights norm, weights scale, YaRN factor, original context, mscale_all_dim
    //
    // V2-Lite-like: no q LoRA, softmax over all experts, no groups, unnormalized weights.
    // qk_rope 32 and every other row length a multiple of 32: Q8_0 and the 32-element types
    // apply without fallbacks.
    {"tiny", 512, 256, 4, 4, 512, 2048,
     0, 128, 32, 32, 32,
     16, 4, 128, 2, 1, 0, 0,
     1, false, 1.0f, 40.0f, 4096, 0.707f},
    // V3-like: q LoRA, sigmoid gating with the selection bias, 4 groups of which 2 are kept,
    // normalized weights scaled by 2.5.
    {"tiny-v3", 512, 256, 4, 4, 512, 2048,
     128, 128, 32, 32, 32,
     16, 4, 128, 1, 1, 4, 2,
     2, true, 2.5f, 40.0f, 4096, 1.0f},
    // n_group 1 / topk_group 1 in config.json: convert_hf_to_gguf.py writes both keys.
    {"deepseek-v2-lite", 102400, 2048, 27, 16, 10944, 163840,
     0, 512, 128, 64, 128,
     64, 6, 1408, 2, 1, 1, 1,
     1, false, 1.0f, 40.0f, 4096, 0.707f},
    {"deepseek-v3", 129280, 7168, 61, 128, 18432, 163840,
     1536, 512, 128, 64, 128,
     256, 8, 2048, 1, 3, 8, 4,
     2, true, 2.5f, 40.0f, 4096, 1.0f},
};
// clang-format on

struct Preset {
    const char *name;
    const char *arch; // nullptr: keep the spec's
    int64_t n_vocab, n_embd, n_layer, n_head, n_head_kv, n_ff, head_dim, n_ctx, n_swa;
    float rope_base, norm_eps;
    bool tied, rope_freqs;
    Experts experts = {0, 0, 0, 0};
};

// Published configurations of the models named (config.json of each on Hugging Face). For
// olmoe and Mixtral n_ff is the expert FFN length (intermediate_size).
constexpr Preset kPresets[] = {
    {"tiny", nullptr, 512, 128, 2, 4, 2, 384, 32, 2048, 0, 0, 0, false, false},
    {"smollm2-135m", "llama", 49152, 576, 30, 9, 3, 1536, 64, 8192, 0, 100000.0f, 1e-5f, true,
     false},
    {"llama-1b", "llama", 128256, 2048, 16, 32, 8, 8192, 64, 131072, 0, 500000.0f, 1e-5f, true,
     true},
    {"llama-8b", "llama", 128256, 4096, 32, 32, 8, 14336, 128, 131072, 0, 500000.0f, 1e-5f, false,
     true},
    {"qwen3-0.6b", "qwen3", 151936, 1024, 28, 16, 8, 3072, 128, 40960, 0, 1000000.0f, 1e-6f, true,
     false},
    {"gemma3-270m", "gemma3", 262144, 640, 18, 4, 1, 2048, 256, 32768, 512, 1000000.0f, 1e-6f, true,
     false},
    {"qwen3-30b-a3b",
     "qwen3moe",
     151936,
     2048,
     48,
     32,
     4,
     6144,
     128,
     40960,
     0,
     1000000.0f,
     1e-6f,
     false,
     false,
     {128, 8, 768, 0}},
    {"qwen2-moe-a2.7b",
     "qwen2moe",
     151936,
     2048,
     24,
     16,
     16,
     5632,
     128,
     8192,
     0,
     1000000.0f,
     1e-6f,
     false,
     false,
     {60, 4, 1408, 5632}},
    {"olmoe-1b-7b",
     "olmoe",
     50304,
     2048,
     16,
     16,
     16,
     1024,
     128,
     4096,
     0,
     10000.0f,
     1e-5f,
     false,
     false,
     {64, 8, 0, 0}},
    {"mixtral-8x7b",
     "llama",
     32000,
     4096,
     32,
     32,
     8,
     14336,
     128,
     32768,
     0,
     1000000.0f,
     1e-5f,
     false,
     false,
     {8, 2, 0, 0}},
    // config.json: 24 / 36 layers, 32 / 128 experts, intermediate_size 2880; q is 64 x 64 = 4096
    // wide over a 2880 residual. n_ff is the experts' (its feed_forward_length).
    {"gpt-oss-20b",
     "gpt-oss",
     201088,
     2880,
     24,
     64,
     8,
     2880,
     64,
     131072,
     128,
     150000.0f,
     1e-5f,
     false,
     false,
     {32, 4, 2880, 0}},
    {"gpt-oss-120b",
     "gpt-oss",
     201088,
     2880,
     36,
     64,
     8,
     2880,
     64,
     131072,
     128,
     150000.0f,
     1e-5f,
     false,
     false,
     {128, 4, 2880, 0}},
};

// "tiny" for the MoE archs: rows of 256 where a golden model needs whole k-quant blocks; a few
// MB per file. gpt-oss gets four layers, two of each attention kind.
struct TinyExperts {
    const char *arch;
    int64_t n_embd, n_head, n_head_kv, n_ff, head_dim;
    Experts experts;
    int64_t n_layer = 0; // 0: the tiny preset's
};
constexpr TinyExperts kTinyExperts[] = {
    {"qwen3moe", 256, 4, 2, 512, 64, {16, 4, 256, 0}},
    {"qwen2moe", 256, 4, 2, 512, 64, {16, 4, 128, 512}},
    {"olmoe", 256, 4, 4, 256, 64, {16, 4, 0, 0}},
    {"gpt-oss", 256, 4, 2, 256, 64, {16, 4, 256, 0}, 4},
};

// Router scale: see router_rms(). Measured with llama.cpp (check-synth-llamacpp.py --routing,
// 420-token prompts), router logit std per layer: tiny models ~3 and ~1.3; OLMoE-1B-7B's shape
// ~4.7 at layer 0 (attention averages its values down, so that RMS is small), then ~0.6-1.5 to
// layer 15 (before the sqrt(1 + l) term: 1.0 at layer 1 falling to 0.16 at 15, nearly flat).

bool is_moe_arch(std::string_view arch) {
    return arch == "qwen3moe" || arch == "qwen2moe" || arch == "olmoe" || arch == "gpt-oss" ||
           arch == "deepseek2";
}

// The archs whose expert FFN length has a key of its own (expert_feed_forward_length).
bool own_expert_ff_key(std::string_view arch) {
    return arch == "qwen3moe" || arch == "qwen2moe" || arch == "gpt-oss" || arch == "deepseek2";
}

// llama.cpp builds these archs' attention with n_embd-wide Q and output projections (and OLMoE's
// q/k norms span the whole projection), so the heads must tile n_embd exactly.
bool q_is_n_embd(std::string_view arch) { return arch == "qwen2moe" || arch == "olmoe"; }

struct Recipe {
    const char *name;
    TypeId type;        // default type of 2-D weights
    uint32_t file_type; // llama_ftype written as general.file_type
};

constexpr Recipe kRecipes[] = {
    {"F32", TypeId::F32, 0},
    {"F16", TypeId::F16, 1},
    {"BF16", TypeId::BF16, 32},
    {"Q8_0", TypeId::Q8_0, 7},
    {"Q4_0", TypeId::Q4_0, 2},
    {"Q4_1", TypeId::Q4_1, 3},
    {"Q5_0", TypeId::Q5_0, 8},
    {"Q5_1", TypeId::Q5_1, 9},
    {"Q2_K", TypeId::Q2_K, 10},
    {"Q3_K", TypeId::Q3_K, 11},
    {"Q4_K", TypeId::Q4_K, 14},
    {"Q5_K", TypeId::Q5_K, 16},
    {"Q6_K", TypeId::Q6_K, 18},
    {"Q4_K_M", TypeId::Q4_K, 15},
    {"Q3_K_M", TypeId::Q3_K, 12},
    {"IQ4_NL", TypeId::IQ4_NL, 25},
    {"IQ4_XS", TypeId::IQ4_XS, 30},
    // Q8_0 but for the experts, MXFP4 (plan_tensors).
    {"MXFP4_MOE", TypeId::Q8_0, 38},
    // The lattice and ternary formats: with --random-blocks only (no quantizer here).
    {"IQ2_XXS", TypeId::IQ2_XXS, 19},
    {"IQ2_XS", TypeId::IQ2_XS, 20},
    {"IQ2_S", TypeId::IQ2_S, 28},
    {"IQ3_XXS", TypeId::IQ3_XXS, 23},
    {"IQ3_S", TypeId::IQ3_S, 26},
    {"IQ1_S", TypeId::IQ1_S, 24},
    {"IQ1_M", TypeId::IQ1_M, 31},
    {"TQ1_0", TypeId::TQ1_0, 36},
    {"TQ2_0", TypeId::TQ2_0, 37},
    // All nine of them in one model, a type per tensor kind (lattice_mix_type): a test fixture.
    {"IQ_MIX", TypeId::IQ2_XXS, 19},
};

// IQ_MIX's type for each kind of weight (token_embd, output, or a layer's tensor by suffix).
TypeId lattice_mix_type(std::string_view kind) {
    static constexpr std::pair<std::string_view, TypeId> kMix[] = {
        {"token_embd", TypeId::TQ2_0}, {"output", TypeId::TQ1_0},    {"attn_q", TypeId::IQ2_XXS},
        {"attn_k", TypeId::IQ2_XS},    {"attn_v", TypeId::IQ2_S},     {"attn_output", TypeId::IQ3_XXS},
        {"ffn_gate", TypeId::IQ3_S},   {"ffn_up", TypeId::IQ1_S},     {"ffn_down", TypeId::IQ1_M},
    };
    for (const auto &[name, type] : kMix)
        if (kind.starts_with(name) && (kind.size() == name.size() || kind[name.size()] == '_'))
            return type;
    return TypeId::IQ2_XXS;
}
// Pure k-quant files are labelled with the llama.cpp ftype of the _S variant (Q3_K_S, Q4_K_S,
// Q5_K_S): the label only names the file; what matters is each tensor's own type.

const Recipe *find_recipe(std::string_view name) {
    for (const Recipe &r : kRecipes)
        if (name == r.name) return &r;
    return nullptr;
}

bool use_more_bits(int64_t i_layer, int64_t n_layers) {
    return i_layer < n_layers / 8 || i_layer >= 7 * n_layers / 8 ||
           (i_layer - n_layers / 8) % 3 == 2;
}

uint32_t block_elems(TypeId t) { return type_traits(static_cast<uint32_t>(t))->block_elems; }

TypeId fallback(TypeId t, uint64_t ne0) {
    if (ne0 % block_elems(t) == 0) return t;
    TypeId f = TypeId::F16;
    switch (t) {
    case TypeId::Q4_K:
        f = TypeId::Q5_0;
        break;
    case TypeId::Q5_K:
        f = TypeId::Q5_1;
        break;
    case TypeId::Q6_K:
        f = TypeId::Q8_0;
        break;
    case TypeId::Q2_K:
    case TypeId::Q3_K:
        f = TypeId::Q4_0;
        break;
    case TypeId::IQ4_XS: // as llama.cpp: the 32-element codebook format
        f = TypeId::IQ4_NL;
        break;
    case TypeId::TQ1_0: // as llama.cpp
    case TypeId::TQ2_0:
        f = TypeId::Q4_0;
        break;
    default: // as llama.cpp: the lattice formats fall back as IQ4_XS does
        if (is_lattice_type(static_cast<uint32_t>(t))) f = TypeId::IQ4_NL;
        break;
    }
    return ne0 % block_elems(f) == 0 ? f : TypeId::F16;
}

} // namespace

std::string preset_names() {
    std::string s;
    for (const Preset &p : kPresets)
        s += (s.empty() ? "" : ", ") + std::string(p.name);
    for (const MlaPreset &p : kMlaPresets) // "tiny" is listed already
        if (std::string_view(p.name) != "tiny") s += ", " + std::string(p.name);
    return s;
}

std::string recipe_names() {
    std::string s;
    for (const Recipe &r : kRecipes)
        s += (s.empty() ? "" : ", ") + std::string(r.name);
    return s;
}

int64_t expert_ff_length(const Spec &spec) {
    return own_expert_ff_key(spec.arch) ? spec.n_ff_exp : spec.n_ff;
}

int64_t router_dims(const Spec &spec) { return std::max<int64_t>(1, spec.n_embd / 8); }

double router_rms(int64_t layer) { return 0.5 * std::sqrt(1.0 + static_cast<double>(layer)); }

int64_t router_skew_dim(const Spec &spec) { return router_dims(spec) - 1; }

std::vector<float> selection_bias(const Spec &spec, int64_t moe_layer) {
    const size_t n = static_cast<size_t>(spec.n_expert);
    std::vector<float> bias(n, 0.0f);
    if (spec.n_expert_groups <= 1) { // even experts favoured, as gpt-oss's router bias
        for (size_t e = 0; e < n; e += 2)
            bias[e] = kSelectionBias;
        return bias;
    }
    // Groups m .. m + U - 1 (mod G) favoured, all their experts; one leader, 2 higher, in each
    // other group (see synth_model.h).
    const size_t groups = static_cast<size_t>(spec.n_expert_groups);
    const size_t used = static_cast<size_t>(spec.n_group_used), per_group = n / groups;
    const size_t m = static_cast<size_t>(moe_layer);
    for (size_t g = 0; g < groups; ++g) {
        const bool favoured = (g + groups - m % groups) % groups < used;
        for (size_t j = 0; j < per_group; ++j) {
            if (favoured)
                bias[g * per_group + j] = kSelectionBias;
            else if (j == m % per_group)
                bias[g * per_group + j] = kSelectionBias + 2.0f;
        }
    }
    return bias;
}

std::vector<double> router_skew_offsets(const Spec &spec, int64_t layer) {
    std::vector<uint32_t> ranking(static_cast<size_t>(spec.n_expert));
    std::iota(ranking.begin(), ranking.end(), 0u);
    // Its own stream, so that the ranking changes no other tensor's values.
    Rng rng(mix64(mix64(spec.seed ^ 0x726f757465722d73ull) + static_cast<uint64_t>(layer)));
    for (size_t i = ranking.size(); i > 1; --i) // Fisher-Yates
        std::swap(ranking[i - 1], ranking[rng.below(static_cast<uint32_t>(i))]);
    // Log-probabilities would give exactly popularity ~ 1/(1 + rank)^S under Gumbel noise (top-k
    // is then sampling without replacement); the token-dependent logits are about normal with std
    // 1 instead, so the offsets shrink by the ratio of the two stds, sqrt(6) / pi. Simulated with
    // 64 experts, top-8, S = 1: the 7 most popular experts take 47% of the selections against
    // 44% for exact Zipf sampling (56% without the factor).
    const double scale = spec.router_skew * std::sqrt(6.0) / std::numbers::pi;
    std::vector<double> offsets(ranking.size());
    for (size_t rank = 0; rank < ranking.size(); ++rank)
        offsets[ranking[rank]] = -scale * std::log(1.0 + static_cast<double>(rank));
    return offsets;
}

void apply_arch_defaults(Spec *spec) {
    const std::string &a = spec->arch;
    spec->rope_base = a == "llama" || a == "olmoe" ? 10000.0f : 1000000.0f;
    spec->norm_eps =
        (a == "qwen3" || a == "gemma3" || a == "qwen3moe" || a == "qwen2moe") ? 1e-6f : 1e-5f;
    if (spec->arch == "gemma3") {
        spec->tied = true;
        if (spec->n_swa == 0) spec->n_swa = 8; // small, so short test prompts cross the window
    }
    const bool gpt_oss = a == "gpt-oss", deepseek2 = a == "deepseek2";
    // The released models' YaRN.
    spec->rope_yarn_factor = gpt_oss ? 32.0f : deepseek2 ? 40.0f : 0.0f;
    spec->rope_yarn_orig_ctx = gpt_oss || deepseek2 ? 4096 : 0;
    spec->rope_yarn_mscale_all_dim = deepseek2 ? 0.707f : 0.0f; // V2-Lite's
    if (deepseek2) {
        spec->rope_base = 10000.0f;
        spec->norm_eps = 1e-6f;
    }
    if (gpt_oss) {
        spec->rope_base = 150000.0f;
        if (spec->n_swa == 0) spec->n_swa = 32; // 420-token test prompts cross the window
    }
}

namespace {

void apply_mla_preset(const MlaPreset &p, Spec *spec) {
    spec->arch = "deepseek2";
    spec->preset = p.name;
    apply_arch_defaults(spec);
    spec->n_vocab = p.n_vocab;
    spec->n_embd = p.n_embd;
    spec->n_layer = p.n_layer;
    spec->n_head = p.n_head;
    spec->n_head_kv = 1;                            // the latent cache: head_count_kv 1
    spec->head_dim = p.qk_nope_dim + p.qk_rope_dim; // informative only (key_length_mla)
    spec->n_ff = p.n_ff;
    spec->n_ctx = p.n_ctx;
    spec->n_swa = 0;
    spec->tied = false;
    spec->rope_freqs = false;
    spec->q_lora_rank = p.q_lora_rank;
    spec->kv_lora_rank = p.kv_lora_rank;
    spec->qk_nope_dim = p.qk_nope_dim;
    spec->qk_rope_dim = p.qk_rope_dim;
    spec->v_head_dim = p.v_head_dim;
    spec->n_expert = p.n_expert;
    spec->n_expert_used = p.n_expert_used;
    spec->n_ff_exp = p.n_ff_exp;
    spec->n_ff_shexp = 0;
    spec->n_expert_shared = p.n_expert_shared;
    spec->n_dense_lead = p.n_dense_lead;
    spec->n_expert_groups = p.n_expert_groups;
    spec->n_group_used = p.n_group_used;
    spec->expert_gating = p.expert_gating;
    spec->expert_weights_norm = p.expert_weights_norm;
    spec->expert_weights_scale = p.expert_weights_scale;
    spec->rope_yarn_factor = p.yarn_factor;
    spec->rope_yarn_orig_ctx = p.yarn_orig_ctx;
    spec->rope_yarn_mscale_all_dim = p.mscale_all_dim;
}

// The deepseek2 fields back to "none", for a preset of another arch.
void clear_mla(Spec *spec) {
    spec->q_lora_rank = spec->kv_lora_rank = spec->qk_nope_dim = spec->qk_rope_dim = 0;
    spec->v_head_dim = spec->n_expert_shared = spec->n_dense_lead = 0;
    spec->n_expert_groups = spec->n_group_used = 0;
    spec->expert_gating = 0;
    spec->expert_weights_norm = false;
    spec->expert_weights_scale = 0;
}

} // namespace

Status apply_preset(std::string_view name, Spec *spec) {
    for (const MlaPreset &p : kMlaPresets) {
        if (name != p.name || (name == "tiny" && spec->arch != "deepseek2")) continue;
        apply_mla_preset(p, spec);
        return Status::ok();
    }
    for (const Preset &p : kPresets) {
        if (name != p.name) continue;
        if (p.arch) spec->arch = p.arch;
        spec->preset = p.name;
        apply_arch_defaults(spec);
        clear_mla(spec);
        spec->n_vocab = p.n_vocab;
        spec->n_embd = p.n_embd;
        spec->n_layer = p.n_layer;
        spec->n_head = p.n_head;
        spec->n_head_kv = p.n_head_kv;
        spec->n_ff = p.n_ff;
        spec->head_dim = p.head_dim;
        spec->n_ctx = p.n_ctx;
        if (p.n_swa) spec->n_swa = p.n_swa;
        if (p.rope_base > 0) spec->rope_base = p.rope_base;
        if (p.norm_eps > 0) spec->norm_eps = p.norm_eps;
        spec->tied = p.tied || spec->arch == "gemma3";
        spec->rope_freqs = p.rope_freqs;
        Experts e = p.experts;
        // tiny gemma3 gets six layers so that one global layer follows five sliding ones.
        if (name == "tiny" && spec->arch == "gemma3") spec->n_layer = 6;
        for (const TinyExperts &t : kTinyExperts) {
            if (name != "tiny" || spec->arch != t.arch) continue;
            spec->n_embd = t.n_embd;
            spec->n_head = t.n_head;
            spec->n_head_kv = t.n_head_kv;
            spec->n_ff = t.n_ff;
            spec->head_dim = t.head_dim;
            if (t.n_layer) spec->n_layer = t.n_layer;
            e = t.experts;
        }
        spec->n_expert = e.n_expert;
        spec->n_expert_used = e.n_expert_used;
        spec->n_ff_exp = e.n_ff_exp;
        spec->n_ff_shexp = e.n_ff_shexp;
        return Status::ok();
    }
    return make_error(INFER_ERR_INVALID_ARGUMENT, "unknown preset '%.*s' (presets: %s)",
                      static_cast<int>(name.size()), name.data(), preset_names().c_str());
}

namespace {

// The expert fields: present exactly where the arch has experts, and shaped as llama.cpp loads.
Status validate_experts(const Spec &s) {
    const bool moe_arch = is_moe_arch(s.arch);
    if (moe_arch && s.n_expert <= 0)
        return make_error(INFER_ERR_INVALID_ARGUMENT, "%s needs experts (--n-expert)",
                          s.arch.c_str());
    if (!moe_arch && s.arch != "llama" && (s.n_expert | s.n_expert_used) != 0)
        return make_error(INFER_ERR_INVALID_ARGUMENT, "%s has no experts", s.arch.c_str());
    if (!has_experts(s)) {
        if ((s.n_expert_used | s.n_ff_exp | s.n_ff_shexp) != 0 || s.router_skew != 0)
            return make_error(INFER_ERR_INVALID_ARGUMENT, "expert options need --n-expert");
        return Status::ok();
    }
    if (!(s.router_skew >= 0 && s.router_skew <= 8)) // NaN too
        return make_error(INFER_ERR_INVALID_ARGUMENT, "router skew must be in [0, 8]");
    if (s.router_skew > 0 && router_dims(s) < 2)
        return make_error(INFER_ERR_INVALID_ARGUMENT,
                          "router skew needs two router dimensions (n_embd >= 16)");
    if (s.n_expert > 1024) // llama.cpp's LLAMA_MAX_EXPERTS
        return make_error(INFER_ERR_INVALID_ARGUMENT, "n_expert must be at most 1024");
    if (s.n_expert_used <= 0 || s.n_expert_used > s.n_expert)
        return make_error(INFER_ERR_INVALID_ARGUMENT, "n_expert_used must be in 1..n_expert (%lld)",
                          static_cast<long long>(s.n_expert));
    const bool own_ff_key = own_expert_ff_key(s.arch);
    if (own_ff_key && s.n_ff_exp <= 0)
        return make_error(INFER_ERR_INVALID_ARGUMENT, "%s needs the expert FFN length (--n-ff-exp)",
                          s.arch.c_str());
    if (!own_ff_key && s.n_ff_exp != 0)
        return make_error(INFER_ERR_INVALID_ARGUMENT,
                          "%s files have one FFN length: set the experts' with --n-ff",
                          s.arch.c_str());
    if ((s.arch == "qwen2moe") != (s.n_ff_shexp > 0))
        return make_error(INFER_ERR_INVALID_ARGUMENT,
                          "a shared expert (--n-ff-shexp) is qwen2moe's, and it needs one");
    if ((s.arch == "qwen2moe" || s.arch == "olmoe" || s.arch == "gpt-oss") && s.tied)
        return make_error(INFER_ERR_INVALID_ARGUMENT, "%s needs output.weight (not --tied)",
                          s.arch.c_str());
    if (q_is_n_embd(s.arch) && s.n_head * s.head_dim != s.n_embd)
        return make_error(INFER_ERR_INVALID_ARGUMENT, "%s needs n_head * head_dim == n_embd",
                          s.arch.c_str());
    if (s.arch == "olmoe" && s.n_head_kv != s.n_head)
        return make_error(INFER_ERR_INVALID_ARGUMENT,
                          "olmoe needs n_head_kv == n_head (its k norm spans n_embd)");
    // The router bias favours the even half of the experts (synth_model.h): all k from there.
    if (s.arch == "gpt-oss" && 2 * s.n_expert_used > s.n_expert)
        return make_error(INFER_ERR_INVALID_ARGUMENT,
                          "gpt-oss needs n_expert_used <= n_expert / 2 (its router bias favours "
                          "the even experts)");
    return Status::ok();
}

// deepseek2's attention and routing fields (synth_model.h); zero for every other arch.
Status validate_mla(const Spec &s) {
    auto bad = [](const char *what) { return make_error(INFER_ERR_INVALID_ARGUMENT, "%s", what); };
    if (s.arch != "deepseek2") {
        if ((s.q_lora_rank | s.kv_lora_rank | s.qk_nope_dim | s.qk_rope_dim | s.v_head_dim |
             s.n_dense_lead | s.n_expert_shared | s.n_expert_groups | s.n_group_used) != 0 ||
            s.expert_gating != 0 || s.expert_weights_norm || s.expert_weights_scale != 0 ||
            s.rope_yarn_mscale_all_dim != 0)
            return bad("the MLA, shared-expert, group and gating options are deepseek2's");
        return Status::ok();
    }
    if (s.kv_lora_rank <= 0 || s.qk_nope_dim <= 0 || s.qk_rope_dim <= 0 || s.v_head_dim <= 0 ||
        s.q_lora_rank < 0)
        return bad("deepseek2 needs kv_lora_rank, qk_nope, qk_rope and v_head_dim > 0");
    if (s.qk_rope_dim % 2 != 0) return bad("qk_rope must be even (rope rotates pairs)");
    if (s.n_head_kv != 1) return bad("deepseek2's latent cache has one KV head (n_head_kv 1)");
    // llama.cpp takes these shapes for V2-Lite and friends and reads no q_lora_rank for them.
    const bool lite =
        s.n_layer == 26 || s.n_layer == 27 || (s.n_layer == 48 && s.n_vocab == 128256);
    if (lite && s.q_lora_rank > 0)
        return bad("llama.cpp reads no q LoRA for deepseek2 with 26 or 27 layers (V2-Lite)");
    if (s.n_dense_lead < 0 || s.n_dense_lead >= s.n_layer)
        return bad("deepseek2 needs 0 <= leading dense layers < n_layer");
    if (s.n_expert_shared < 1) return bad("deepseek2 needs a shared expert (llama.cpp loads one)");
    if (s.expert_gating != 1 && s.expert_gating != 2)
        return bad("expert gating must be 1 (softmax) or 2 (sigmoid)");
    if (!(s.expert_weights_scale >= 0)) return bad("expert weights scale must be >= 0");
    if (s.n_expert_groups <= 1) {
        if (s.n_group_used < 0 || s.n_group_used > s.n_expert_groups)
            return bad("expert groups used without expert groups");
        // The selection bias favours the even experts (synth_model.h).
        if (s.expert_gating == 2 && 2 * s.n_expert_used > s.n_expert)
            return bad("sigmoid gating without groups needs n_expert_used <= n_expert / 2 (its "
                       "selection bias favours the even experts)");
        return Status::ok();
    }
    if (s.n_expert % s.n_expert_groups != 0 || s.n_expert / s.n_expert_groups < 2)
        return bad("expert groups must split the experts evenly, two or more per group");
    if (s.n_group_used <= 0 || s.n_group_used >= s.n_expert_groups)
        return bad("expert groups used must be in 1..groups - 1");
    if (s.n_group_used * (s.n_expert / s.n_expert_groups) < s.n_expert_used)
        return bad("the groups kept must hold n_expert_used experts");
    // Softmax group scores (sums of two probabilities) rank groups by the logits' scale: only
    // sigmoid's selection bias makes them exact (synth_model.h).
    if (s.expert_gating != 2) return bad("expert groups need sigmoid gating (its selection bias)");
    return Status::ok();
}

} // namespace

Status validate(const Spec &s) {
    if (s.arch != "llama" && s.arch != "qwen2" && s.arch != "qwen3" && s.arch != "gemma3" &&
        !is_moe_arch(s.arch))
        return make_error(INFER_ERR_INVALID_ARGUMENT,
                          "unknown arch '%s' (llama, qwen2, qwen3, gemma3, qwen3moe, qwen2moe, "
                          "olmoe, gpt-oss, deepseek2)",
                          s.arch.c_str());
    const Recipe *recipe = find_recipe(s.quant);
    if (!recipe)
        return make_error(INFER_ERR_INVALID_ARGUMENT, "unknown quant '%s' (recipes: %s)",
                          s.quant.c_str(), recipe_names().c_str());
    if (!s.random_blocks && !weight_type_supported(static_cast<uint32_t>(recipe->type)))
        return make_error(INFER_ERR_INVALID_ARGUMENT,
                          "quant '%s' has no quantizer here: write it with --random-blocks",
                          s.quant.c_str());
    if (s.n_embd <= 0 || s.n_layer <= 0 || s.n_head <= 0 || s.n_head_kv <= 0 || s.n_ff <= 0 ||
        s.head_dim <= 0 || s.n_ctx <= 0)
        return make_error(INFER_ERR_INVALID_ARGUMENT, "all dimensions must be positive");
    if (s.n_head % s.n_head_kv != 0)
        return make_error(INFER_ERR_INVALID_ARGUMENT,
                          "n_head %lld is not a multiple of n_head_kv %lld",
                          static_cast<long long>(s.n_head), static_cast<long long>(s.n_head_kv));
    if (s.head_dim % 2 != 0 && s.arch != "deepseek2") // deepseek2: qk_rope (validate_mla)
        return make_error(INFER_ERR_INVALID_ARGUMENT, "head_dim must be even (rope rotates pairs)");
    if (s.n_vocab < 3 + 256 + 1)
        return make_error(
            INFER_ERR_INVALID_ARGUMENT,
            "n_vocab must be at least 260 (3 special tokens, 256 byte tokens, 1 piece)");
    if (s.rope_freqs && s.arch != "llama")
        return make_error(INFER_ERR_INVALID_ARGUMENT,
                          "--rope-freqs is for llama only (llama.cpp rejects unused tensors)");
    if ((s.arch == "gemma3" || s.arch == "gpt-oss") && s.n_swa <= 0)
        return make_error(INFER_ERR_INVALID_ARGUMENT, "%s needs a sliding window (--n-swa)",
                          s.arch.c_str());
    const bool yarn = s.rope_yarn_factor >= 1 && s.rope_yarn_orig_ctx > 0;
    const bool no_yarn = s.rope_yarn_factor == 0 && s.rope_yarn_orig_ctx == 0;
    if (s.arch == "gpt-oss" ? !yarn : s.arch == "deepseek2" ? !(yarn || no_yarn) : !no_yarn)
        return make_error(INFER_ERR_INVALID_ARGUMENT,
                          "YaRN rope scaling is gpt-oss's (required) and deepseek2's, and it needs "
                          "a factor >= 1 and an original context");
    if (!(s.rope_yarn_mscale_all_dim >= 0) || (s.rope_yarn_mscale_all_dim > 0 && !yarn))
        return make_error(INFER_ERR_INVALID_ARGUMENT,
                          "the YaRN attention scale (mscale_all_dim) needs YaRN rope scaling");
    if (s.threads < 1) return make_error(INFER_ERR_INVALID_ARGUMENT, "threads must be >= 1");
    INFER_TRY(validate_experts(s));
    return validate_mla(s);
}

uint32_t recipe_file_type(std::string_view quant) {
    const Recipe *r = find_recipe(quant);
    return r ? r->file_type : 0;
}

Status plan_tensors(const Spec &s, std::vector<TensorPlan> *out) {
    INFER_TRY(validate(s));
    const Recipe &recipe = *find_recipe(s.quant);
    const bool q4_k_m = s.quant == "Q4_K_M", q3_k_m = s.quant == "Q3_K_M";
    const bool mixed = q4_k_m || q3_k_m; // llama.cpp's per-tensor rules, not one type
    const bool tied = s.tied || s.arch == "gemma3";
    const bool eight_experts = mixed && s.n_expert == 8; // llama.cpp's Mixtral rules
    const bool gpt_oss = s.arch == "gpt-oss", deepseek2 = s.arch == "deepseek2";
    // MXFP4_MOE: the 3-D expert tensors MXFP4, all else the recipe's Q8_0.
    const TypeId expert_type = s.quant == "MXFP4_MOE" ? TypeId::MXFP4 : recipe.type;
    // deepseek2's attn_k_b and attn_v_b: llama.cpp's MXFP4_MOE rule takes any 3-D tensor of more
    // than one matrix, so n_head > 1 makes them MXFP4 too.
    const TypeId mla_b_type = s.n_head > 1 ? expert_type : recipe.type;
    const auto u = [](int64_t v) { return static_cast<uint64_t>(v); };
    const int64_t q_dim = s.n_head * s.head_dim, kv_dim = s.n_head_kv * s.head_dim;
    out->clear();

    // A weight [ne0, ne1(, n_expert)]: values ~ N(0, 1/ne0), so each matmul keeps the variance of
    // its input (inputs are RMS-normalized), and logits (routers' too) have std ~1.
    const bool lattice_mix = s.quant == "IQ_MIX";
    auto weight = [&](std::string name, std::vector<uint64_t> dims, TypeId wanted) {
        if (lattice_mix && wanted != TypeId::F32) { // the kind: "blk.N.<kind>.weight" or "<kind>.weight"
            std::string_view kind(name);
            if (kind.starts_with("blk.")) kind.remove_prefix(kind.find('.', 4) + 1);
            wanted = lattice_mix_type(kind.substr(0, kind.find('.')));
        }
        TensorPlan t;
        t.name = std::move(name);
        t.wanted_type = static_cast<uint32_t>(wanted);
        t.type = static_cast<uint32_t>(fallback(wanted, dims[0]));
        t.init = Init::Weight;
        t.std = 1.0f / std::sqrt(static_cast<float>(dims[0]));
        t.dims = std::move(dims);
        out->push_back(std::move(t));
    };
    // F32 vectors, or with rows > 0 one per expert (gpt-oss's expert biases).
    auto vec = [&](std::string name, int64_t n, Init init, int64_t rows = 0) {
        TensorPlan t;
        t.name = std::move(name);
        t.type = t.wanted_type = static_cast<uint32_t>(TypeId::F32);
        t.dims = {u(n)};
        if (rows > 0) t.dims.push_back(u(rows));
        t.init = init;
        t.std = init == Init::Bias ? 0.02f : 0.1f; // norms: 1 +- 0.1
        out->push_back(std::move(t));
    };
    auto blk = [](int64_t l, const char *suffix, const char *kind = "weight") {
        return "blk." + std::to_string(l) + "." + suffix + "." + kind;
    };

    // Output-like tensor (output.weight, or token_embd when tied): Q6_K under Q4_K_M and Q3_K_M,
    // Q8_0 when its rows are not whole blocks of the default type.
    const TypeId output_type =
        !mixed ? recipe.type
               : (u(s.n_embd) % block_elems(recipe.type) != 0 ? TypeId::Q8_0 : TypeId::Q6_K);
    weight("token_embd.weight", {u(s.n_embd), u(s.n_vocab)}, tied ? output_type : recipe.type);
    // Router skew (synth_model.h): every token's value in the dimension set apart, the typical
    // size of an embedding element.
    const bool skewed = has_experts(s) && s.router_skew > 0;
    const uint64_t skew_dim = skewed ? u(router_skew_dim(s)) : 0;
    const float skew_input = out->back().std;
    if (skewed) {
        out->back().fixed_col = skew_dim;
        out->back().fixed_values = {skew_input};
    }
    if (s.rope_freqs) vec("rope_freqs.weight", s.head_dim / 2, Init::RopeFreqs);
    const uint64_t embd = u(s.n_embd), ff = u(s.n_ff), ff_exp = u(expert_ff_length(s));
    const uint64_t n_exp = u(s.n_expert), ff_sh = u(s.n_ff_shexp);
    // MoE: outputs into the residual leave the router's dimensions alone; routers read only them.
    const uint64_t r_dims = has_experts(s) ? u(router_dims(s)) : 0;
    auto leave_router_dims = [&] { out->back().zero_rows = r_dims; };
    auto leave_router_dims_bias = [&] { out->back().zero_cols = r_dims; };
    // Layer l's router ffn_gate_inp.
    auto add_router = [&](int64_t l) {
        weight(blk(l, "ffn_gate_inp"), {embd, n_exp}, TypeId::F32);
        const uint64_t random_dims = skewed ? r_dims - 1 : r_dims;
        out->back().cols = random_dims;
        out->back().balanced_rows = true;
        // Logits of std ~1 at the RMS router_rms(l): the router's input there is the
        // embedding (std 1/sqrt(n_embd) per element) over that RMS, on random_dims dimensions.
        out->back().std = static_cast<float>(router_rms(l)) *
                          std::sqrt(static_cast<float>(embd) / static_cast<float>(random_dims));
        if (skewed) { // the input there is skew_input over router_rms(l)
            out->back().fixed_col = skew_dim;
            for (double offset : router_skew_offsets(s, l))
                out->back().fixed_values.push_back(
                    static_cast<float>(offset * router_rms(l) / skew_input));
        }
    };
    // Layer l's stacked experts (with gpt-oss's biases).
    auto add_experts = [&](int64_t l, TypeId down_type) {
        weight(blk(l, "ffn_gate_exps"), {embd, ff_exp, n_exp}, expert_type);
        if (gpt_oss) vec(blk(l, "ffn_gate_exps", "bias"), s.n_ff_exp, Init::Bias, s.n_expert);
        weight(blk(l, "ffn_up_exps"), {embd, ff_exp, n_exp}, expert_type);
        if (gpt_oss) vec(blk(l, "ffn_up_exps", "bias"), s.n_ff_exp, Init::Bias, s.n_expert);
        weight(blk(l, "ffn_down_exps"), {ff_exp, embd, n_exp},
               expert_type == TypeId::MXFP4 ? expert_type : down_type);
        leave_router_dims();
        if (gpt_oss) {
            vec(blk(l, "ffn_down_exps", "bias"), s.n_embd, Init::Bias, s.n_expert);
            leave_router_dims_bias();
        }
    };
    for (int64_t l = 0; l < s.n_layer; ++l) {
        // attn_v, attn_output and ffn_down (all three kinds) of layer l under the recipe.
        TypeId v_type = recipe.type, out_type = recipe.type, down_type = recipe.type;
        if (q4_k_m && use_more_bits(l, s.n_layer)) v_type = down_type = TypeId::Q6_K;
        if (q3_k_m) {
            v_type = l < 2 ? TypeId::Q5_K : TypeId::Q4_K;
            out_type = TypeId::Q4_K;
            down_type = l < s.n_layer / 16 ? TypeId::Q5_K : TypeId::Q4_K;
        }
        vec(blk(l, "attn_norm"), s.n_embd, Init::Norm);
        if (deepseek2) { // multi-head latent attention (synth_model.h)
            const uint64_t heads = u(s.n_head), kv_lora = u(s.kv_lora_rank);
            const uint64_t nope = u(s.qk_nope_dim), rope = u(s.qk_rope_dim);
            const uint64_t q_mla = heads * (nope + rope);
            if (s.q_lora_rank > 0) {
                weight(blk(l, "attn_q_a"), {embd, u(s.q_lora_rank)}, recipe.type);
                vec(blk(l, "attn_q_a_norm"), s.q_lora_rank, Init::Norm);
                weight(blk(l, "attn_q_b"), {u(s.q_lora_rank), q_mla}, recipe.type);
            } else {
                weight(blk(l, "attn_q"), {embd, q_mla}, recipe.type);
            }
            weight(blk(l, "attn_kv_a_mqa"), {embd, kv_lora + rope}, recipe.type);
            vec(blk(l, "attn_kv_a_norm"), s.kv_lora_rank, Init::Norm);
            weight(blk(l, "attn_k_b"), {nope, kv_lora, heads}, mla_b_type);
            weight(blk(l, "attn_v_b"), {kv_lora, u(s.v_head_dim), heads}, mla_b_type);
            weight(blk(l, "attn_output"), {heads * u(s.v_head_dim), embd},
                   eight_experts ? TypeId::Q5_K : out_type);
            leave_router_dims();
            vec(blk(l, "ffn_norm"), s.n_embd, Init::Norm);
            if (l < s.n_dense_lead) { // a dense FFN, which writes the residual too
                weight(blk(l, "ffn_gate"), {embd, ff}, recipe.type);
                weight(blk(l, "ffn_up"), {embd, ff}, recipe.type);
                weight(blk(l, "ffn_down"), {ff, embd}, down_type);
                leave_router_dims();
                continue;
            }
            add_router(l);
            if (s.expert_gating == 2) { // see synth_model.h: a bias the RMS cannot reorder
                vec(blk(l, "exp_probs_b", "bias"), s.n_expert, Init::Pattern);
                out->back().fixed_values = selection_bias(s, l - s.n_dense_lead);
            }
            add_experts(l, down_type);
            const uint64_t sh = ff_exp * u(s.n_expert_shared); // the shared experts as one FFN
            weight(blk(l, "ffn_gate_shexp"), {embd, sh}, recipe.type);
            weight(blk(l, "ffn_up_shexp"), {embd, sh}, recipe.type);
            weight(blk(l, "ffn_down_shexp"), {sh, embd}, down_type);
            leave_router_dims();
            continue;
        }
        weight(blk(l, "attn_q"), {embd, u(q_dim)}, recipe.type);
        weight(blk(l, "attn_k"), {embd, u(kv_dim)}, eight_experts ? TypeId::Q8_0 : recipe.type);
        weight(blk(l, "attn_v"), {embd, u(kv_dim)}, eight_experts ? TypeId::Q8_0 : v_type);
        if (s.arch == "qwen2" || s.arch == "qwen2moe" || gpt_oss) {
            vec(blk(l, "attn_q", "bias"), q_dim, Init::Bias);
            vec(blk(l, "attn_k", "bias"), kv_dim, Init::Bias);
            vec(blk(l, "attn_v", "bias"), kv_dim, Init::Bias);
        }
        if (s.arch == "qwen3" || s.arch == "gemma3" || s.arch == "qwen3moe") { // per head
            vec(blk(l, "attn_q_norm"), s.head_dim, Init::Norm);
            vec(blk(l, "attn_k_norm"), s.head_dim, Init::Norm);
        }
        if (s.arch == "olmoe") { // over the whole projection
            vec(blk(l, "attn_q_norm"), q_dim, Init::Norm);
            vec(blk(l, "attn_k_norm"), kv_dim, Init::Norm);
        }
        weight(blk(l, "attn_output"), {u(q_dim), embd}, eight_experts ? TypeId::Q5_K : out_type);
        leave_router_dims();
        if (gpt_oss) {
            vec(blk(l, "attn_output", "bias"), s.n_embd, Init::Bias);
            leave_router_dims_bias();
            // One logit per head competing in the softmax (a learned sink): std 1, so that it
            // takes a varying share of the attention.
            vec(blk(l, "attn_sinks"), s.n_head, Init::Bias);
            out->back().std = 1.0f;
        }
        if (s.arch == "gemma3") vec(blk(l, "post_attention_norm"), s.n_embd, Init::Norm);
        // gpt-oss's FFN input norm is named post_attention_norm; it has no ffn_norm.
        vec(blk(l, gpt_oss ? "post_attention_norm" : "ffn_norm"), s.n_embd, Init::Norm);
        if (!has_experts(s)) {
            weight(blk(l, "ffn_gate"), {embd, ff}, recipe.type);
            weight(blk(l, "ffn_up"), {embd, ff}, recipe.type);
            weight(blk(l, "ffn_down"), {ff, embd}, down_type);
        } else {
            add_router(l);
            if (gpt_oss) { // see synth_model.h: a bias the RMS cannot reorder
                vec(blk(l, "ffn_gate_inp", "bias"), s.n_expert, Init::Pattern);
                out->back().fixed_values = {kRouterBiasFavoured, 0.0f};
            }
            add_experts(l, down_type);
        }
        if (ff_sh > 0) { // qwen2moe's shared expert and its sigmoid gate
            weight(blk(l, "ffn_gate_inp_shexp"), {embd}, TypeId::F32);
            weight(blk(l, "ffn_gate_shexp"), {embd, ff_sh}, recipe.type);
            weight(blk(l, "ffn_up_shexp"), {embd, ff_sh}, recipe.type);
            weight(blk(l, "ffn_down_shexp"), {ff_sh, embd}, down_type);
            leave_router_dims();
        }
        if (s.arch == "gemma3") vec(blk(l, "post_ffw_norm"), s.n_embd, Init::Norm);
    }
    vec("output_norm.weight", s.n_embd, Init::Norm);
    if (!tied) weight("output.weight", {embd, u(s.n_vocab)}, output_type);
    return Status::ok();
}

} // namespace infer::synth
