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
#include "synth/synth_model.h"

#include <cmath>

#include "core/types.h"

namespace infer::synth {

namespace {

struct Preset {
    const char *name;
    const char *arch; // nullptr: keep the spec's
    int64_t n_vocab, n_embd, n_layer, n_head, n_head_kv, n_ff, head_dim, n_ctx, n_swa;
    float rope_base, norm_eps;
    bool tied, rope_freqs;
};

// Published configurations of the models named (config.json of each on Hugging Face).
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
};

struct Recipe {
    const char *name;
    TypeId type;        // default type of 2-D weights
    uint32_t file_type; // llama_ftype written as general.file_type
};

constexpr Recipe kRecipes[] = {
    {"F32", TypeId::F32, 0},    {"F16", TypeId::F16, 1},      {"BF16", TypeId::BF16, 32},
    {"Q8_0", TypeId::Q8_0, 7},  {"Q4_0", TypeId::Q4_0, 2},    {"Q4_1", TypeId::Q4_1, 3},
    {"Q5_0", TypeId::Q5_0, 8},  {"Q5_1", TypeId::Q5_1, 9},    {"Q2_K", TypeId::Q2_K, 10},
    {"Q3_K", TypeId::Q3_K, 11}, {"Q4_K", TypeId::Q4_K, 14},   {"Q5_K", TypeId::Q5_K, 16},
    {"Q6_K", TypeId::Q6_K, 18}, {"Q4_K_M", TypeId::Q4_K, 15},
};
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
    default:
        break;
    }
    return ne0 % block_elems(f) == 0 ? f : TypeId::F16;
}

} // namespace

std::string preset_names() {
    std::string s;
    for (const Preset &p : kPresets)
        s += (s.empty() ? "" : ", ") + std::string(p.name);
    return s;
}

std::string recipe_names() {
    std::string s;
    for (const Recipe &r : kRecipes)
        s += (s.empty() ? "" : ", ") + std::string(r.name);
    return s;
}

void apply_arch_defaults(Spec *spec) {
    spec->rope_base = spec->arch == "llama" ? 10000.0f : 1000000.0f;
    spec->norm_eps = (spec->arch == "qwen3" || spec->arch == "gemma3") ? 1e-6f : 1e-5f;
    if (spec->arch == "gemma3") {
        spec->tied = true;
        if (spec->n_swa == 0) spec->n_swa = 8; // small, so short test prompts cross the window
    }
}

Status apply_preset(std::string_view name, Spec *spec) {
    for (const Preset &p : kPresets) {
        if (name != p.name) continue;
        if (p.arch) spec->arch = p.arch;
        spec->preset = p.name;
        apply_arch_defaults(spec);
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
        // tiny gemma3 gets six layers so that one global layer follows five sliding ones.
        if (name == "tiny" && spec->arch == "gemma3") spec->n_layer = 6;
        return Status::ok();
    }
    return make_error(INFER_ERR_INVALID_ARGUMENT, "unknown preset '%.*s' (presets: %s)",
                      static_cast<int>(name.size()), name.data(), preset_names().c_str());
}

Status validate(const Spec &s) {
    if (s.arch != "llama" && s.arch != "qwen2" && s.arch != "qwen3" && s.arch != "gemma3")
        return make_error(INFER_ERR_INVALID_ARGUMENT,
                          "unknown arch '%s' (llama, qwen2, qwen3, gemma3)", s.arch.c_str());
    if (!find_recipe(s.quant))
        return make_error(INFER_ERR_INVALID_ARGUMENT, "unknown quant '%s' (recipes: %s)",
                          s.quant.c_str(), recipe_names().c_str());
    if (s.n_embd <= 0 || s.n_layer <= 0 || s.n_head <= 0 || s.n_head_kv <= 0 || s.n_ff <= 0 ||
        s.head_dim <= 0 || s.n_ctx <= 0)
        return make_error(INFER_ERR_INVALID_ARGUMENT, "all dimensions must be positive");
    if (s.n_head % s.n_head_kv != 0)
        return make_error(INFER_ERR_INVALID_ARGUMENT,
                          "n_head %lld is not a multiple of n_head_kv %lld",
                          static_cast<long long>(s.n_head), static_cast<long long>(s.n_head_kv));
    if (s.head_dim % 2 != 0)
        return make_error(INFER_ERR_INVALID_ARGUMENT, "head_dim must be even (rope rotates pairs)");
    if (s.n_vocab < 3 + 256 + 1)
        return make_error(
            INFER_ERR_INVALID_ARGUMENT,
            "n_vocab must be at least 260 (3 special tokens, 256 byte tokens, 1 piece)");
    if (s.rope_freqs && s.arch != "llama")
        return make_error(INFER_ERR_INVALID_ARGUMENT,
                          "--rope-freqs is for llama only (llama.cpp rejects unused tensors)");
    if (s.arch == "gemma3" && s.n_swa <= 0)
        return make_error(INFER_ERR_INVALID_ARGUMENT, "gemma3 needs a sliding window (--n-swa)");
    if (s.threads < 1) return make_error(INFER_ERR_INVALID_ARGUMENT, "threads must be >= 1");
    return Status::ok();
}

