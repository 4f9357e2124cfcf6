// Whole models on the CUDA backend through the C API: CUDA against our CPU path on synthetic
// models of every supported weight type and architecture, mixtures of experts included (prefill
// through the GEMM and grouped expert paths, then decode steps through the captured CUDA graph),
// the synthetic llama.cpp goldens, expert counts against the CPU's, CUDA-graph replay against
// node-by-node launches, device-memory budgets, state save/load with the KV cache on the device,
// and the errors a CUDA model gives for what it cannot do.
#include <doctest/doctest.h>

#include "../device_models.h"
#include "../expert_budget.h"

#include "cuda/cuda_backend.h"
#include "cuda/cuda_kernels.h"
#include "graph/graph.h"
#include "infer.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <unistd.h>

namespace {

using namespace infer::test::device;

void cuda_matches_cpu(const std::string &name, const std::string &synth_args,
                      const infer_model_params &device = on(INFER_BACKEND_CUDA),
                      int32_t expert_prefill = INFER_EXPERT_PREFILL_CPU) {
    device_matches_cpu(name, synth_args, device, expert_prefill);
}

const char *kTiny = "--preset tiny --n-embd 256 --n-ff 512 --head-dim 64 --seed 5";

} // namespace

TEST_CASE("cuda models: CUDA matches CPU on synthetic llama for every weight type") {
    for (const char *quant : {"F32", "F16", "BF16", "Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q2_K",
                              "Q3_K", "Q4_K", "Q5_K", "Q6_K", "Q4_K_M", "Q3_K_M"}) {
        CAPTURE(quant);
        cuda_matches_cpu(std::string("cuda-llama-") + quant,
                         std::string("--arch llama ") + kTiny + " --quant " + quant);
    }
}

TEST_CASE("cuda models: CUDA matches CPU on qwen2, qwen3, gemma3 and llama with rope_freqs") {
    cuda_matches_cpu("cuda-qwen2", std::string("--arch qwen2 ") + kTiny + " --quant Q8_0");
    cuda_matches_cpu("cuda-qwen3", std::string("--arch qwen3 ") + kTiny + " --quant Q4_K_M");
    cuda_matches_cpu("cuda-gemma3",
                     std::string("--arch gemma3 ") + kTiny + " --n-swa 8 --quant Q4_K_M");
    cuda_matches_cpu("cuda-llama-freqs",
                     std::string("--arch llama ") + kTiny + " --rope-freqs --quant Q8_0");
}

// The MoE archs (qwen2moe with its shared expert and sigmoid gate; Mixtral as llama with
// experts; gpt-oss), on the goldens' shapes; Q3_K_M puts Q3_K experts through the grouped
// kernels.
TEST_CASE("cuda models: CUDA matches CPU on the mixture-of-experts archs") {
    cuda_matches_cpu("cuda-qwen3moe", "--arch qwen3moe --preset tiny --quant Q4_K_M --seed 21");
    cuda_matches_cpu("cuda-qwen2moe", "--arch qwen2moe --preset tiny --quant Q8_0 --seed 22");
    cuda_matches_cpu("cuda-olmoe", "--arch olmoe --preset tiny --quant Q4_K_M --seed 24");
    cuda_matches_cpu("cuda-mixtral",
                     "--arch llama --preset tiny --n-expert 8 --n-expert-used 2 --quant Q4_0 "
                     "--seed 23");
    cuda_matches_cpu("cuda-qwen3moe-F32", "--arch qwen3moe --preset tiny --quant F32 --seed 41");
    cuda_matches_cpu("cuda-qwen3moe-q3_k_m",
                     "--arch qwen3moe --preset tiny --n-embd 256 --n-ff-exp 256 --quant Q3_K_M "
                     "--seed 21");
    // gpt-oss: MXFP4 experts with biases and the clamped SwiGLU, top-k-then-softmax routing.
    cuda_matches_cpu("cuda-gpt-oss", "--arch gpt-oss --preset tiny --quant MXFP4_MOE --seed 26");
}

// The other synthetic goldens hold on CUDA as the first case of "cuda placement goldens" ("all on
// CUDA"); this is the one model that has no placement case. CI runs it with them, in its
// optimized emulator build.
TEST_CASE("cuda models: synthetic llama.cpp goldens hold on CUDA") {
    infer::test::check_goldens("synth-olmoe-q8_0", INFER_BACKEND_CUDA);
}

namespace {

std::vector<uint64_t> expert_counts(infer_context *ctx) {
    uint32_t n_layer = 0, n_expert = 0;
    REQUIRE(infer_context_expert_counts(ctx, nullptr, 0, &n_layer, &n_expert) ==
            INFER_ERR_BUFFER_TOO_SMALL);
    std::vector<uint64_t> c(static_cast<size_t>(n_layer) * n_expert);
    REQUIRE(infer_context_expert_counts(ctx, c.data(), c.size(), nullptr, nullptr) == INFER_OK);
    return c;
}


// Decodes `steps` greedy tokens in a context launching node by node (INFER_CUDA_GRAPHS=0) and one
// replaying the captured graph: the logits (and a MoE model's expert counts) are the same.
void replay_matches_launches(const std::string &path, int steps, bool moe) {
    ModelPtr model = load(path, INFER_BACKEND_CUDA);
    REQUIRE(setenv("INFER_CUDA_GRAPHS", "0", 1) == 0);
    ContextPtr plain = context(model.get(), 64, 8, false);
    REQUIRE(unsetenv("INFER_CUDA_GRAPHS") == 0);
    ContextPtr graphed = context(model.get(), 64, 8, false);
    int32_t token = 3;
    for (int step = 0; step < steps; ++step) {
        REQUIRE(infer_decode(plain.get(), &token, 1) == INFER_OK);
        REQUIRE(infer_decode(graphed.get(), &token, 1) == INFER_OK);
        const std::vector<float> a = logits_at(plain.get(), -1), b = logits_at(graphed.get(), -1);
        REQUIRE_MESSAGE(a == b, "step ", step);
        token = infer::test::argmax(a.data(), a.size());
    }
    if (moe) CHECK(expert_counts(plain.get()) == expert_counts(graphed.get()));
}

} // namespace

TEST_CASE("cuda models: CUDA graph replay gives the same logits as node-by-node launches") {
    replay_matches_launches(infer::test::synthetic_model(
                                "cuda-graph-llama", std::string("--arch llama ") + kTiny + " --quant Q4_K_M"),
                            20, false);
}

