// Random-weight GGUF models of the architectures libinfer binds (llama, qwen2, qwen3, gemma3, and
// the mixture-of-experts qwen3moe, qwen2moe, olmoe, gpt-oss, deepseek2 and llama with experts,
// i.e. Mixtral): a Spec (shape, quantization recipe, seed) becomes a file that both libinfer and
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
// deepseek2 (DeepSeek-V2, V2-Lite, V3; llama.cpp's src/models/deepseek2.cpp, keys as
// convert_hf_to_gguf.py's DeepseekV2Model writes them): multi-head latent attention. Per layer
// attn_kv_a_mqa [n_embd, kv_lora + qk_rope] (the compressed KV and the shared rope key),
// attn_kv_a_norm [kv_lora], the per-head up-projections split as llama.cpp's MLA path wants them,
// attn_k_b [qk_nope, kv_lora, n_head] and attn_v_b [kv_lora, v_head, n_head], and attn_output
// [n_head * v_head, n_embd]; the query is attn_q [n_embd, n_head * (qk_nope + qk_rope)] when
// q_lora_rank is 0 (V2-Lite), else attn_q_a [n_embd, q_lora] -> attn_q_a_norm -> attn_q_b
// [q_lora, n_head * (qk_nope + qk_rope)] (V3). Keys: attention.q_lora_rank (written as 0 without
// a q LoRA: llama.cpp requires it unless the model has 26 or 27 layers), kv_lora_rank,
// key_length = kv_lora + qk_rope and value_length = kv_lora (the MQA view of the latent cache),
// key_length_mla = qk_nope + qk_rope, value_length_mla = v_head, head_count_kv = 1,
// rope.dimension_count = qk_rope. The first leading_dense_block_count layers have a dense FFN
// ffn_{gate,up,down} of feed_forward_length; the others experts of expert_feed_forward_length and
// expert_shared_count shared experts in one ffn_{gate,up,down}_shexp of n_ff_exp * n_shared, no
// gate. Routing: expert_gating_func 1 (softmax over all experts, V2) or 2 (sigmoid, V3, with a
// selection bias exp_probs_b.bias [n_expert] added only to choose), optional groups
// (expert_group_count, expert_group_used_count: keep the groups with the best sums of their top
// two, then the top k within them), expert_weights_norm (renormalize the k weights),
// expert_weights_scale. YaRN rope as gpt-oss's plus rope.scaling.yarn_log_multiplier, written as
// convert_hf_to_gguf.py does: 0.1 * mscale_all_dim (llama.cpp divides it by 0.1 again).
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
// deepseek2's selection bias (sigmoid gating) has the same problem: sigmoid(logit) + bias ranks
// experts by an order that depends on the logits' scale unless the bias is equal among the
// candidates. Since a sigmoid lies in (0, 1), bias steps of 2 or more decide every comparison
// they take part in, and the sigmoid (monotone, so exactly the embedding's order) decides among
// equal biases. Without groups: +kSelectionBias on even experts, 0 on odd ones (n_expert_used <=
// n_expert / 2), as gpt-oss's. With G groups of which U are kept: in MoE layer m the groups m,
// m + 1, ..., m + U - 1 (mod G) are favoured, all their experts at +kSelectionBias (6); every other
// group has one leader at kSelectionBias + 2 (8; expert m mod group size) and the rest at 0. A
// favoured group's score (sum of its top two) is then in (12, 14), another group's in (8, 10):
// the U favoured groups always win, and the k experts are the top k of their sigmoids among the
// favoured groups' experts, exact. Leaving out the groups instead picks the leaders (8 + s > 6 +
// s'), and leaving out the bias picks by the sigmoids alone over all experts: both change the
// chosen experts, so an implementation missing either fails a golden test. The weights use the
// unbiased sigmoids, as llama.cpp's. The routers are scaled for a hidden-state RMS of
// router_rms(layer), which grows like
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
    // llama, qwen2, qwen3, gemma3, qwen3moe, qwen2moe, olmoe, gpt-oss, deepseek2
    std::string arch = "llama";
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
    // deepseek2's YaRN attention scale: mscale_all_dim of config.json (the file holds 0.1 times
    // it, as convert_hf_to_gguf.py writes it); 0: no yarn_log_multiplier key.
    float rope_yarn_mscale_all_dim = 0;
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
    // deepseek2 only (see above; 0 elsewhere). head_dim and n_head_kv are unused there (the key
    // head is qk_nope + qk_rope, the latent cache has one head).
    int64_t q_lora_rank = 0;     // 0: attn_q, no q LoRA (V2-Lite)
    int64_t kv_lora_rank = 0;    // the latent KV width
    int64_t qk_nope_dim = 0;     // per-head key/query part without rope
    int64_t qk_rope_dim = 0;     // per-head rope part (shared by the heads in the key)
    int64_t v_head_dim = 0;      // per-head value width
    int64_t n_dense_lead = 0;    // leading layers with a dense FFN of n_ff
    int64_t n_expert_shared = 0; // shared experts (one FFN of n_ff_exp * n_expert_shared)
    int64_t n_expert_groups = 0; // 0: no key (no groups)
    int64_t n_group_used = 0;
    int expert_gating = 0;            // 1 softmax, 2 sigmoid (with the selection bias)
    bool expert_weights_norm = false; // key written only when true, as convert_hf_to_gguf.py
    float expert_weights_scale = 0;   // 0: no key
    std::string quant = "F32"; // a recipe: a type name, Q4_K_M, Q3_K_M or MXFP4_MOE
    uint64_t seed = 0;
    bool random_blocks = false; // quant bits drawn directly (fast), not quantized from floats
    int threads = 1;
};

// Presets: "tiny" (CI size, keeps spec->arch; an MoE arch gets a few MB of experts),
// "smollm2-135m", "llama-1b", "llama-8b", "qwen3-0.6b", "gemma3-270m", "qwen3-30b-a3b",
// "qwen2-moe-a2.7b", "olmoe-1b-7b", "mixtral-8x7b", "gpt-oss-20b", "gpt-oss-120b",
// "deepseek-v2-lite", "deepseek-v3" (these set the arch). "tiny" with deepseek2 is V2-Lite-like;
// "tiny-v3" (deepseek2 only; sets the arch) is V3-like: q LoRA, sigmoid gating with the selection
// bias, groups, normalized and scaled weights. Sets the shape, experts, rope base, eps, sliding
// window and tying.
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
// deepseek2's selection bias (see above): favoured experts; group leaders get 2 more.
inline constexpr float kSelectionBias = 6.0f;
// deepseek2's selection bias of MoE layer `moe_layer` (0 for the first layer with experts).
std::vector<float> selection_bias(const Spec &spec, int64_t moe_layer);
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

// Pattern: element i is fixed_values[i % fixed_values.size()] (gpt-oss's router bias,
// deepseek2's selection bias).
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
