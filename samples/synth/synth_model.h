// Random-weight GGUF models of the architectures libinfer binds (llama, qwen2, qwen3, gemma3, and
// the mixture-of-experts qwen3moe, qwen2moe, olmoe, gpt-oss and llama with experts, i.e.
// Mixtral): a Spec (shape, quantization recipe, seed) becomes a file that both libinfer and
// llama.cpp load.
// Shared by the infer-synth tool and the unit tests.
//
// Mixture of experts, as llama.cpp (llama-cpp-python 0.3.36) reads it: per layer a router
// ffn_gate_inp [n_embd, n_expert] (F32 under every recipe, as convert_hf_to_gguf.py writes it)
// and the experts stacked in ffn_{gate,up}_exps [n_embd, n_ff_exp, n_expert] and ffn_down_exps
// [n_ff_exp, n_embd, n_expert]; qwen2moe adds a shared expert ffn_{gate,up,down}_shexp with a
// sigmoid gate ffn_gate_inp_shexp [n_embd]. Keys {arch}.expert_count and expert_used_count; the
// expert FFN length is {arch}.expert_feed_forward_length for qwen3moe, qwen2moe and gpt-oss (the
// qwen archs' feed_forward_length is the dense model's, unused; gpt-oss writes the experts' length
// in both, as convert_hf_to_gguf.py does), and feed_forward_length itself for llama and olmoe,
// which have no other key.
//
// gpt-oss (llama.cpp's LLM_ARCH_OPENAI_MOE, src/models/openai-moe.cpp): biases on q, k, v and the
// attention output, a learned attention sink per head (attn_sinks.weight [n_head], F32), the FFN
// input norm named post_attention_norm (no ffn_norm), a router bias ffn_gate_inp.bias [n_expert]
// and expert biases ffn_{gate,up}_exps.bias [n_ff_exp, n_expert] and ffn_down_exps.bias [n_embd,
// n_expert]; no tied output. Even layers attend over a sliding window of n_swa, odd layers over
// everything (llama.cpp's swa pattern 2); rope is YaRN-scaled (rope.scaling.type "yarn", factor,
// original_context_length). The router picks the top k of the biased logits and weighs them by a
// softmax over those k (SOFTMAX_WEIGHT); the experts' activation is swiglu_oai.
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
// chosen experts still depend on the whole hidden state through the norm. Biases that add to the
// residual (gpt-oss's attn_output.bias and ffn_down_exps.bias) are zero in those dimensions too.
// gpt-oss's router bias cannot be random: the router input is RMS-normalized, so the token's part
// of the logits scales with 1 / RMS while a bias does not, and a random bias would make the
// ranking depend on the hidden state's RMS. It is +16 for even experts and 0 for odd ones
// instead (validate() asks for n_expert_used <= n_expert / 2): the k chosen always come from the
// even half (logits of std ~1 never close a gap of 16), among which the bias is equal, so the
// ranking there is still the embedding's, exact; the softmax over the k cancels the equal bias;
// and an implementation that drops the bias picks odd experts too and fails the goldens. The
// routers are scaled for a hidden-state RMS of router_rms(layer), which grows like
// sqrt(1 + layer) as each layer adds its outputs to the residual, so that the weights among the
// chosen experts are neither one-hot nor equal at any depth. tests/unit/test_synth.cpp checks
// the zeros and measures the spread over the vocabulary.
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
    std::string arch = "llama"; // llama, qwen2, qwen3, gemma3, qwen3moe, qwen2moe, olmoe, gpt-oss
    std::string preset = "custom";
    int64_t n_vocab = 512;
    int64_t n_embd = 128;
    int64_t n_layer = 2;
    int64_t n_head = 4;
    int64_t n_head_kv = 2;
    int64_t n_ff = 384;
    int64_t head_dim = 32;
    int64_t n_ctx = 2048; // {arch}.context_length
    int64_t n_swa = 0;    // gemma3 and gpt-oss sliding window
    float rope_base = 10000.0f;
    // gpt-oss's YaRN rope scaling (apply_arch_defaults: factor 32 over an original context of
    // 4096, the released models'); 0 for the other archs, which have none.
    float rope_yarn_factor = 0;
    int64_t rope_yarn_orig_ctx = 0;
    float norm_eps = 1e-5f;
    bool rope_freqs = false; // llama only: llama3-style rope_freqs.weight
    bool tied = false;       // no output.weight (gemma3 always)
    // Mixture of experts: required for qwen3moe, qwen2moe, olmoe and gpt-oss; llama with
    // n_expert > 0 is Mixtral. 0 elsewhere.
    int64_t n_expert = 0;      // {arch}.expert_count
    int64_t n_expert_used = 0; // {arch}.expert_used_count (top-k)
    int64_t n_ff_exp = 0;      // one expert's FFN length: qwen3moe, qwen2moe, gpt-oss (else n_ff)
    int64_t n_ff_shexp = 0;    // qwen2moe's shared expert FFN length
    double router_skew = 0;    // Zipf-like exponent of expert popularity (see above); 0: even
    std::string quant = "F32"; // a recipe: a type name, Q4_K_M, Q3_K_M or MXFP4_MOE
    uint64_t seed = 0;
    bool random_blocks = false; // quant bits drawn directly (fast), not quantized from floats
    int threads = 1;
};

// Presets: "tiny" (CI size, keeps spec->arch; an MoE arch gets a few MB of experts),
// "smollm2-135m", "llama-1b", "llama-8b", "qwen3-0.6b", "gemma3-270m", "qwen3-30b-a3b",
// "qwen2-moe-a2.7b", "olmoe-1b-7b", "mixtral-8x7b", "gpt-oss-20b", "gpt-oss-120b" (these set the
// arch). Sets the shape, experts, rope base, eps, sliding window and tying.
Status apply_preset(std::string_view name, Spec *spec);
// "tiny, smollm2-135m, ..." for usage text.
std::string preset_names();
// "F32, F16, ..., Q4_K_M" for usage text.
std::string recipe_names();

// The llama_ftype id written as general.file_type for a recipe (0 for an unknown one).
uint32_t recipe_file_type(std::string_view quant);

// Sets the per-arch defaults (rope base, eps, sliding window, YaRN) for an arch chosen without a
// preset.
void apply_arch_defaults(Spec *spec);

// Whether the file has experts (ffn_*_exps) rather than a dense FFN.
inline bool has_experts(const Spec &spec) { return spec.n_expert > 0; }
// One expert's FFN length: n_ff_exp where the arch has its own key for it, else n_ff.
int64_t expert_ff_length(const Spec &spec);
// gpt-oss's router bias (see above): this for even experts, 0 for odd ones.
inline constexpr float kRouterBiasFavoured = 16.0f;
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

// Pattern: element i is fixed_values[i % fixed_values.size()] (gpt-oss's router bias).
enum class Init { Weight, Norm, Bias, RopeFreqs, Pattern };

struct TensorPlan {
    std::string name;
    uint32_t type = 0;          // type written
    uint32_t wanted_type = 0;   // type the recipe asked for (differs after a fallback)
    std::vector<uint64_t> dims; // ggml order
    Init init = Init::Weight;
    float std = 0; // of the values (Weight, Bias; attention sinks are biases of std 1)
    // Weights only (see the routing note above): rows whose output index (row % dims[1]) is
    // below zero_rows are zero; with cols > 0, elements past the first cols of each row are zero.
    uint64_t zero_rows = 0;
    uint64_t cols = 0;
    // Biases into the residual (see the routing note): each row's first zero_cols elements are 0.
    uint64_t zero_cols = 0;
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