// The routers of the synthetic models read only dimensions the layers leave alone, so both
// backends route every token alike and the counts must be equal, not just close.
TEST_CASE("cuda models: expert counts on CUDA equal the CPU's") {
    const std::string path = infer::test::synthetic_model(
        "cuda-olmoe-counts", "--arch olmoe --preset tiny --quant Q4_K_M --seed 31");
    ModelPtr cpu_model = load(path, INFER_BACKEND_CPU);
    ModelPtr cuda_model = load(path, INFER_BACKEND_CUDA);
    for (bool logits_all : {true, false}) {
        CAPTURE(logits_all);
        ContextPtr cpu = context(cpu_model.get(), 64, 8, logits_all);
        ContextPtr gpu = context(cuda_model.get(), 64, 8, logits_all);
        const std::vector<int32_t> prompt = prompt_tokens(13, 512);
        for (infer_context *ctx : {cpu.get(), gpu.get()}) {
            REQUIRE(infer_decode(ctx, prompt.data(), 8) == INFER_OK);
            REQUIRE(infer_decode(ctx, prompt.data() + 8, 5) == INFER_OK);
            for (int32_t next : {7, 8, 9}) // the captured decode graph counts too
                REQUIRE(infer_decode(ctx, &next, 1) == INFER_OK);
        }
        const std::vector<uint64_t> want = expert_counts(cpu.get());
        REQUIRE(!want.empty());
        CHECK(expert_counts(gpu.get()) == want);
        infer_context_reset_expert_counts(gpu.get());
        const int32_t next = 10;
        REQUIRE(infer_decode(gpu.get(), &next, 1) == INFER_OK);
        REQUIRE(infer_decode(cpu.get(), &next, 1) == INFER_OK);
        infer_context_reset_expert_counts(cpu.get());
        REQUIRE(infer_decode(cpu.get(), &next, 1) == INFER_OK);
        const std::vector<uint64_t> one_step = expert_counts(gpu.get());
        CHECK(one_step == expert_counts(cpu.get()));
        uint64_t total = 0;
        for (uint64_t v : one_step)
            total += v;
        CHECK(total == 4 * one_step.size() / 16); // k = 4 of 16 experts, once per layer
    }
}

TEST_CASE("cuda models: a MoE model's CUDA graph replays node-by-node launches exactly") {
    replay_matches_launches(infer::test::synthetic_model(
                                "cuda-qwen2moe", "--arch qwen2moe --preset tiny --quant Q8_0 --seed 22"),
                            10, true);
}

TEST_CASE("cuda models: the int8 and the simple matvec paths agree on decode") {
    for (const char *quant : {"Q4_0", "Q4_K_M"}) {
        CAPTURE(quant);
        const std::string path = infer::test::synthetic_model(
            std::string("cuda-matvec-llama-") + quant,
            std::string("--arch llama ") + kTiny + " --quant " + quant);
        ModelPtr model = load(path, INFER_BACKEND_CUDA);
        REQUIRE(setenv("INFER_CUDA_MATVEC", "simple", 1) == 0);
        ContextPtr simple = context(model.get(), 64, 1, false);
        REQUIRE(unsetenv("INFER_CUDA_MATVEC") == 0);
        ContextPtr int8 = context(model.get(), 64, 1, false);
        int32_t token = 3;
        double worst = 0;
        for (int step = 0; step < 16; ++step) {
            REQUIRE(infer_decode(simple.get(), &token, 1) == INFER_OK);
            REQUIRE(infer_decode(int8.get(), &token, 1) == INFER_OK);
            const std::vector<float> a = logits_at(simple.get(), -1);
            // one rounding (int8 activations) against none: measured 0.019-0.022
            compare(logits_at(int8.get(), -1), a, "int8 vs simple step " + std::to_string(step),
                    4e-2, &worst);
            token = infer::test::argmax(a.data(), a.size());
        }
        MESSAGE(quant << ": int8 vs simple matvec worst normalized RMS error " << worst);
    }
}

TEST_CASE("cuda models: prefill and token-by-token decode agree on CUDA") {
    const std::string path = infer::test::synthetic_model(
        "cuda-graph-llama", std::string("--arch llama ") + kTiny + " --quant Q4_K_M");
    ModelPtr model = load(path, INFER_BACKEND_CUDA);
    ContextPtr batch = context(model.get(), 64, 32, false),
               steps = context(model.get(), 64, 32, false);
    const std::vector<int32_t> prompt = prompt_tokens(30, 512);
    REQUIRE(infer_decode(batch.get(), prompt.data(), 30) == INFER_OK);
    for (int32_t t : prompt)
        REQUIRE(infer_decode(steps.get(), &t, 1) == INFER_OK);
    double worst = 0;
    // fp16 GEMM against int8-activation matvecs
    compare(logits_at(batch.get(), -1), logits_at(steps.get(), -1), "prefill vs steps",
            kTwoRoundingsBound, &worst);
}

TEST_CASE("cuda models: state save and load with the KV cache on the device") {
    const std::string path = infer::test::synthetic_model(
        "cuda-graph-llama", std::string("--arch llama ") + kTiny + " --quant Q4_K_M");
    ModelPtr model = load(path, INFER_BACKEND_CUDA);
    state_round_trip(model.get());
}

TEST_CASE("cuda models: device memory budgets give INFER_ERR_OUT_OF_MEMORY, not a crash") {
    const std::string path = infer::test::synthetic_model(
        "cuda-graph-llama", std::string("--arch llama ") + kTiny + " --quant Q4_K_M");
    load(path, INFER_BACKEND_CUDA, 1 << 16, INFER_ERR_OUT_OF_MEMORY); // weights do not fit
    CHECK(std::string(infer_last_error()).find("device_memory_budget") != std::string::npos);
    // Weights fit, the context (32 MiB cuBLASLt workspace alone) does not.
    ModelPtr unlimited = load(path, INFER_BACKEND_CUDA);
    ContextPtr probe = context(unlimited.get(), 64, 8, false);
    infer_context_stats stats;
    infer_context_stats_init(&stats);
    REQUIRE(infer_context_get_stats(probe.get(), &stats) == INFER_OK);
    infer_model_info info;
    infer_model_info_init(&info);
    REQUIRE(infer_model_get_info(unlimited.get(), &info) == INFER_OK);
    ModelPtr tight = load(path, INFER_BACKEND_CUDA, info.tensor_data_bytes + (4 << 20));
    infer_context_params p;
    infer_context_params_init(&p);
    p.n_ctx = 64;
    infer_context *c = nullptr;
    CHECK(infer_context_create(tight.get(), &p, &c) == INFER_ERR_OUT_OF_MEMORY);
    CHECK(c == nullptr);
    MESSAGE("context needs ", stats.device_memory_bytes / 1048576.0, " MiB with its weights; ",
            infer_last_error());
    // A budget of what the model and one context need (plus slack) is enough.
    ModelPtr roomy = load(path, INFER_BACKEND_CUDA, stats.device_memory_bytes + (8 << 20));
    ContextPtr fits = context(roomy.get(), 64, 8, false);
}

