// The offload cost model's formulas (runtime/offload_cost.h) on cases small enough to compute by
// hand, the device profile parser on hostile files, the cache of measured CPU costs, and the C
// API's argument checks. No timing is asserted: measured figures are only checked to be sane.
#include "infer.h"

#include "core/types.h"
#include "runtime/cpu_costs.h"
#include "runtime/device_profile.h"
#include "runtime/offload_cost.h"
#include "synth/synth_model.h"

#include <doctest/doctest.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <unistd.h>

using namespace infer;

namespace {

const auto kQ4K = static_cast<uint32_t>(TypeId::Q4_K);

const ExpertShape kTinyExpert{kQ4K, kQ4K, kQ4K, 256, 256};

// One layer of two experts, one per token: an expert is 1000 bytes (1000 elements) that the CPU
// computes in 1 s and the device reads in 1 s; dense Q4_K weights the CPU reads at 1000 B/s;
// nothing else costs unless a case sets it.
struct TinyCase {
    ModelCostShape shape;
    CpuCosts cpu;
    DeviceProfile dev;
    TinyCase() {
        shape.n_expert = 2;
        shape.n_expert_used = 1;
        shape.layers.resize(1);
        shape.layers[0].expert = {{kQ4K, 1000, 1000}};
        shape.layers[0].expert_shape = kTinyExpert;
        cpu.read_bytes_per_s = 2000;
        const ExpertShape probe = type_probe_shape(kQ4K);
        cpu.experts = {{kTinyExpert, 1.0, 0.0, 1000},
                       {probe, static_cast<double>(expert_shape_bytes(probe)) / 1000, 0.0, 1000}};
        dev.memory_bytes_per_s = 1000;
        dev.h2d_bytes_per_s = 100;
        dev.flops_per_s = 1000;
    }
    ExpertResidency first_resident() const {
        ExpertResidency r = no_experts_resident(1, 2);
        r.slot[0] = 0;
        r.n_resident[0] = 1;
        r.bytes = 1000;
        return r;
    }
};

} // namespace

TEST_CASE("offload cost: decode with half the selections resident, by hand") {
    TinyCase c;
    const ExpertPopularity uniform = uniform_popularity(1, 2);
    // s = 0.5: device 0.5 s, CPU lane 0.5 s, overlapped: 0.5 s per token.
    PlacementPrediction p = predict_split(c.shape, c.first_resident(), uniform, c.cpu, c.dev);
    CHECK(p.decode_tokens_per_s == doctest::Approx(2.0));
    CHECK(p.cpu_lane_seconds_per_step == doctest::Approx(0.5));
    CHECK(p.resident_share == doctest::Approx(0.5));
    CHECK(p.cpu_expert_bytes_per_token == doctest::Approx(500));
    CHECK(p.ceiling_tokens_per_s == doctest::Approx(4.0)); // 2000 B/s / 500 B
    // A CPU overhead of 0.2 s counts when the token has a CPU expert (p = 0.5): lane 0.6 s; the
    // handoff of 0.1 s likewise: 0.6 + 0.05.
    c.cpu.experts[0].node_s = 0.2;
    c.dev.handoff_s = 0.1;
    p = predict_split(c.shape, c.first_resident(), uniform, c.cpu, c.dev);
    CHECK(p.cpu_lane_seconds_per_step == doctest::Approx(0.6));
    CHECK(1.0 / p.decode_tokens_per_s == doctest::Approx(0.65));
    // Every expert resident: no CPU lane, no handoff, no ceiling.
    const ExpertResidency all = all_experts_resident(1, 2, std::vector<uint64_t>{1000});
    p = predict_split(c.shape, all, uniform, c.cpu, c.dev);
    CHECK(p.cpu_lane_seconds_per_step == doctest::Approx(0.0));
    CHECK(1.0 / p.decode_tokens_per_s == doctest::Approx(1.0));
    CHECK(std::isinf(p.ceiling_tokens_per_s));
}

