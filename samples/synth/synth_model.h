// Random-weight GGUF models of the architectures libinfer binds (llama, qwen2, qwen3, gemma3):
// a Spec (shape, quantization recipe, seed) becomes a file that both libinfer and llama.cpp
// load. Shared by the infer-synth tool and the unit tests.
//
// Determinism: every tensor is cut into fixed chunks of rows, each generated from its own seed
// derived from (seed, tensor index, chunk index), so the bytes depend on the Spec only, never on
// the number of threads. Values come from core/random.h (integer-only), so no libm either,
// except for the rope_freqs factors (a closed formula in double).
#pragma once

#include "core/status.h"

#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

namespace infer::synth {

struct Spec {
    std::string arch = "llama"; // llama, qwen2, qwen3, gemma3
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
    bool rope_freqs = false;   // llama only: llama3-style rope_freqs.weight
    bool tied = false;         // no output.weight (gemma3 always)
    std::string quant = "F32"; // a recipe: a type name, or Q4_K_M
    uint64_t seed = 0;
    bool random_blocks = false; // quant bits drawn directly (fast), not quantized from floats
    int threads = 1;
};

// Presets: "tiny" (CI size, keeps spec->arch), "smollm2-135m", "llama-1b", "llama-8b",
// "qwen3-0.6b", "gemma3-270m" (these set the arch). Sets the shape, rope base, eps and tying.
Status apply_preset(std::string_view name, Spec *spec);
// "tiny, smollm2-135m, ..." for usage text.
std::string preset_names();
// "F32, F16, ..., Q4_K_M" for usage text.
std::string recipe_names();

// The llama_ftype id written as general.file_type for a recipe (0 for an unknown one).
uint32_t recipe_file_type(std::string_view quant);

// Sets the per-arch defaults (rope base, eps, sliding window) for an arch chosen without a preset.
void apply_arch_defaults(Spec *spec);

Status validate(const Spec &spec);

enum class Init { Weight, Norm, Bias, RopeFreqs };

struct TensorPlan {
    std::string name;
    uint32_t type = 0;          // type written
    uint32_t wanted_type = 0;   // type the recipe asked for (differs after a fallback)
    std::vector<uint64_t> dims; // ggml order
    Init init = Init::Weight;
    float std = 0; // of the values (Weight, Bias)
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