namespace {

// This process's resident pages of mapped files (the model's among them), in bytes.
double file_pages_resident() {
    std::ifstream status("/proc/self/status");
    std::string line;
    while (std::getline(status, line))
        if (line.rfind("RssFile:", 0) == 0) return 1024.0 * std::stod(line.substr(8)); // kB
    FAIL("no RssFile in /proc/self/status");
    return 0;
}

} // namespace

// Upload reads each weight from the mapped file once: its pages leave the process as soon as they
// are in the staging buffers (infer_model_load_file maps the file), and the model holds only
// the device's copy.
TEST_CASE("cuda models: uploading hands the file pages of the weights back") {
    const std::string path = infer::test::synthetic_model(
        "cuda-upload-rss", "--arch llama --preset tiny --n-embd 1024 --n-ff 4096 --n-layer 4 "
                           "--n-vocab 32000 --quant Q4_0 --random-blocks");
    const auto file_bytes = static_cast<double>(std::filesystem::file_size(path));
    REQUIRE(file_bytes > 60e6);
    const double before = file_pages_resident();
    ModelPtr model = load(path, INFER_BACKEND_CUDA);
    const double grew = file_pages_resident() - before;
    CAPTURE(file_bytes);
    CAPTURE(grew);
    CHECK(grew < 0.1 * file_bytes); // all of it when the file's pages stay
}

TEST_CASE("cuda models: what a CUDA model refuses, it refuses clearly") {
    const std::string path = infer::test::synthetic_model(
        "cuda-graph-llama", std::string("--arch llama ") + kTiny + " --quant Q4_K_M");
    ModelPtr model = load(path, INFER_BACKEND_CUDA);
    alignas(64) static uint8_t buffer[1 << 16];
    infer_context_params p;
    infer_context_params_init(&p);
    p.n_ctx = 64;
    p.buffer = buffer;
    p.buffer_size = sizeof buffer;
    infer_context *c = nullptr;
    CHECK(infer_context_create(model.get(), &p, &c) == INFER_ERR_UNSUPPORTED);

    infer_model_params mp;
    infer_model_params_init(&mp);
    mp.backend = INFER_BACKEND_CUDA;
    mp.device = 999;
    infer_model *m = nullptr;
    CHECK(infer_model_load_file(path.c_str(), &mp, &m) == INFER_ERR_INVALID_ARGUMENT);
}

// Contexts of one CUDA model are independent (each has its stream, plan and graph; the weights
// and cuBLASLt are shared): three threads decoding at once give what one alone gives, bit for bit.
TEST_CASE("cuda models: contexts of one model decode in parallel threads as they do alone") {
    const std::string path = infer::test::synthetic_model(
        "cuda-graph-llama", std::string("--arch llama ") + kTiny + " --quant Q4_K_M");
    ModelPtr model = load(path, INFER_BACKEND_CUDA);
    // A 12-token prefill (GEMM path: n_batch 16) and 8 greedy single-token steps (CUDA graph).
    auto generate = [&](std::vector<float> *logits, std::string *error) {
        infer_context_params p;
        infer_context_params_init(&p);
        p.n_ctx = 64;
        p.n_batch = 16;
        infer_context *raw = nullptr;
        if (infer_context_create(model.get(), &p, &raw) != INFER_OK) {
            *error = infer_last_error();
            return;
        }
        ContextPtr ctx(raw);
        const std::vector<int32_t> prompt = prompt_tokens(12, 512);
        if (infer_decode(ctx.get(), prompt.data(), 12) != INFER_OK) {
            *error = infer_last_error();
            return;
        }
        for (int step = 0; step < 8; ++step) {
            const float *l = nullptr;
            uint32_t n = 0;
            if (infer_context_logits(ctx.get(), -1, &l, &n) != INFER_OK) {
                *error = infer_last_error();
                return;
            }
            logits->insert(logits->end(), l, l + n);
            const int32_t next = infer::test::argmax(l, n);
            if (infer_decode(ctx.get(), &next, 1) != INFER_OK) {
                *error = infer_last_error();
                return;
            }
        }
    };
    std::vector<float> alone;
    std::string alone_error;
    generate(&alone, &alone_error);
    REQUIRE_MESSAGE(alone_error.empty(), alone_error);
    constexpr int kThreads = 3;
    std::vector<std::vector<float>> results(kThreads);
    std::vector<std::string> errors(kThreads);
    std::vector<std::thread> threads;
    for (int i = 0; i < kThreads; ++i)
        threads.emplace_back(generate, &results[static_cast<size_t>(i)],
                             &errors[static_cast<size_t>(i)]);
    for (std::thread &t : threads)
        t.join();
    for (int i = 0; i < kThreads; ++i) {
        CAPTURE(i);
        CHECK_MESSAGE(errors[static_cast<size_t>(i)].empty(), errors[static_cast<size_t>(i)]);
        CHECK(results[static_cast<size_t>(i)] == alone);
    }
}

// ---- Placement across CUDA and the CPU (n_gpu_layers, overrides) --------------------------------

