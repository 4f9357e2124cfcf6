// Whole models on the Vulkan backend through the C API (in CI on lavapipe, Mesa's Vulkan driver
// on the CPU): Vulkan against our CPU path on synthetic models of every weight type the shaders
// read and every architecture, mixtures of experts included; the llama.cpp goldens of every
// architecture (synthetic) through Vulkan; split placements (layers, exps=CPU, a type
// the shaders cannot read left on the CPU); greedy SmolLM2 text equal to the CPU's; state save
// and load with the KV cache on the device (a latent-attention cache too); device-memory budgets.
#include <doctest/doctest.h>

#include "device_models.h"
#include "expert_budget.h"

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

using namespace infer::test::device;

const infer_model_params kVulkan = on(INFER_BACKEND_VULKAN);
const char *kTiny = "--preset tiny --n-embd 256 --n-ff 512 --head-dim 64 --seed 5";
// DeepSeek-V3-like (multi-head latent attention), float weights.
const char *kDeepseekV3 = "--arch deepseek2 --preset tiny-v3 --quant F16 --seed 28";

infer_model_params vulkan_with(int32_t n_gpu_layers, const infer_tensor_override *override_) {
    infer_model_params p = on(INFER_BACKEND_VULKAN);
    p.n_gpu_layers = n_gpu_layers;
    if (override_) {
        p.overrides = override_;
        p.n_overrides = 1;
    }
    return p;
}

const infer_tensor_override kExpertsOnCpu = {"exps", INFER_BACKEND_CPU};
// Vulkan against the CPU on quantized synthetic DeepSeek models, whose random latent attention
// amplifies the 8-bit activation rounding the CPU does and Vulkan does not.
constexpr double kChaoticModelBound = 0.25;

// The synthetic model `name` (infer-synth `synth_args`) loaded on Vulkan runs every node there:
// none on the CPU, one segment.
void runs_wholly_on_vulkan(const std::string &name, const std::string &synth_args) {
    ModelPtr model = load(infer::test::synthetic_model(name, synth_args), kVulkan);
    const infer_placement p = placement_of(model.get());
    CHECK_MESSAGE(p.backends[0].n_nodes == 0, name, ": ", p.backends[0].n_nodes,
                  " nodes on the CPU");
    CHECK(p.n_segments == 1);
}

// Greedy tokens after `prompt`, one decode step at a time.
std::vector<int32_t> greedy(infer_context *ctx, const std::vector<int32_t> &prompt, int steps) {
    REQUIRE(infer_decode(ctx, prompt.data(), static_cast<int32_t>(prompt.size())) == INFER_OK);
    std::vector<int32_t> out;
    for (int i = 0; i < steps; ++i) {
        const std::vector<float> l = logits_at(ctx, -1);
        const int32_t next = infer::test::argmax(l.data(), l.size());
        out.push_back(next);
        REQUIRE(infer_decode(ctx, &next, 1) == INFER_OK);
    }
    return out;
}

} // namespace

TEST_CASE("vulkan models: Vulkan matches CPU on synthetic llama for every weight type it reads") {
    for (const char *quant : {"F32", "F16", "BF16", "Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q2_K",
                              "Q3_K", "Q4_K", "Q5_K", "Q6_K", "Q4_K_M"}) {
        CAPTURE(quant);
        device_matches_cpu(std::string("vk-llama-") + quant,
                           std::string("--arch llama ") + kTiny + " --quant " + quant, kVulkan);
    }
}

TEST_CASE("vulkan models: Vulkan matches CPU on qwen2, qwen3, gemma3 and llama with rope_freqs") {
    device_matches_cpu("vk-qwen2", std::string("--arch qwen2 ") + kTiny + " --quant Q8_0", kVulkan);
    device_matches_cpu("vk-qwen3", std::string("--arch qwen3 ") + kTiny + " --quant Q4_K_M",
                       kVulkan);
    device_matches_cpu(
        "vk-gemma3", std::string("--arch gemma3 ") + kTiny + " --n-swa 8 --quant Q4_K_M", kVulkan);
    device_matches_cpu("vk-llama-freqs",
                       std::string("--arch llama ") + kTiny + " --rope-freqs --quant Q8_0",
                       kVulkan);
}