TEST_CASE("offload cost: a layer's dense part on the device precedes both expert lanes") {
    TinyCase c;
    c.shape.layers[0].dense = {{kQ4K, 300, 300}}; // 0.3 s on the device
    c.dev.layer_overhead_s = 0.1;
    c.cpu.experts[0].node_s = 0.2;
    // Half the selections resident: the device's experts 0.5 s, the CPU lane 0.5 + 0.2 (p = 0.5:
    // 0.6): after the router, 0.4 s in: 0.4 + max(0.5, 0.6). A model overlapping whole layers
    // said max(0.9, 0.6); on an H200 the measured steps bore this one out.
    const PlacementPrediction p =
        predict_split(c.shape, c.first_resident(), uniform_popularity(1, 2), c.cpu, c.dev);
    CHECK(1.0 / p.decode_tokens_per_s == doctest::Approx(0.4 + 0.6));
    CHECK(p.cpu_lane_seconds_per_step == doctest::Approx(0.6));
}

TEST_CASE("offload cost: the popularity moves the resident share") {
    TinyCase c;
    ExpertPopularity skewed = uniform_popularity(1, 2);
    skewed.weight = {3, 1}; // expert 0 takes 75% of the selections
    const PlacementPrediction p = predict_split(c.shape, c.first_resident(), skewed, c.cpu, c.dev);
    CHECK(p.resident_share == doctest::Approx(0.75));
    // Device 0.75 s, CPU 0.25 s: the device lane bounds the step.
    CHECK(1.0 / p.decode_tokens_per_s == doctest::Approx(0.75));
    CHECK(p.cpu_lane_seconds_per_step == doctest::Approx(0.25));
}

TEST_CASE("offload cost: all on the CPU, by hand") {
    TinyCase c;
    c.cpu.experts[0].node_s = 0.2;
    c.shape.layers[0].dense = {{kQ4K, 500, 500}};  // 0.5 s at the Q4_K rate
    c.shape.other = {{static_cast<uint32_t>(TypeId::F32), 200, 0}}; // no rate: DRAM, 0.1 s
    const PlacementPrediction p = predict_all_cpu(c.shape, uniform_popularity(1, 2), c.cpu);
    CHECK(p.cpu_lane_seconds_per_step == doctest::Approx(1.2));
    CHECK(1.0 / p.decode_tokens_per_s == doctest::Approx(0.1 + 0.5 + 1.0 + 0.2));
    CHECK(p.ceiling_tokens_per_s == doctest::Approx(2.0));
}

TEST_CASE("offload cost: prefill of resident experts is device compute, by hand") {
    TinyCase c;
    const ExpertResidency all = all_experts_resident(1, 2, std::vector<uint64_t>{1000});
    // 4 tokens, 2 per expert: max(q 1000 / 1000, 2 x 1000 x 2 / 1000 = 4) = 4 s per expert.
    const PlacementPrediction p =
        predict_split(c.shape, all, uniform_popularity(1, 2), c.cpu, c.dev, 4);
    CHECK(p.prefill_tokens_per_s == doctest::Approx(4.0 / 8.0));
    CHECK(p.prefill_streamed_experts == 0);
}

TEST_CASE("offload cost: prefill streams an expert when the copy and the device beat the CPU") {
    TinyCase c;
    const ExpertResidency none = no_experts_resident(1, 2);
    // CPU: max(q x 1 s, 4 s) = 4 s per expert; streamed: 1000 / 100 + 4 = 14 s (the whole expert
    // is copied): the CPU.
    PlacementPrediction p = predict_split(c.shape, none, uniform_popularity(1, 2), c.cpu, c.dev, 4);
    CHECK(p.prefill_streamed_experts == 0);
    CHECK(p.prefill_tokens_per_s == doctest::Approx(4.0 / 8.0));
    // A fast link and a fast device: both streamed; the copies (2 x 1000 / 1e5) and the device
    // compute (2 x max(0.9375e-3, 4e-3)) overlap.
    c.dev.h2d_bytes_per_s = 1e5;
    c.dev.flops_per_s = 1e6;
    c.dev.memory_bytes_per_s = 1e6;
    p = predict_split(c.shape, none, uniform_popularity(1, 2), c.cpu, c.dev, 4);
    CHECK(p.prefill_streamed_experts == 2);
    CHECK(p.prefill_tokens_per_s == doctest::Approx(4.0 / std::max(2 * 1e-2, 8e-3)));
}

