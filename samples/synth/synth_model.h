// Random-weight GGUF models of the architectures libinfer binds (llama, qwen2, qwen3, gemma3, and
// the mixture-of-experts qwen3moe, qwen2moe, olmoe and llama with experts, i.e. Mixtral): a Spec
// (shape, quantization recipe, seed) becomes a file that both libinfer and llama.cpp load.
// Shared by the infer-synth tool and the unit tests.
//
// Mixture of experts, as llama.cpp (llama-cpp-python 0.3.36) reads it: per layer a router
// ffn_gate_inp [n_embd, n_expert] (F32 under every recipe, as convert_hf_to_gguf.py writes it)
// and the experts stacked in ffn_{gate,up}_exps [n_embd, n_ff_exp, n_expert] and ffn_down_exps
// [n_ff_exp, n_embd, n_expert]; qwen2moe adds a shared expert ffn_{gate,up,down}_shexp with a
// sigmoid gate ffn_gate_inp_shexp [n_embd]. Keys {arch}.expert_count and expert_used_count; the
// expert FFN length is {arch}.expert_feed_forward_length for qwen3moe and qwen2moe (whose
// feed_forward_length is the dense model's, unused), and feed_forward_length itself for llama and
// olmoe, which have no other key.
//
// Routing that every implementation agrees on: two correct implementations differ by ~1-2% in
// their hidden states (8-bit activation rounding, redrawn by tiny upstream differences such as an
// F16 KV cache), enough to flip a top-k choice at a few tokens in a hundred, and a flipped choice
// changes that token's output completely; and a random router reading the whole hidden state
// favours a few experts, because attention gives all positions a common component. So in MoE
// files the first router_dims(spec) = n_embd / 8 residual dimensions carry the token embedding
// alone: the rows of attn_output, ffn_down_exps and ffn_down_shexp that write them are zero, and
// the routers read only them (their other columns are zero). Each layer's router then ranks the
// experts from the token's embedding, exactly in any implementation (RMS normalization only
// scales the logits), and spreads tokens as evenly as random embeddings do; the weights among the
// chosen experts still depend on the whole hidden state through the norm. The routers are
// scaled for a hidden-state RMS of router_rms(layer), which grows like sqrt(1 + layer) as each
// layer adds its outputs to the residual, so that the weights among the chosen experts are
// neither one-hot nor equal at any depth. tests/unit/test_synth.cpp checks the zeros and
// measures the spread over the vocabulary.
//
// Router skew (Spec::router_skew S > 0, for expert offloading, whose gains depend on how unevenly
// real routers pick experts): the last router dimension, router_skew_dim(spec), is set apart.
// Every token embedding holds the same value there, and each layer's router row of expert e holds
// there what turns it into a logit offset of -c S ln(1 + rank(e)) at the RMS router_rms(layer),
// rank(e) being e's place in a random ranking per layer (from the seed). The other router
// dimensions still rank experts by token as above, with logits of std ~1, so routing stays
// decisive; the offsets make expert popularity Zipf-like with exponent ~S (top-k over logits plus
// log-probabilities is sampling by popularity, exactly so with Gumbel noise; c = sqrt(6) / pi
// matches the noise's std to Gumbel's). With S = 0 nothing
// changes: the files are byte-identical to those written before the option existed.
//
// Determinism: every tensor is cut into fixed chunks of rows, each generated from its own seed
// derived from (seed, tensor index, chunk index), so the bytes depend on the Spec only, never on
// the number of threads. Values come from core/random.h (integer-only), so no libm either,
// except for the rope_freqs factors and the router skew offsets (closed formulas in double).
#pragma once

#include "core/status.h"

#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