TEST_CASE("vulkan models: Vulkan matches CPU on the mixture-of-experts archs") {
    device_matches_cpu("vk-qwen3moe", "--arch qwen3moe --preset tiny --quant Q4_K_M --seed 21",
                       kVulkan);
    device_matches_cpu("vk-qwen2moe", "--arch qwen2moe --preset tiny --quant Q8_0 --seed 22",
                       kVulkan);
    device_matches_cpu("vk-olmoe", "--arch olmoe --preset tiny --quant Q4_K_M --seed 24", kVulkan);
    device_matches_cpu("vk-mixtral",
                       "--arch llama --preset tiny --n-expert 8 --n-expert-used 2 --quant Q4_0 "
                       "--seed 23",
                       kVulkan);
    // gpt-oss: every node on Vulkan (attention sinks, YaRN, MXFP4 experts with biases, top-k
    // softmax routing, the clamped SwiGLU), none left to the CPU.
    const char *gpt_oss = "--arch gpt-oss --preset tiny --quant MXFP4_MOE --seed 26";
    device_matches_cpu("vk-gpt-oss", gpt_oss, kVulkan);
    // With F16 weights (float activations on both sides) under the tighter float bound.
    device_matches_cpu("vk-gpt-oss-F16", "--arch gpt-oss --preset tiny --quant F16 --seed 26",
                       kVulkan);
    runs_wholly_on_vulkan("vk-gpt-oss", gpt_oss);
    // DeepSeek-V2-Lite-like and V3-like: every node on Vulkan too (the latent attention's head
    // views and per-head products, values inside the keys' cache, V3's grouped sigmoid
    // routing). Float weights, under the tight bound.
    device_matches_cpu("vk-deepseek2-lite-F32",
                       "--arch deepseek2 --preset tiny --quant F32 --seed 27", kVulkan);
    device_matches_cpu("vk-deepseek2-v3-F16", kDeepseekV3, kVulkan);
    runs_wholly_on_vulkan("vk-deepseek2-v3-F16", kDeepseekV3);
    // Quantized: these amplify the CPU's activation rounding to 0.09-0.13 (measured on Q8_0, Q6_K
    // and Q4_K_M), so a bound that still tells a kernel bug (errors near 1) from that.
    device_matches_cpu("vk-deepseek2-v3",
                       "--arch deepseek2 --preset tiny-v3 --quant Q4_K_M --seed 28", kVulkan,
                       INFER_EXPERT_PREFILL_CPU, kChaoticModelBound);
}

// Split placements: some layers on Vulkan and the rest on the CPU, and the experts on the CPU
// with attention on Vulkan (an iGPU with little memory), equal the CPU alone within the bounds.
TEST_CASE("vulkan models: layer and expert splits with the CPU match the CPU") {
    device_matches_cpu("vk-split-llama", std::string("--arch llama ") + kTiny + " --quant Q4_K_M",
                       vulkan_with(1, nullptr));
    device_matches_cpu("vk-split-olmoe", "--arch olmoe --preset tiny --quant Q4_K_M --seed 24",
                       vulkan_with(INFER_GPU_LAYERS_ALL, &kExpertsOnCpu));
    device_matches_cpu("vk-split-qwen2moe", "--arch qwen2moe --preset tiny --quant Q8_0 --seed 22",
                       vulkan_with(2, nullptr));
    // IQ4_XS matrices, which no shader reads, on the CPU between Vulkan's norms and attention:
    // the finest interleaving of segments.
    device_matches_cpu("vk-split-iq4_xs",
                       "--arch llama --preset tiny --n-embd 256 --n-ff 352 --head-dim 64 "
                       "--quant IQ4_XS --seed 14",
                       kVulkan);
}