namespace {

// The placements every architecture is held to. exps=CPU only for mixture-of-experts models
// (a dense model has no expert tensor: the pattern would match nothing, which is an error).
struct NamedPlacement {
    std::string label;
    int32_t n_gpu_layers;
    const infer_tensor_override *override_; // one, or null
};

const infer_tensor_override kExpertsOnCpu = {"exps", INFER_BACKEND_CPU};
// The goldens' long prompt (420 tokens) runs on one placement per model; the split placements
// take the prompts up to this length, which reach every segment and copy just the same. On the
// emulator (CI) the long prompt is most of each case's time.
constexpr size_t kSplitGoldenPromptMax = 128;
// Layer 0's matrices on CUDA while its attention, norms and everything else run on the CPU:
// the finest interleaving of segments a placement makes.
const infer_tensor_override kFirstLayerMatricesOnCuda = {"^blk\\.0\\.", INFER_BACKEND_CUDA};

std::vector<NamedPlacement> placements(int32_t n_layer, bool moe) {
    std::vector<NamedPlacement> list = {{"all on CUDA", INFER_GPU_LAYERS_ALL, nullptr},
                                        {"n_gpu_layers 1", 1, nullptr},
                                        {"all but the output layer", n_layer, nullptr}};
    // Half the layers, when that is not one already (the synthetic goldens have two layers).
    if (n_layer / 2 > 1)
        list.push_back({"n_gpu_layers half", n_layer / 2, nullptr});
    else
        list.push_back({"n_gpu_layers 0, blk.0.=CUDA", 0, &kFirstLayerMatricesOnCuda});
    if (moe) list.push_back({"exps=CPU", INFER_GPU_LAYERS_ALL, &kExpertsOnCpu});
    return list;
}

infer_model_params placed(const NamedPlacement &p) {
    infer_model_params params = on(INFER_BACKEND_CUDA);
    params.n_gpu_layers = p.n_gpu_layers;
    if (p.override_) {
        params.overrides = p.override_;
        params.n_overrides = 1;
    }
    return params;
}

int32_t layer_count(const std::string &path) {
    ModelPtr all = load(path, INFER_BACKEND_CUDA);
    return placement_of(all.get()).n_gpu_layers - 1; // all = n_layer + the output layer
}

// Every placement: the model's llama.cpp goldens hold, and the logits equal the CPU's within the
// CUDA-vs-CPU bounds, with the placement report saying what ran where.
void placements_hold(const std::string &golden, const std::string &synth_args, bool moe) {
    infer::test::check_goldens(golden, INFER_BACKEND_CPU, "all on the CPU");
    const std::string path = infer::test::synthetic_model(golden, synth_args);
    const int32_t n_layer = layer_count(path);
    for (const NamedPlacement &p : placements(n_layer, moe)) {
        CAPTURE(p.label);
        const infer_model_params params = placed(p);
        const bool all_on_cuda = !p.override_ && p.n_gpu_layers == INFER_GPU_LAYERS_ALL;
        infer::test::check_goldens(golden, params, p.label, INFER_EXPERT_PREFILL_CPU,
                                   all_on_cuda ? SIZE_MAX : kSplitGoldenPromptMax);
        cuda_matches_cpu(golden, synth_args, params);
        ModelPtr model = load(path, params);
        const infer_placement report = placement_of(model.get());
        REQUIRE(report.n_backends == 2);
        const bool split = p.override_ || p.n_gpu_layers != INFER_GPU_LAYERS_ALL;
        CHECK((report.backends[0].n_nodes > 0) == split);
        CHECK(report.backends[1].n_nodes > 0);
        CHECK((report.n_segments > 1) == split);
        if (p.override_ == &kExpertsOnCpu) CHECK(report.backends[0].weight_bytes > 0);
        if (!p.override_ && p.n_gpu_layers >= 0)
            CHECK(report.backends[1].n_layers == std::min(p.n_gpu_layers, n_layer));
        char text[8192];
        size_t length = 0;
        REQUIRE(infer_model_placement_text(model.get(), text, sizeof text, &length) == INFER_OK);
        MESSAGE(golden << " [" << p.label << "]: " << report.n_segments << " segments, "
                       << report.n_copies << " copies (" << report.copy_bytes_per_token
                       << " bytes per token)");
    }
}

} // namespace

// One case per architecture, so that ctest runs them side by side. CI runs these in its
// optimized emulator build (scripts/test-all.sh): under the sanitizers they would take most of
// its time, and the same code paths are covered there by the smaller placement cases below.
static void golden_placements(const char *name, bool moe) {
    const std::string synth_args = golden_synth_args(name);
    placements_hold(name, synth_args, moe);
}

TEST_CASE("cuda placement goldens: llama (rope_freqs)") { golden_placements("synth-llama-ropefreqs-q8_0", false); }
TEST_CASE("cuda placement goldens: qwen2") { golden_placements("synth-qwen2-q8_0", false); }
TEST_CASE("cuda placement goldens: qwen3") { golden_placements("synth-qwen3-q4_k_m", false); }
TEST_CASE("cuda placement goldens: qwen2moe") { golden_placements("synth-qwen2moe-q8_0", true); }
TEST_CASE("cuda placement goldens: qwen3moe") { golden_placements("synth-qwen3moe-q4_k_m", true); }
TEST_CASE("cuda placement goldens: olmoe") { golden_placements("synth-olmoe-q4_k_m", true); }
TEST_CASE("cuda placement goldens: mixtral") { golden_placements("synth-mixtral-q4_0", true); }

// ---- Per-expert offload (expert_placement = by popularity) ------------------------------------

namespace {

infer_model_params by_popularity(uint64_t budget) {
    infer_model_params params = on(INFER_BACKEND_CUDA);
    params.expert_placement = INFER_EXPERTS_BY_POPULARITY;
    params.device_memory_budget = budget;
    return params;
}

// Budgets that leave about 0%, 30%, 70% and 100% of the expert bytes resident: the goldens hold,
// the logits equal the CPU's within the CUDA bounds, and the placement says what it kept.
void expert_offload_holds(const char *name) {
    const std::string synth_args = golden_synth_args(name);
    const std::string path = infer::test::synthetic_model(name, synth_args);
    for (const double share : {0.0, 0.3, 0.7, 1.0}) {
        const uint64_t budget =
            infer::test::budget_for_expert_share(path.c_str(), by_popularity(0), share);
        REQUIRE_MESSAGE(budget > 0, std::string(infer_last_error()));
        const std::string label = "experts by popularity, " + std::to_string(int(share * 100)) + "% of expert bytes";
        CAPTURE(label);
        const infer_model_params params = by_popularity(budget);
        ModelPtr model = load(path, params);
        const infer_placement p = placement_of(model.get());
        const double kept = static_cast<double>(p.expert_bytes_resident) / static_cast<double>(p.expert_bytes);
        CHECK(kept <= share + 1e-9);
        const double one_expert = 1.0 / p.n_experts; // a budget is not a whole number of experts
        CHECK(kept >= share - 2 * one_expert - 0.02);
        CHECK((p.n_experts_resident == 0) == (share == 0.0));
        CHECK((p.n_experts_resident == p.n_experts) == (share == 1.0));
        CHECK((p.backends[0].n_nodes > 0) == (share < 1.0)); // the CPU computes the rest
        // Prefill computes the experts off the device on the device (streamed) at 0% and 30%,
        // on the CPU at 70%: both paths, against the goldens and the CPU.
        const int32_t prefill = share < 0.5 ? INFER_EXPERT_PREFILL_STREAM : INFER_EXPERT_PREFILL_CPU;
        if (share < 1.0) {
            // The long prompt at 30% (streamed prefill, experts on both sides); the shorter ones
            // cover the other shares' paths.
            const size_t max_prompt = share == 0.3 ? SIZE_MAX : kSplitGoldenPromptMax;
            infer::test::check_goldens(name, params, label, prefill, max_prompt);
        } else { // the graph "all on CUDA" runs (placement goldens), which the CPU then matches
            CHECK(p.n_segments == 1);
            CHECK(p.n_copies == 0);
        }
        cuda_matches_cpu(name, synth_args, params, prefill);
        MESSAGE(std::string(name) << " [" << label << "]: " << p.n_experts_resident << " of " << p.n_experts
                     << " experts resident, " << p.n_segments << " segments, " << p.n_copies
                     << " copies per step");
    }
}

} // namespace