namespace infer::synth {

struct Spec {
    std::string arch = "llama"; // llama, qwen2, qwen3, gemma3, qwen3moe, qwen2moe, olmoe
    std::string preset = "custom";
    int64_t n_vocab = 512;
    int64_t n_embd = 128;
    int64_t n_layer = 2;
    int64_t n_head = 4;
    int64_t n_head_kv = 2;
    int64_t n_ff = 384;
    int64_t head_dim = 32;
    int64_t n_ctx = 2048; // {arch}.context_length
    int64_t n_swa = 0;    // gemma3 sliding window
    float rope_base = 10000.0f;
    float norm_eps = 1e-5f;
    bool rope_freqs = false; // llama only: llama3-style rope_freqs.weight
    bool tied = false;       // no output.weight (gemma3 always)
    // Mixture of experts: required for qwen3moe, qwen2moe and olmoe; llama with n_expert > 0 is
    // Mixtral. 0 elsewhere.
    int64_t n_expert = 0;      // {arch}.expert_count
    int64_t n_expert_used = 0; // {arch}.expert_used_count (top-k)
    int64_t n_ff_exp = 0;   // one expert's FFN length: qwen3moe and qwen2moe (n_ff for the others)
    int64_t n_ff_shexp = 0; // qwen2moe's shared expert FFN length
    double router_skew = 0; // Zipf-like exponent of expert popularity (see above); 0: even
    std::string quant = "F32"; // a recipe: a type name, Q4_K_M or Q3_K_M
    uint64_t seed = 0;
    bool random_blocks = false; // quant bits drawn directly (fast), not quantized from floats
    int threads = 1;
};

// Presets: "tiny" (CI size, keeps spec->arch; an MoE arch gets a few MB of experts),
// "smollm2-135m", "llama-1b", "llama-8b", "qwen3-0.6b", "gemma3-270m", "qwen3-30b-a3b",
// "qwen2-moe-a2.7b", "olmoe-1b-7b", "mixtral-8x7b" (these set the arch). Sets the shape, experts,
// rope base, eps and tying.
Status apply_preset(std::string_view name, Spec *spec);
// "tiny, smollm2-135m, ..." for usage text.
std::string preset_names();
// "F32, F16, ..., Q4_K_M" for usage text.
std::string recipe_names();

// The llama_ftype id written as general.file_type for a recipe (0 for an unknown one).
uint32_t recipe_file_type(std::string_view quant);

// Sets the per-arch defaults (rope base, eps, sliding window) for an arch chosen without a preset.
void apply_arch_defaults(Spec *spec);

// Whether the file has experts (ffn_*_exps) rather than a dense FFN.
inline bool has_experts(const Spec &spec) { return spec.n_expert > 0; }
// One expert's FFN length: n_ff_exp where the arch has its own key for it, else n_ff.
int64_t expert_ff_length(const Spec &spec);
// The residual dimensions the routers read (see above): n_embd / 8, at least 1.
int64_t router_dims(const Spec &spec);
// The hidden-state RMS at which layer `layer`'s router logits have std ~1: 0.5 sqrt(1 + layer).
double router_rms(int64_t layer);
// With router skew, the router dimension set apart for the offsets: the last one.
int64_t router_skew_dim(const Spec &spec);
// With router skew, layer `layer`'s logit offset per expert: -(sqrt(6) / pi) S ln(1 + rank), for
// a random ranking of the experts per layer drawn from the seed.
std::vector<double> router_skew_offsets(const Spec &spec, int64_t layer);

Status validate(const Spec &spec);

enum class Init { Weight, Norm, Bias, RopeFreqs };

struct TensorPlan {
    std::string name;
    uint32_t type = 0;          // type written
    uint32_t wanted_type = 0;   // type the recipe asked for (differs after a fallback)
    std::vector<uint64_t> dims; // ggml order
    Init init = Init::Weight;
    float std = 0; // of the values (Weight, Bias)
    // Weights only (see the routing note above): rows whose output index (row % dims[1]) is
    // below zero_rows are zero; with cols > 0, elements past the first cols of each row are zero.
    uint64_t zero_rows = 0;
    uint64_t cols = 0;
    // Routers (cols > 0): each row's first cols values centred and rescaled to norm
    // std * sqrt(cols), so that no expert is favoured by a longer row (over 16 dimensions row
    // norms vary by ~18%, and the experts' loads by more) or by a mean common to all inputs.
    bool balanced_rows = false;
    // Router skew (see above): when fixed_values is not empty, element fixed_col of row r is
    // fixed_values[r % fixed_values.size()] (one value: every row's), whatever else is drawn.
    uint64_t fixed_col = 0;
    std::vector<float> fixed_values;
};

// The tensors of the model in file order, with the recipe applied (see synth_recipe.cpp).
Status plan_tensors(const Spec &spec, std::vector<TensorPlan> *out);

struct Stats {
    size_t n_tensors = 0;
    uint64_t n_bytes = 0;
    double seconds = 0;
    std::vector<std::string> notes; // fallbacks and other decisions worth telling the user
};

Status write_model(const Spec &spec, const char *path, Stats *stats);
Status write_model(const Spec &spec, FILE *file, Stats *stats);

} // namespace infer::synth