TEST_CASE("device profiles: built-ins and a user file") {
    CHECK(builtin_device_profiles().size() == 7);
    const DeviceProfile *h200 = find_builtin_device_profile("H200-SXM");
    REQUIRE(h200);
    CHECK(h200->memory_bytes_per_s > 3e12);
    const DeviceProfile *orin = find_builtin_device_profile("jetson-orin");
    REQUIRE(orin);
    CHECK(orin->unified_memory);
    CHECK(find_builtin_device_profile("h300") == nullptr);

    const std::string good = "# mine\nname = RTX 3090\nmemory_gib = 24\nh2d_gb_per_s = 24\n"
                             "memory_gb_per_s = 800\nfp16_tflops = 70\nlayer_overhead_us = 20\n"
                             "handoff_us = 15\n";
    DeviceProfile p;
    REQUIRE(parse_device_profile(good, "mine.txt", &p).is_ok());
    CHECK(p.name == "RTX 3090");
    CHECK(p.h2d_bytes_per_s == doctest::Approx(24e9));
    CHECK(p.handoff_s == doctest::Approx(15e-6));
    CHECK_FALSE(p.unified_memory);
    // Unified memory may have no copy rate; otherwise it must be positive.
    CHECK(parse_device_profile(good + "unified_memory = 1\n", "f", &p).is_ok());
    std::string no_link = good;
    no_link.replace(no_link.find("h2d_gb_per_s = 24"), 17, "h2d_gb_per_s = 0");
    CHECK(parse_device_profile(no_link, "f", &p).code() == INFER_ERR_INVALID_ARGUMENT);
}

TEST_CASE("device profiles: hostile files are refused with the line") {
    const std::string base = "memory_gib = 24\nh2d_gb_per_s = 24\nmemory_gb_per_s = 800\n"
                             "fp16_tflops = 70\nlayer_overhead_us = 20\n";
    DeviceProfile p;
    const char *bad[] = {
        "handoff_us = 20\nhandoff_us = 20\n",       // repeated
        "handoff_us = nan\n",                       // not finite
        "handoff_us = inf\n",
        "handoff_us = -1\n",                        // negative
        "handoff_us = 20us\n",                      // trailing text
        "handoff_us = \n",                          // empty
        "handof_us = 20\n",                         // misspelled: unknown
        "handoff_us 20\n",                          // no '='
        " = 20\nhandoff_us = 20\n",                 // empty key
        "handoff us = 20\n",                        // bad key character
        "handoff_us = 1e400\n",                     // out of range
        "handoff_us = 20\nunified_memory = 2\n",    // not 0 or 1
        "",                                         // handoff_us missing
    };
    for (const char *tail : bad) {
        CAPTURE(tail);
        const Status s = parse_device_profile(base + tail, "p.txt", &p);
        CHECK(s.code() == INFER_ERR_INVALID_ARGUMENT);
        CHECK(s.message().find("p.txt") != std::string::npos);
    }
    std::string nul = base + "handoff_us = 20\n";
    nul[3] = '\0';
    CHECK(parse_device_profile(nul, "p", &p).code() == INFER_ERR_INVALID_ARGUMENT);
    CHECK(parse_device_profile(base + "name = " + std::string(5000, 'x') + "\nhandoff_us = 1\n",
                               "p", &p)
              .code() == INFER_ERR_INVALID_ARGUMENT);
    CHECK(load_device_profile("/nonexistent/profile.txt", &p).code() == INFER_ERR_INVALID_ARGUMENT);
}