TEST_CASE("cuda expert offload: popularity from a stats file or a calibration text, clear errors") {
    const char *name = "synth-qwen3moe-q4_k_m";
    const std::string synth_args = golden_synth_args(name);
    const std::string path = infer::test::synthetic_model(name, synth_args);
    ModelPtr probe = load(path, by_popularity(0));
    const infer_placement all = placement_of(probe.get());
    const int32_t n_layer = all.n_gpu_layers - 1, n_expert = all.n_experts / n_layer;
    REQUIRE(n_layer >= 2);
    // Room for one expert per layer: the stats say which.
    const uint64_t budget = infer::test::budget_for_expert_share(
        path.c_str(), by_popularity(0), 1.0 / n_expert + 1e-3);
    REQUIRE(budget > 0);
    auto write_stats = [&](const std::string &file, int32_t layers) {
        std::ofstream out(file);
        out << "layer\texpert\tcount\n";
        for (int32_t l = 0; l < layers; ++l)
            for (int32_t e = 0; e < n_expert; ++e)
                out << l << '\t' << e << '\t' << (e == (5 + l) % n_expert ? 100 : 1) << '\n';
    };
    const std::string stats = (std::filesystem::temp_directory_path() /
                               ("infer-expert-stats-" + std::to_string(::getpid()) + ".tsv")).string();
    write_stats(stats, n_layer);
    infer_model_params params = by_popularity(budget);
    params.expert_stats_path = stats.c_str();
    ModelPtr model = load(path, params);
    const infer_placement p = placement_of(model.get());
    CHECK(p.n_experts_resident == n_layer);
    char text[8192];
    size_t length = 0;
    REQUIRE(infer_model_placement_text(model.get(), text, sizeof text, &length) == INFER_OK);
    CHECK(std::string(text).find("stats file") != std::string::npos);
    CHECK(std::string(text).find("resident per layer: 1 1") != std::string::npos);
    { // A short run of the split layers (the goldens above cover them at length; this one also
      // runs under the sanitizers): an 8-token prefill and 4 decode steps equal the CPU's.
        ModelPtr cpu_model = load(path, INFER_BACKEND_CPU);
        ContextPtr cpu = context(cpu_model.get(), 64, 8, true),
                   gpu = context(model.get(), 64, 8, true, INFER_EXPERT_PREFILL_STREAM);
        const std::vector<int32_t> prompt = prompt_tokens(8, 200);
        REQUIRE(infer_decode(cpu.get(), prompt.data(), 8) == INFER_OK);
        REQUIRE_MESSAGE(infer_decode(gpu.get(), prompt.data(), 8) == INFER_OK, std::string(infer_last_error()));
        double worst = 0;
        for (int step = 0; step < 4; ++step) {
            compare(logits_at(gpu.get(), -1), logits_at(cpu.get(), -1), "split step", kTwoRoundingsBound,
                    &worst);
            const int32_t next = 3 + step;
            REQUIRE(infer_decode(cpu.get(), &next, 1) == INFER_OK);
            REQUIRE(infer_decode(gpu.get(), &next, 1) == INFER_OK);
        }
        infer_context_stats stats;
        infer_context_stats_init(&stats);
        REQUIRE(infer_context_get_stats(gpu.get(), &stats) == INFER_OK);
        CHECK(stats.handoffs >= 2 * 4); // a wait per split layer per step
        CHECK(stats.prefill_streamed_experts == static_cast<uint64_t>(n_layer * (n_expert - 1)));
    }

    // Another model's statistics: refused at load, naming both shapes.
    write_stats(stats, n_layer + 1);
    infer_model *bad = nullptr;
    CHECK(infer_model_load_file(path.c_str(), &params, &bad) == INFER_ERR_INVALID_ARGUMENT);
    CHECK(bad == nullptr);
    CHECK(std::string(infer_last_error()).find("is of a model with") != std::string::npos);
    params.expert_stats_path = "/nonexistent/stats.tsv";
    CHECK(infer_model_load_file(path.c_str(), &params, &bad) == INFER_ERR_INVALID_ARGUMENT);

    // A calibration text run through the model at load.
    params.expert_stats_path = nullptr;
    params.calibration_text = "The quick brown fox jumps over the lazy dog, again and again.";
    ModelPtr calibrated = load(path, params);
    REQUIRE(infer_model_placement_text(calibrated.get(), text, sizeof text, &length) == INFER_OK);
    CHECK(std::string(text).find("calibration text (") != std::string::npos);
    CHECK(placement_of(calibrated.get()).n_experts_resident == n_layer);
    // A text longer than a calibration window (2048 tokens) runs window by window.
    std::string long_text;
    while (long_text.size() < 12000) long_text += "expert routing calibration sentence number " + std::to_string(long_text.size()) + ". ";
    params.calibration_text = long_text.c_str();
    ModelPtr long_calibrated = load(path, params);
    REQUIRE(infer_model_placement_text(long_calibrated.get(), text, sizeof text, &length) == INFER_OK);
    const std::string long_report = text;
    const size_t tokens_at = long_report.find("calibration text (");
    REQUIRE(tokens_at != std::string::npos);
    CHECK(std::stol(long_report.substr(tokens_at + 18)) > 2048);

    params.expert_placement = 7;
    CHECK(infer_model_load_file(path.c_str(), &params, &bad) == INFER_ERR_INVALID_ARGUMENT);
    std::filesystem::remove(stats);
}