uint32_t recipe_file_type(std::string_view quant) {
    const Recipe *r = find_recipe(quant);
    return r ? r->file_type : 0;
}

Status plan_tensors(const Spec &s, std::vector<TensorPlan> *out) {
    INFER_TRY(validate(s));
    const Recipe &recipe = *find_recipe(s.quant);
    const bool q4_k_m = s.quant == "Q4_K_M";
    const bool tied = s.tied || s.arch == "gemma3";
    const auto u = [](int64_t v) { return static_cast<uint64_t>(v); };
    const int64_t q_dim = s.n_head * s.head_dim, kv_dim = s.n_head_kv * s.head_dim;
    out->clear();

    // A 2-D weight [ne0, ne1]: values ~ N(0, 1/ne0), so each matmul keeps the variance of its
    // input (inputs are RMS-normalized), and logits have std ~1.
    auto weight = [&](std::string name, int64_t ne0, int64_t ne1, TypeId wanted) {
        TensorPlan t;
        t.name = std::move(name);
        t.wanted_type = static_cast<uint32_t>(wanted);
        t.type = static_cast<uint32_t>(fallback(wanted, u(ne0)));
        t.dims = {u(ne0), u(ne1)};
        t.init = Init::Weight;
        t.std = 1.0f / std::sqrt(static_cast<float>(ne0));
        out->push_back(std::move(t));
    };
    auto vec = [&](std::string name, int64_t n, Init init) {
        TensorPlan t;
        t.name = std::move(name);
        t.type = t.wanted_type = static_cast<uint32_t>(TypeId::F32);
        t.dims = {u(n)};
        t.init = init;
        t.std = init == Init::Bias ? 0.02f : 0.1f; // norms: 1 +- 0.1
        out->push_back(std::move(t));
    };
    auto blk = [](int64_t l, const char *suffix, const char *kind = "weight") {
        return "blk." + std::to_string(l) + "." + suffix + "." + kind;
    };

    // Output-like tensor (output.weight, or token_embd when tied): Q6_K under Q4_K_M, Q8_0 when
    // its rows are not whole blocks of the default type.
    const TypeId output_type =
        !q4_k_m ? recipe.type
                : (u(s.n_embd) % block_elems(recipe.type) != 0 ? TypeId::Q8_0 : TypeId::Q6_K);
    weight("token_embd.weight", s.n_embd, s.n_vocab, tied ? output_type : recipe.type);
    if (s.rope_freqs) vec("rope_freqs.weight", s.head_dim / 2, Init::RopeFreqs);
    for (int64_t l = 0; l < s.n_layer; ++l) {
        const TypeId more = q4_k_m && use_more_bits(l, s.n_layer) ? TypeId::Q6_K : recipe.type;
        vec(blk(l, "attn_norm"), s.n_embd, Init::Norm);
        weight(blk(l, "attn_q"), s.n_embd, q_dim, recipe.type);
        weight(blk(l, "attn_k"), s.n_embd, kv_dim, recipe.type);
        weight(blk(l, "attn_v"), s.n_embd, kv_dim, more);
        if (s.arch == "qwen2") {
            vec(blk(l, "attn_q", "bias"), q_dim, Init::Bias);
            vec(blk(l, "attn_k", "bias"), kv_dim, Init::Bias);
            vec(blk(l, "attn_v", "bias"), kv_dim, Init::Bias);
        }
        if (s.arch == "qwen3" || s.arch == "gemma3") {
            vec(blk(l, "attn_q_norm"), s.head_dim, Init::Norm);
            vec(blk(l, "attn_k_norm"), s.head_dim, Init::Norm);
        }
        weight(blk(l, "attn_output"), q_dim, s.n_embd, recipe.type);
        if (s.arch == "gemma3") vec(blk(l, "post_attention_norm"), s.n_embd, Init::Norm);
        vec(blk(l, "ffn_norm"), s.n_embd, Init::Norm);
        weight(blk(l, "ffn_gate"), s.n_embd, s.n_ff, recipe.type);
        weight(blk(l, "ffn_up"), s.n_embd, s.n_ff, recipe.type);
        weight(blk(l, "ffn_down"), s.n_ff, s.n_embd, more);
        if (s.arch == "gemma3") vec(blk(l, "post_ffw_norm"), s.n_embd, Init::Norm);
    }
    vec("output_norm.weight", s.n_embd, Init::Norm);
    if (!tied) weight("output.weight", s.n_embd, s.n_vocab, output_type);
    return Status::ok();
}

} // namespace infer::synth