TEST_CASE("cpu costs: the cache text round-trips; damaged text is refused") {
    CpuCosts c;
    c.cpu_model = "Test CPU 9000 @ 3.0GHz";
    c.n_threads = 3;
    c.read_bytes_per_s = 21.5e9;
    const auto kQ6K = static_cast<uint32_t>(TypeId::Q6_K);
    const ExpertShape mixed{kQ4K, kQ4K, kQ6K, 2048, 768};
    c.experts = {{type_probe_shape(kQ4K), 200e-6, 0, 150e9}, {mixed, 180e-6, 12.5e-6, 90e9}};
    const std::string text = format_cpu_costs(c);
    CHECK(text.find("expert.Q4_K.Q4_K.Q6_K.2048x768.node_us = 12.500") != std::string::npos);
    CpuCosts back;
    REQUIRE(parse_cpu_costs(text, "cache", &back).is_ok());
    CHECK(back.cpu_model == c.cpu_model);
    CHECK(back.n_threads == 3);
    CHECK(back.read_bytes_per_s == doctest::Approx(21.5e9));
    REQUIRE(back.experts.size() == 2);
    REQUIRE(back.expert(mixed));
    CHECK(back.expert(mixed)->expert_s == doctest::Approx(180e-6));
    CHECK(back.expert(mixed)->node_s == doctest::Approx(12.5e-6));
    CHECK(back.expert(mixed)->prefill_flops_per_s == doctest::Approx(90e9));
    // A type's rate for dense weights is its probe shape's: 3 x 1024 rows of 1152 bytes in 200 us.
    CpuTypeRate rate;
    REQUIRE(back.rate(kQ4K, &rate));
    CHECK(rate.decode_bytes_per_s == doctest::Approx(3 * 1024 * 1152 / 200e-6));
    CHECK(rate.prefill_flops_per_s == doctest::Approx(150e9));
    CHECK_FALSE(back.rate(kQ6K, &rate));

    CHECK_FALSE(parse_cpu_costs(text.substr(0, text.size() / 2), "cache", &back).is_ok());
    const std::string key = "expert.Q4_K.Q4_K.Q6_K.2048x768";
    CHECK_FALSE(parse_cpu_costs(text + key + ".expert_us = 1\n", "c", &back).is_ok()); // repeated
    for (const char *bad : {"expert.Q9_Z.Q4_K.Q4_K.64x64.expert_us = 1",  // unknown type
                            "expert.Q4_K.Q4_K.64x64.expert_us = 1",       // two types
                            "expert.Q4_K.Q4_K.Q4_K.64y64.expert_us = 1",  // no 'x'
                            "expert.Q4_K.Q4_K.Q4_K.100x64.expert_us = 1", // not whole blocks
                            "expert.Q4_K.Q4_K.Q4_K.x256.expert_us = 1",
                            "expert.Q4_K.Q4_K.Q4_K.99999999999x256.expert_us = 1",
                            "expert.Q4_K.Q4_K.Q4_K.256x256.speed = 1",    // unknown field
                            "expert.Q4_K.Q4_K.Q4_K.256x256.expert_us = -1",
                            "expert.Q4_K.Q4_K.Q4_K.256x256.expert_us = nan",
                            "expert.Q4_K.Q4_K.Q4_K.256x256.expert_us = 1", // lacks node_us...
                            "layer_overhead_us = 600"})                    // format 1's key
        CHECK_FALSE(parse_cpu_costs(text + bad + "\n", "c", &back).is_ok());
    std::string other_version = text;
    const std::string current = "format = " + std::to_string(kCpuCostsFormatVersion);
    other_version.replace(other_version.find(current), current.size(), "format = 1");
    CHECK_FALSE(parse_cpu_costs(other_version, "c", &back).is_ok());
    CHECK_FALSE(parse_cpu_costs("\x01\x02garbage", "c", &back).is_ok());
}