// AUTO (the API's default): the cost model chooses per expert and chunk from this machine's
// measured CPU expert costs (measured here once, then cached) and the emulated device's copy
// rate. Whatever it chooses, the goldens hold. (In the optimized emulator stage: the sanitizers
// would make the measurement, and the cache, meaningless.)
TEST_CASE("cuda expert offload goldens: prefill streaming by the cost model (AUTO)") {
    const char *name = "synth-qwen3moe-q4_k_m";
    const std::string synth_args = golden_synth_args(name);
    const std::string path = infer::test::synthetic_model(name, synth_args);
    const uint64_t budget = infer::test::budget_for_expert_share(path.c_str(), by_popularity(0), 0.3);
    REQUIRE(budget > 0);
    const infer_model_params params = by_popularity(budget);
    infer::test::check_goldens(name, params, "experts by popularity, 30%, AUTO prefill",
                               INFER_EXPERT_PREFILL_AUTO);
    ModelPtr model = load(path, params);
    ContextPtr ctx = context(model.get(), 64, 16, false, INFER_EXPERT_PREFILL_AUTO);
    const std::vector<int32_t> prompt = prompt_tokens(16, 200);
    REQUIRE_MESSAGE(infer_decode(ctx.get(), prompt.data(), 16) == INFER_OK, std::string(infer_last_error()));
    const infer_context_stats stats = stats_of(ctx.get());
    MESSAGE("AUTO streamed " << stats.prefill_streamed_experts << " experts ("
                             << stats.prefill_streamed_bytes << " bytes) in a 16-token prefill");
    // A value outside the three modes is refused.
    infer_context_params bad;
    infer_context_params_init(&bad);
    bad.expert_prefill = 3;
    infer_context *none = nullptr;
    CHECK(infer_context_create(model.get(), &bad, &none) == INFER_ERR_INVALID_ARGUMENT);
    CHECK(none == nullptr);
}

// A budget that holds the model and a context but not one expert's staging slot: STREAM, which
// must stream, is out of memory naming the staging; AUTO (the default) goes without streaming and
// computes prefill's experts on the CPU, as CPU does.
TEST_CASE("cuda expert offload: no room for the staging: AUTO prefill computes on the CPU, STREAM is out of memory") {
    const std::string path = infer::test::synthetic_model(
        "cuda-qwen3moe", "--arch qwen3moe --preset tiny --quant Q4_K_M --seed 21");
    const uint64_t none = infer::test::budget_for_expert_share(path.c_str(), by_popularity(0), 0.0);
    REQUIRE(none > 0);
    ModelPtr roomy = load(path, by_popularity(none));
    REQUIRE(placement_of(roomy.get()).n_experts_resident == 0);
    const uint64_t needs = stats_of(context(roomy.get(), 64, 16, false).get()).device_memory_bytes;
    ModelPtr tight = load(path, by_popularity(needs + (64 << 10)));
    REQUIRE(placement_of(tight.get()).n_experts_resident == 0);

    infer_context_params p;
    infer_context_params_init(&p);
    p.n_ctx = 64;
    p.n_batch = 16;
    p.expert_prefill = INFER_EXPERT_PREFILL_STREAM;
    infer_context *streaming = nullptr;
    CHECK(infer_context_create(tight.get(), &p, &streaming) == INFER_ERR_OUT_OF_MEMORY);
    CHECK(streaming == nullptr);
    CHECK_MESSAGE(std::string(infer_last_error()).find("staging") != std::string::npos,
                  std::string(infer_last_error()));

    // One context at a time: the budget holds one.
    const std::vector<int32_t> prompt = prompt_tokens(16, 200);
    std::vector<float> logits[2];
    for (const int32_t mode : {INFER_EXPERT_PREFILL_CPU, INFER_EXPERT_PREFILL_AUTO}) {
        ContextPtr ctx = context(tight.get(), 64, 16, false, mode);
        REQUIRE_MESSAGE(infer_decode(ctx.get(), prompt.data(), 16) == INFER_OK,
                        std::string(infer_last_error()));
        CHECK(stats_of(ctx.get()).prefill_streamed_experts == 0);
        logits[mode == INFER_EXPERT_PREFILL_AUTO] = logits_at(ctx.get(), -1);
    }
    CHECK(logits[1] == logits[0]);
}

// The CPU repacks the experts a split stack leaves it (runtime/host_weights.h), and only those:
// logits equal the in-place run's exactly, with prefill streaming the rest from the file (whose
// pages the repack dropped) and on the CPU.
TEST_CASE("cuda expert offload: the CPU's repacked share of split stacks gives the in-place logits") {
    const char *name = "synth-qwen3moe-q4_k_m"; // Q4_K and Q6_K experts: both repacked
    const std::string path = infer::test::synthetic_model(name, golden_synth_args(name));
    const uint64_t budget =
        infer::test::budget_for_expert_share(path.c_str(), by_popularity(0), 0.3);
    REQUIRE(budget > 0);
    const std::vector<int32_t> prompt = prompt_tokens(12, 200);
    std::vector<float> logits[2][2]; // [repacked][streamed prefill]: the last prompt token's
    std::vector<float> next[2][2];   // and one decode step's
    uint64_t repacked_bytes[2] = {}, expert_bytes = 0, resident_bytes = 0;
    for (const int32_t weights : {INFER_CPU_WEIGHTS_IN_PLACE, INFER_CPU_WEIGHTS_REPACK}) {
        infer_model_params params = by_popularity(budget);
        params.cpu_weights = weights;
        ModelPtr model = load(path, params);
        const bool repacked = weights == INFER_CPU_WEIGHTS_REPACK;
        infer_model_info info;
        infer_model_info_init(&info);
        REQUIRE(infer_model_get_info(model.get(), &info) == INFER_OK);
        repacked_bytes[repacked] = info.cpu_repacked_bytes;
        const infer_placement p = placement_of(model.get());
        expert_bytes = p.expert_bytes;
        resident_bytes = p.expert_bytes_resident;
        REQUIRE(p.n_experts_resident > 0);
        REQUIRE(p.n_experts_resident < p.n_experts);
        for (const int32_t mode : {INFER_EXPERT_PREFILL_CPU, INFER_EXPERT_PREFILL_STREAM}) {
            const bool streamed = mode == INFER_EXPERT_PREFILL_STREAM;
            ContextPtr ctx = context(model.get(), 64, 16, false, mode);
            REQUIRE_MESSAGE(infer_decode(ctx.get(), prompt.data(), 12) == INFER_OK,
                            std::string(infer_last_error()));
            CHECK((stats_of(ctx.get()).prefill_streamed_experts > 0) == streamed);
            logits[repacked][streamed] = logits_at(ctx.get(), -1);
            const int32_t token = 7;
            REQUIRE(infer_decode(ctx.get(), &token, 1) == INFER_OK);
            next[repacked][streamed] = logits_at(ctx.get(), -1);
        }
    }
    CHECK(repacked_bytes[0] == 0);
    // The experts off the device, give or take the layout's size against the file's and the
    // other CPU-only weights (none here: everything else is on the device).
    CHECK(repacked_bytes[1] > 0);
    CHECK(static_cast<double>(repacked_bytes[1]) <
          1.2 * static_cast<double>(expert_bytes - resident_bytes));
    for (int streamed = 0; streamed < 2; ++streamed) {
        CAPTURE(streamed);
        CHECK(logits[1][streamed] == logits[0][streamed]);
        CHECK(next[1][streamed] == next[0][streamed]);
    }
}