// A weight larger than one storage binding may span (128 MiB on lavapipe and on some phone
// GPUs) is cut into parts at its rows or experts, a dispatch each. INFER_VULKAN_WEIGHT_CHUNK_BYTES
// puts that limit below the matrices and expert stacks of the tiny models (16 KiB for llama: a
// Q4_K row is 144 bytes; 160 KiB for OLMoE, whose experts are about 77 KiB), so that Embed,
// MatMul and the MoE products here read parts: loading would fail without the split. Per-expert
// offload's packed stacks of resident experts split too. A limit below one row is refused, naming
// the sizes.
TEST_CASE("vulkan models: weights larger than a binding are split over chunks") {
    struct ChunkLimit {
        explicit ChunkLimit(const char *bytes) {
            setenv("INFER_VULKAN_WEIGHT_CHUNK_BYTES", bytes, 1);
        }
        ~ChunkLimit() { unsetenv("INFER_VULKAN_WEIGHT_CHUNK_BYTES"); }
    };
    const std::string olmoe = "--arch olmoe --preset tiny --quant Q4_K_M --seed 24";
    {
        ChunkLimit limit("16384");
        device_matches_cpu("vk-split-llama",
                           std::string("--arch llama ") + kTiny + " --quant Q4_K_M", kVulkan);
    }
    {
        ChunkLimit limit("163840");
        device_matches_cpu("vk-olmoe", olmoe, kVulkan);
    }
    // Half the expert bytes resident: the budget is found without the limit (it sizes nothing).
    infer_model_params half = kVulkan;
    half.expert_placement = INFER_EXPERTS_BY_POPULARITY;
    half.device_memory_budget = infer::test::budget_for_expert_share(
        infer::test::synthetic_model("vk-olmoe", olmoe).c_str(), half, 0.5);
    REQUIRE_MESSAGE(half.device_memory_budget > 0, std::string(infer_last_error()));
    {
        ChunkLimit limit("163840");
        device_matches_cpu("vk-olmoe", olmoe, half);
    }
    // gpt-oss's MXFP4 experts (34 KiB each) a part each, their biases in chunks of their own,
    // with every expert and with half of them resident (the biases packed by slot as well).
    const std::string gpt_oss = "--arch gpt-oss --preset tiny --quant MXFP4_MOE --seed 26";
    infer_model_params half_gpt_oss = half;
    half_gpt_oss.device_memory_budget = infer::test::budget_for_expert_share(
        infer::test::synthetic_model("vk-gpt-oss", gpt_oss).c_str(), half_gpt_oss, 0.5);
    REQUIRE_MESSAGE(half_gpt_oss.device_memory_budget > 0, std::string(infer_last_error()));
    {
        ChunkLimit limit("40960");
        device_matches_cpu("vk-gpt-oss", gpt_oss, kVulkan);
        device_matches_cpu("vk-gpt-oss", gpt_oss, half_gpt_oss);
    }
    // DeepSeek's per-head matrices (attn_k_b, attn_v_b: 32 KiB in F16) cut inside a head, with
    // experts small enough (16 KiB) to stay whole: a HeadMatMul over parts of heads.
    {
        ChunkLimit limit("20480");
        device_matches_cpu("vk-deepseek2-parts-F16",
                           "--arch deepseek2 --preset tiny-v3 --n-ff-exp 32 --quant F16 --seed 28",
                           kVulkan);
    }
    ChunkLimit limit("512"); // an F32 row of 256 elements is 1 KiB
    const std::string f32 = infer::test::synthetic_model(
        "vk-llama-F32", std::string("--arch llama ") + kTiny + " --quant F32");
    infer_model *model = nullptr;
    CHECK(infer_model_load_file(f32.c_str(), &kVulkan, &model) == INFER_ERR_UNSUPPORTED);
    CHECK(model == nullptr);
    const std::string why = infer_last_error();
    CHECK_MESSAGE(why.find("storage binding") != std::string::npos, why);
}