TEST_CASE("cpu costs: a corrupt cache file is measured again and rewritten, then read") {
    char dir[] = "/tmp/infer-cost-cache-XXXXXX";
    REQUIRE(mkdtemp(dir));
    const std::string path = cpu_costs_cache_path(dir, this_cpu_model(), 1);
    FILE *f = std::fopen(path.c_str(), "wb");
    REQUIRE(f);
    std::fprintf(f, "format = %d\ncpu = ", static_cast<int>(kCpuCostsFormatVersion)); // cut short
    std::fclose(f);
    const auto q8 = static_cast<uint32_t>(TypeId::Q8_0);
    const ExpertShape small{q8, q8, q8, 256, 128};
    CpuCosts c;
    REQUIRE(cpu_costs_for({small}, {}, 1, dir, false, &c).is_ok());
    CHECK_FALSE(c.from_cache);
    CHECK(c.read_bytes_per_s > 0);
    REQUIRE(c.expert(small));
    CHECK(c.expert(small)->expert_s > 0);
    CHECK(c.expert(small)->node_s >= 0);
    CHECK(c.expert(small)->prefill_flops_per_s > 0);
    CpuCosts again;
    REQUIRE(cpu_costs_for({small}, {}, 1, dir, false, &again).is_ok());
    CHECK(again.from_cache);
    CHECK(again.read_bytes_per_s == doctest::Approx(c.read_bytes_per_s).epsilon(1e-3));
    REQUIRE(again.expert(small));
    CHECK(again.expert(small)->expert_s == doctest::Approx(c.expert(small)->expert_s).epsilon(1e-3));
    // Asked to, it measures even with a good file.
    REQUIRE(cpu_costs_for({small}, {}, 1, dir, true, &again).is_ok());
    CHECK_FALSE(again.from_cache);
    std::remove(path.c_str());
    rmdir(dir);
}

TEST_CASE("C API: offload plan argument checks") {
    infer_offload_plan plan;
    infer_offload_plan_init(&plan);
    CHECK(plan.size == sizeof plan);
    infer_offload_plan_params params;
    infer_offload_plan_params_init(&params);
    CHECK(params.size == sizeof params);
    CHECK(infer_model_offload_plan(nullptr, &params, &plan) == INFER_ERR_INVALID_ARGUMENT);
    CHECK(infer_model_offload_plan(nullptr, nullptr, nullptr) == INFER_ERR_INVALID_ARGUMENT);
    size_t length = 0;
    char buf[16];
    CHECK(infer_model_offload_plan_text(nullptr, &params, buf, sizeof buf, &length) ==
          INFER_ERR_INVALID_ARGUMENT);
    infer_offload_plan_init(nullptr);        // no crash
    infer_offload_plan_params_init(nullptr); // no crash
}

namespace {

// A tiny OLMoE-style model in memory, loaded CPU-only through the C API.
struct TinyMoe {
    std::vector<uint8_t> image;
    infer_model *model = nullptr;
    explicit TinyMoe(int64_t n_expert) {
        synth::Spec spec;
        spec.arch = n_expert ? "olmoe" : "llama";
        synth::apply_arch_defaults(&spec);
        REQUIRE(synth::apply_preset("tiny", &spec).is_ok());
        spec.n_expert = n_expert;
        spec.n_expert_used = n_expert ? 2 : 0;
        spec.quant = "Q8_0";
        spec.random_blocks = true;
        FILE *f = std::tmpfile();
        REQUIRE(f);
        synth::Stats stats;
        REQUIRE(synth::write_model(spec, f, &stats).is_ok());
        image.resize(static_cast<size_t>(std::ftell(f)));
        std::rewind(f);
        REQUIRE(std::fread(image.data(), 1, image.size(), f) == image.size());
        std::fclose(f);
        infer_model_params params;
        infer_model_params_init(&params);
        REQUIRE(infer_model_load_memory(image.data(), image.size(), &params, &model) == INFER_OK);
    }
    ~TinyMoe() { infer_model_free(model); }
};

} // namespace