// Prefill streaming copies the experts the device lacks from the mapped file, and hands their
// pages back once copied: a long prompt does not fault the whole file back into the process.
TEST_CASE("cuda expert offload: prefill streaming hands the file pages back") {
    const std::string path = infer::test::synthetic_model(
        "cuda-stream-rss", "--arch qwen3moe --preset tiny --n-embd 1024 --n-ff-exp 1024 "
                           "--n-expert 16 --n-expert-used 4 --n-layer 2 --n-vocab 1000 "
                           "--quant Q4_0 --random-blocks");
    const uint64_t budget = infer::test::budget_for_expert_share(path.c_str(), by_popularity(0), 0.0);
    REQUIRE(budget > 0);
    for (const int32_t weights : {INFER_CPU_WEIGHTS_REPACK, INFER_CPU_WEIGHTS_IN_PLACE}) {
        CAPTURE(weights);
        infer_model_params params = by_popularity(budget);
        params.cpu_weights = weights;
        ModelPtr model = load(path, params);
        REQUIRE(placement_of(model.get()).n_experts_resident == 0);
        ContextPtr ctx = context(model.get(), 64, 16, false, INFER_EXPERT_PREFILL_STREAM);
        const std::vector<int32_t> prompt = prompt_tokens(16, 1000);
        const double before = file_pages_resident();
        REQUIRE_MESSAGE(infer_decode(ctx.get(), prompt.data(), 16) == INFER_OK,
                        std::string(infer_last_error()));
        const double grew = file_pages_resident() - before;
        const auto streamed = static_cast<double>(stats_of(ctx.get()).prefill_streamed_bytes);
        CAPTURE(streamed);
        CAPTURE(grew);
        REQUIRE(streamed > 40e6); // every expert of both layers
        CHECK(grew < 0.1 * streamed);
    }
}

TEST_CASE("cuda expert offload goldens: qwen2moe") { expert_offload_holds("synth-qwen2moe-q8_0"); }
TEST_CASE("cuda expert offload goldens: qwen3moe") { expert_offload_holds("synth-qwen3moe-q4_k_m"); }
TEST_CASE("cuda expert offload goldens: olmoe") { expert_offload_holds("synth-olmoe-q4_k_m"); }
TEST_CASE("cuda expert offload goldens: mixtral") { expert_offload_holds("synth-mixtral-q4_0"); }

TEST_CASE("cuda placement: gemma3 (sliding window, soft-capping) split across CUDA and the CPU") {
    const std::string args = std::string("--arch gemma3 ") + kTiny + " --n-swa 8 --quant Q4_K_M";
    for (const NamedPlacement &p : placements(4, false)) {
        CAPTURE(p.label);
        cuda_matches_cpu("cuda-gemma3", args, placed(p));
    }
}

namespace {

// The placement report of `model` when it names a refused node of one of `ops` (CUDA "cannot
// run" it, so placement left it on the CPU); empty when it names none.
std::string refusals_of(const infer_model *model, std::initializer_list<const char *> ops) {
    char text[8192];
    size_t length = 0;
    REQUIRE(infer_model_placement_text(model, text, sizeof text, &length) == INFER_OK);
    for (const char *op : ops)
        if (std::string(text).find(std::string("cannot run ") + op + " (") != std::string::npos)
            return text;
    return {};
}

// Every placement of the synthetic model `name` gives the CPU's logits; all on CUDA leaves the
// CPU no node, and no placement refuses a node of `ops`.
void runs_on_cuda_in_every_placement(const char *name, const std::string &args,
                                     std::initializer_list<const char *> ops) {
    for (const NamedPlacement &p : placements(4, true)) {
        CAPTURE(p.label);
        cuda_matches_cpu(name, args, placed(p));
        ModelPtr model = load(infer::test::synthetic_model(name, args), placed(p));
        const infer_placement report = placement_of(model.get());
        CHECK(report.backends[1].n_nodes > 0);
        if (!p.override_ && p.n_gpu_layers == INFER_GPU_LAYERS_ALL)
            CHECK(report.backends[0].n_nodes == 0);
        const std::string refused = refusals_of(model.get(), ops);
        CHECK_MESSAGE(refused.empty(), refused);
    }
}

} // namespace

// gpt-oss: its MXFP4 experts with their biases and the clamped SwiGLU, the top-k-then-softmax
// routing, the MXFP4 and other matrices and the attention sinks all run on CUDA, in every
// placement, and the logits equal the CPU's. All on CUDA leaves the CPU no node; a split
// placement refuses none of them.
TEST_CASE("cuda placement: gpt-oss runs its experts on CUDA, in every placement") {
    runs_on_cuda_in_every_placement("cuda-gpt-oss",
                                    "--arch gpt-oss --preset tiny --quant MXFP4_MOE --seed 26",
                                    {"MoeFfn", "MoeRoute", "Glu", "MatMul", "Embed", "Attention"});
}

// gpt-oss with part of its experts resident (their bias rows packed by slot like the weights)
// and prefill streaming the rest in (their bias rows staged with them), against the CPU.
TEST_CASE("cuda expert offload: gpt-oss's expert biases follow the resident and streamed experts") {
    const std::string args = "--arch gpt-oss --preset tiny --quant MXFP4_MOE --seed 26";
    const std::string path = infer::test::synthetic_model("cuda-gpt-oss", args);
    const uint64_t budget =
        infer::test::budget_for_expert_share(path.c_str(), by_popularity(0), 0.5);
    REQUIRE_MESSAGE(budget > 0, std::string(infer_last_error()));
    ModelPtr model = load(path, by_popularity(budget));
    const infer_placement p = placement_of(model.get());
    CHECK(p.n_experts_resident > 0);
    CHECK(p.n_experts_resident < p.n_experts);
    cuda_matches_cpu("cuda-gpt-oss", args, by_popularity(budget), INFER_EXPERT_PREFILL_STREAM);
}