// The llama.cpp goldens of every architecture, all on Vulkan (the IQ model: its matrices, which
// no shader reads, stay on the CPU). The prompts up to 128 tokens: lavapipe's time per token is
// CI's, and the 420-token prompts add no code path.
// But deepseek2's: its quantized synthetic models amplify Vulkan's unrounded activations past
// the goldens' bounds (0.08 where llama.cpp's variants spread 0.05), so they are held to the
// CPU above instead.
TEST_CASE("vulkan models: synthetic llama.cpp goldens hold on Vulkan") {
    for (const char *name :
         {"synth-llama-ropefreqs-q8_0", "synth-qwen2-q8_0", "synth-qwen3-q4_k_m",
          "synth-qwen2moe-q8_0", "synth-qwen3moe-q4_k_m", "synth-olmoe-q4_k_m", "synth-olmoe-q8_0",
          "synth-mixtral-q4_0", "synth-gpt-oss-mxfp4", "synth-llama-iq4_xs"}) {
        CAPTURE(name);
        infer::test::check_goldens(name, kVulkan, "all on Vulkan", INFER_EXPERT_PREFILL_CPU, 128);
    }
}

// Greedy text from SmolLM2 on Vulkan is the CPU's, token for token.
TEST_CASE("vulkan models: SmolLM2 greedy decoding equals the CPU's") {
    const std::string path = infer::test::real_model("SmolLM2-135M-Instruct.Q4_1.gguf");
    ModelPtr cpu_model = load(path, INFER_BACKEND_CPU);
    ModelPtr vk_model = load(path, kVulkan);
    const char *text = "<|im_start|>user\nWhat is the capital of France?<|im_end|>\n"
                       "<|im_start|>assistant\n";
    std::vector<int32_t> prompt(256);
    size_t n = 0;
    REQUIRE(infer_tokenize(cpu_model.get(), text, std::strlen(text), 0, 1, prompt.data(),
                           prompt.size(), &n) == INFER_OK);
    prompt.resize(n);
    ContextPtr cpu = context(cpu_model.get(), 256, 64, false);
    ContextPtr vk = context(vk_model.get(), 256, 64, false);
    // 12 tokens: lavapipe runs SmolLM2 at a few seconds a token.
    const std::vector<int32_t> want = greedy(cpu.get(), prompt, 12);
    const std::vector<int32_t> got = greedy(vk.get(), prompt, 12);
    CHECK(got == want);
}

TEST_CASE("vulkan models: state save and load with the KV cache on the device") {
    const std::string path = infer::test::synthetic_model(
        "vk-state-llama", std::string("--arch llama ") + kTiny + " --quant Q4_0");
    ModelPtr model = load(path, kVulkan);
    state_round_trip(model.get());
    // A latent-attention cache: one row of latent and rope key per position, no V plane.
    ModelPtr mla = load(infer::test::synthetic_model("vk-deepseek2-v3-F16", kDeepseekV3), kVulkan);
    state_round_trip(mla.get());
}

TEST_CASE("vulkan models: device memory budgets give INFER_ERR_OUT_OF_MEMORY, not a crash") {
    const std::string path = infer::test::synthetic_model(
        "vk-budget-llama", std::string("--arch llama ") + kTiny + " --quant Q4_0");
    load(path, INFER_BACKEND_VULKAN, 1 << 16, INFER_ERR_OUT_OF_MEMORY); // the weights do not fit
    ModelPtr unlimited = load(path, INFER_BACKEND_VULKAN);
    ContextPtr ctx = context(unlimited.get(), 64, 16, false);
    const infer_context_stats stats = stats_of(ctx.get());
    CHECK(stats.device_memory_bytes > 0);
    // A byte less than the weights and one context need: the context is refused, naming the
    // bytes; with that byte it fits.
    ModelPtr tight = load(path, INFER_BACKEND_VULKAN, stats.device_memory_bytes - 1);
    infer_context_params p;
    infer_context_params_init(&p);
    p.n_ctx = 64;
    infer_context *c = nullptr;
    CHECK(infer_context_create(tight.get(), &p, &c) == INFER_ERR_OUT_OF_MEMORY);
    CHECK(c == nullptr);
    CHECK(std::string(infer_last_error()).find("MiB") != std::string::npos);
    ModelPtr exact = load(path, INFER_BACKEND_VULKAN, stats.device_memory_bytes);
    ContextPtr fits = context(exact.get(), 64, 16, false);
}