TEST_CASE("C API: offload plan struct sizes, a dense model, and a plan of a tiny MoE") {
    TinyMoe moe(4);
    infer_offload_plan plan;
    infer_offload_plan_init(&plan);
    infer_offload_plan_params params;
    infer_offload_plan_params_init(&params);
    // A cache of this test's own: measured by the first plan, read by the others. It starts
    // with the dense types' probe shapes (Q8_0 and F32, 2048 x 1024 experts: two minutes
    // under the sanitizers, where cpu_costs_for's own test measures a shape), so the first plan
    // measures only the experts' own shape through the C API, and the test takes seconds.
    char dir[] = "/tmp/infer-plan-cache-XXXXXX";
    REQUIRE(mkdtemp(dir));
    params.cache_dir = dir;
    params.n_threads = 1;
    CpuCosts seed;
    seed.cpu_model = this_cpu_model();
    seed.n_threads = 1;
    seed.read_bytes_per_s = 10e9;
    for (TypeId type : {TypeId::Q8_0, TypeId::F32})
        seed.experts.push_back({type_probe_shape(static_cast<uint32_t>(type)), 500e-6, 0, 50e9});
    REQUIRE(save_cpu_costs(cpu_costs_cache_path(dir, seed.cpu_model, 1), seed).is_ok());

    infer_offload_plan_params small = params;
    small.size = 8;
    CHECK(infer_model_offload_plan(moe.model, &small, &plan) == INFER_ERR_INVALID_ARGUMENT);
    infer_offload_plan small_plan = plan;
    small_plan.size = 4;
    CHECK(infer_model_offload_plan(moe.model, &params, &small_plan) == INFER_ERR_INVALID_ARGUMENT);

    TinyMoe dense(0);
    CHECK(infer_model_offload_plan(dense.model, &params, &plan) == INFER_ERR_INVALID_ARGUMENT);

    params.device_profile = "h100-pcie";
    REQUIRE(infer_model_offload_plan(moe.model, &params, &plan) == INFER_OK);
    CHECK(plan.costs_from_cache == 0); // the experts' shape was not in the seed
    CHECK(plan.n_threads == 1);
    CHECK(plan.expert_bytes > 0);
    CHECK(plan.budget_bytes > plan.other_weight_bytes + plan.expert_budget_bytes); // + context
    CHECK(plan.expert_budget_bytes == plan.expert_bytes / 2);
    CHECK(plan.per_expert.resident_share == doctest::Approx(0.5).epsilon(0.1));
    CHECK(plan.all_cpu.decode_tokens_per_s > 0);
    CHECK(plan.all_cpu.resident_share == 0);
    infer_offload_plan_params bad_profile = params;
    bad_profile.device_profile = "no-such-gpu";
    CHECK(infer_model_offload_plan(moe.model, &bad_profile, &plan) == INFER_ERR_INVALID_ARGUMENT);
    size_t length = 0;
    REQUIRE(infer_model_offload_plan_text(moe.model, &params, nullptr, 0, &length) == INFER_OK);
    std::string text(length + 1, '\0');
    REQUIRE(infer_model_offload_plan_text(moe.model, &params, text.data(), text.size(), &length) ==
            INFER_OK);
    CHECK(text.find("per expert") != std::string::npos);
    CHECK(text.find("H100 PCIe") != std::string::npos);
    REQUIRE(infer_model_offload_plan(moe.model, &params, &plan) == INFER_OK);
    CHECK(plan.costs_from_cache == 1);
    std::filesystem::remove_all(dir);
}