// DeepSeek-V3-like: the latent attention (head views, per-head products, values inside the
// keys' cache) and the grouped sigmoid routing run on CUDA with the rest of each device layer, in
// every placement, and the logits equal the CPU's. F16 weights: this small random MLA model
// amplifies the 8-bit activation rounding of quantized weights (llama.cpp's own paths differ by
// up to 0.11 on it), which would hide what the placement does.
TEST_CASE("cuda placement: deepseek2 runs its latent attention on CUDA, in every placement") {
    runs_on_cuda_in_every_placement(
        "cuda-deepseek2", "--arch deepseek2 --preset tiny-v3 --quant F16 --seed 28",
        {"Attention", "KvStore", "Slice", "Concat", "HeadMatMul", "MoeRoute"});
}

TEST_CASE("cuda placement: bad placements are clear errors and the CPU keeps working") {
    const std::string path = infer::test::synthetic_model(
        "cuda-graph-llama", std::string("--arch llama ") + kTiny + " --quant Q4_K_M");
    infer_model_params params = on(INFER_BACKEND_CUDA);
    const infer_tensor_override nothing[] = {{"no_such_tensor", INFER_BACKEND_CPU}};
    params.overrides = nothing;
    params.n_overrides = 1;
    load(path, params, INFER_ERR_INVALID_ARGUMENT);
    CHECK(std::string(infer_last_error()).find("'no_such_tensor' matches no weight") != std::string::npos);
    // Every layer over a budget that holds two: out of memory, naming what would fit.
    params = on(INFER_BACKEND_CUDA);
    params.n_gpu_layers = 2;
    ModelPtr two = load(path, params);
    const uint64_t two_bytes = placement_of(two.get()).backends[1].weight_bytes;
    params = on(INFER_BACKEND_CUDA, two_bytes + 1000);
    load(path, params, INFER_ERR_OUT_OF_MEMORY);
    const std::string oom = infer_last_error();
    CHECK_MESSAGE(oom.find("n_gpu_layers 2 fits") != std::string::npos, oom);
    // auto under the same budget takes what fits (fewer layers: it keeps room for a context).
    params.n_gpu_layers = INFER_GPU_LAYERS_AUTO;
    params.device_memory_budget = two_bytes + (600u << 20);
    ModelPtr automatic = load(path, params);
    CHECK(placement_of(automatic.get()).n_gpu_layers >= 2);
    ModelPtr cpu = load(path, INFER_BACKEND_CPU);
    ContextPtr ctx = context(cpu.get(), 32, 8, false);
    const int32_t token = 1;
    CHECK(infer_decode(ctx.get(), &token, 1) == INFER_OK);
}

TEST_CASE("cuda placement: state save and load with the KV cache split across CUDA and the CPU") {
    const std::string path = infer::test::synthetic_model(
        "cuda-graph-llama", std::string("--arch llama ") + kTiny + " --quant Q4_K_M");
    infer_model_params params = on(INFER_BACKEND_CUDA);
    params.n_gpu_layers = 1;
    ModelPtr model = load(path, params);
    std::vector<uint8_t> state;
    const std::vector<float> expected = state_round_trip(model.get(), &state);
    const int32_t next = 7;
    const uint64_t size = state.size();
    // The same state loads into an all-CPU context of the model: the bytes do not depend on where
    // the cache lived.
    ModelPtr cpu_model = load(path, INFER_BACKEND_CPU);
    ContextPtr cpu = context(cpu_model.get(), 64, 16, false);
    REQUIRE(infer_context_state_load(cpu.get(), state.data(), size) == INFER_OK);
    REQUIRE(infer_decode(cpu.get(), &next, 1) == INFER_OK);
    double worst = 0;
    compare(logits_at(cpu.get(), -1), expected, "state moved to the CPU", kTwoRoundingsBound, &worst);
}

// Refusals name the op, its layer and output, and the tensor where a weight is the reason.
TEST_CASE("cuda models: refusals name the op and the tensor") {
    using namespace infer;
    graph::WeightRef embd, w, gate, up, down;
    embd.name = "token_embd.weight";
    embd.type = 0;
    embd.ne[0] = 64;
    embd.ne[1] = 100;
    w.name = "blk.0.attn_q.weight";
    w.type = 16; // IQ2_XXS: no CUDA decoder
    w.ne[0] = 64;
    w.ne[1] = 64;
    gate.name = "blk.1.ffn_gate_exps.weight";
    gate.type = 12;
    gate.ne[0] = 256;
    gate.ne[1] = 32;
    gate.ne[2] = cuda::kMaxExperts + 1;
    up = gate;
    up.name = "blk.1.ffn_up_exps.weight";
    down = gate;
    down.name = "blk.1.ffn_down_exps.weight";
    graph::GraphBuilder b(4);
    const graph::TensorId x = b.embed(embd, 1.0f);
    b.set_layer(0);
    const graph::TensorId q = b.matmul(w, x);
    const graph::Graph g = b.finish(q);
    const Status refused = cuda::check_graph(g);
    REQUIRE(!refused.is_ok());
    CHECK(refused.code() == INFER_ERR_MODEL_TENSOR_TYPE);
    CHECK(refused.message().find("blk.0.attn_q.weight") != std::string::npos);
    CHECK(refused.message().find("MatMul") != std::string::npos);
    CHECK(refused.message().find("CUDA") != std::string::npos);
    CHECK(cuda::supports_node(g.nodes[0], g).is_ok());

    graph::GraphBuilder m(4);
    const graph::TensorId h = m.embed(embd, 1.0f);
    m.set_layer(1);
    const graph::GraphBuilder::Route route = m.moe_route(h, 2, true);
    const graph::TensorId y = m.moe_ffn(h, route, gate, up, down, graph::Activation::Silu);
    const graph::Graph mg = m.finish(y);
    const Status too_many = cuda::supports_node(mg.nodes.back(), mg);
    REQUIRE(!too_many.is_ok());
    CHECK(too_many.code() == INFER_ERR_UNSUPPORTED);
    CHECK(too_many.message().find("MoeFfn (layer 1") != std::string::npos);
    CHECK(too_many.message().find("1025 experts") != std::string::npos);
}
