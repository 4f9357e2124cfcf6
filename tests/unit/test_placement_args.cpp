// The samples' placement options (samples/common/placement_args.c): what each spelling sets, the
// comma-separated override list, and the values refused as usage errors.
#include "placement_args.h"

#include <doctest/doctest.h>

#include <string>
#include <vector>

namespace {

struct Parsed {
    placement_args args;
    int result = 0; // of the last placement_args_parse call: 1 taken, 0 not ours, -1 error
    std::string error;
    bool checked = false; // placement_args_check's verdict

    Parsed() = default;
    Parsed(const Parsed &other) { *this = other; }
    // args.overrides[i].pattern points into args.patterns: a copy points into its own.
    Parsed &operator=(const Parsed &other) {
        args = other.args;
        for (int32_t i = 0; i < args.n_overrides; ++i) args.overrides[i].pattern = args.patterns[i];
        result = other.result;
        error = other.error;
        checked = other.checked;
        return *this;
    }
};

// Parses every argument as the samples do: placement options, or 0 for anything else.
Parsed parse(std::vector<std::string> words) {
    Parsed p;
    placement_args_init(&p.args);
    words.insert(words.begin(), "program");
    std::vector<char *> argv;
    for (std::string &w : words)
        argv.push_back(w.data());
    char error[512] = "";
    for (int i = 1; i < static_cast<int>(argv.size()); ++i) {
        p.result = placement_args_parse(&p.args, static_cast<int>(argv.size()), argv.data(), &i,
                                        error, sizeof error);
        if (p.result <= 0) break;
    }
    p.error = error;
    if (p.result >= 0) p.checked = placement_args_check(&p.args, error, sizeof error) != 0;
    if (!p.checked && p.error.empty()) p.error = error;
    return p;
}

std::string overrides_text(const placement_args &a) {
    char buf[256];
    placement_args_overrides_text(&a, buf, sizeof buf);
    return buf;
}

} // namespace

TEST_CASE("placement args: defaults, backends in any case, and layer counts") {
    Parsed p = parse({});
    CHECK(p.args.backend == INFER_BACKEND_CPU);
    CHECK(p.args.n_gpu_layers == INFER_GPU_LAYERS_ALL);
    CHECK(p.args.n_overrides == 0);
    CHECK(overrides_text(p.args) == "-");

    p = parse({"--backend", "CUDA", "--device", "1", "-ngl", "16"});
    REQUIRE(p.result == 1);
    CHECK(p.checked);
    CHECK(p.args.backend == INFER_BACKEND_CUDA);
    CHECK(p.args.device == 1);
    CHECK(p.args.n_gpu_layers == 16);
    CHECK(parse({"--backend", "cuda", "-ngl", "all"}).args.n_gpu_layers == INFER_GPU_LAYERS_ALL);
    CHECK(parse({"--backend", "cuda", "-ngl", "0"}).args.n_gpu_layers == 0);
    p = parse({"--backend", "Vulkan", "--n-gpu-layers", "auto"});
    CHECK(p.checked);
    CHECK(p.args.backend == INFER_BACKEND_VULKAN);

    infer_model_params params;
    infer_model_params_init(&params);
    placement_args_apply(&p.args, &params);
    CHECK(params.backend == INFER_BACKEND_VULKAN);
    CHECK(params.n_gpu_layers == INFER_GPU_LAYERS_AUTO);
    CHECK(params.overrides == nullptr);
    CHECK(params.n_overrides == 0);
}

TEST_CASE("placement args: overrides, one per option or as llama.cpp's comma list") {
    Parsed p =
        parse({"--override", "exps=CPU", "-ot", "blk\\.1[0-9]\\.=cuda", "--backend", "cuda"});
    REQUIRE(p.result == 1);
    REQUIRE(p.args.n_overrides == 2);
    CHECK(std::string(p.args.overrides[0].pattern) == "exps");
    CHECK(p.args.overrides[0].backend == INFER_BACKEND_CPU);
    CHECK(std::string(p.args.overrides[1].pattern) == "blk\\.1[0-9]\\.");
    CHECK(p.args.overrides[1].backend == INFER_BACKEND_CUDA);
    CHECK(overrides_text(p.args) == "exps=CPU,blk\\.1[0-9]\\.=CUDA");

    // A comma ends an entry only after =BACKEND, so a regex keeps its own commas and '='.
    p = parse({"--override-tensor", "ffn_up=CPU,blk\\.[0-9]{1,2}\\.ffn_down=cpu,a=b=Cpu"});
    REQUIRE(p.result == 1);
    REQUIRE(p.args.n_overrides == 3);
    CHECK(std::string(p.args.overrides[0].pattern) == "ffn_up");
    CHECK(std::string(p.args.overrides[1].pattern) == "blk\\.[0-9]{1,2}\\.ffn_down");
    CHECK(std::string(p.args.overrides[2].pattern) == "a=b");
    CHECK(p.args.overrides[2].backend == INFER_BACKEND_CPU);

    infer_model_params params;
    infer_model_params_init(&params);
    placement_args_apply(&p.args, &params);
    CHECK(params.n_overrides == 3);
    CHECK(params.overrides == p.args.overrides);
}

TEST_CASE("placement args: bad values are usage errors that name the value") {
    const std::vector<std::vector<std::string>> bad = {{"--backend", "metal"},
                                                       {"--backend"},
                                                       {"-ngl", "-3"},
                                                       {"-ngl", "many"},
                                                       {"-ngl", "12x"},
                                                       {"--device", "-1"},
                                                       {"--override", "exps"},
                                                       {"--override", "=cpu"},
                                                       {"--override", "exps=gpu"},
                                                       {"--override", "exps=CPU,"},
                                                       {"--override", "a=cpu,b"}};
    for (const auto &args : bad) {
        const Parsed p = parse(args);
        CAPTURE(args[0]);
        CHECK(p.result == -1);
        CHECK(!p.error.empty());
        if (args.size() > 1) CHECK(p.error.find(args[1]) != std::string::npos);
    }
    // Layers on a device need a device.
    Parsed p = parse({"-ngl", "8"});
    CHECK(p.result == 1);
    CHECK(!p.checked);
    CHECK(p.error.find("--backend") != std::string::npos);
    // Other arguments are not the parser's.
    CHECK(parse({"-m", "model.gguf"}).result == 0);
}

TEST_CASE("placement args: device budget sizes and per-expert offload") {
    Parsed p = parse({"--backend", "cuda", "--device-budget", "8G", "--experts", "popularity"});
    CHECK(p.checked);
    CHECK(p.args.device_budget == (uint64_t{8} << 30));
    CHECK(p.args.expert_placement == INFER_EXPERTS_BY_POPULARITY);
    CHECK(parse({"--device-budget", "512M"}).args.device_budget == (uint64_t{512} << 20));
    CHECK(parse({"--device-budget", "123456"}).args.device_budget == 123456);
    CHECK(parse({"--device-budget", "64k"}).args.device_budget == 65536);
    // A statistics file or a calibration text means per-expert placement.
    p = parse({"--backend", "cuda", "--expert-popularity", "stats.tsv"});
    CHECK(p.checked);
    CHECK(p.args.expert_placement == INFER_EXPERTS_BY_POPULARITY);
    CHECK(p.args.expert_stats != nullptr);
    p = parse({"--backend", "cuda", "--calibrate", "some text"});
    CHECK(p.args.expert_placement == INFER_EXPERTS_BY_POPULARITY);
    CHECK(p.args.calibration != nullptr);
    CHECK(parse({"--backend", "cuda", "--experts", "layer"}).args.expert_placement ==
          INFER_EXPERTS_BY_LAYER);
    infer_model_params params;
    infer_model_params_init(&params);
    p = parse({"--backend", "cuda", "--device-budget", "1G", "--experts", "popularity"});
    placement_args_apply(&p.args, &params);
    CHECK(params.device_memory_budget == (uint64_t{1} << 30));
    CHECK(params.expert_placement == INFER_EXPERTS_BY_POPULARITY);

    for (const char *bad : {"8X", "-1", "G", "", "99999999999G"}) {
        CAPTURE(bad);
        p = parse({"--device-budget", bad});
        CHECK(p.result == -1);
        CHECK(p.error.find("--device-budget") != std::string::npos);
    }
    p = parse({"--experts", "some"});
    CHECK(p.result == -1);
    CHECK(p.error.find("not one of layer, popularity") != std::string::npos);
    // How prefill computes the experts off the device: a context's choice.
    CHECK(parse({}).args.expert_prefill == INFER_EXPERT_PREFILL_AUTO);
    p = parse({"--backend", "cuda", "--experts", "popularity", "--expert-prefill", "stream"});
    CHECK(p.checked);
    infer_context_params context;
    infer_context_params_init(&context);
    placement_args_apply_context(&p.args, &context);
    CHECK(context.expert_prefill == INFER_EXPERT_PREFILL_STREAM);
    CHECK(parse({"--expert-prefill", "cpu"}).args.expert_prefill == INFER_EXPERT_PREFILL_CPU);
    p = parse({"--expert-prefill", "gpu"});
    CHECK(p.result == -1);
    CHECK(p.error.find("not one of auto, cpu, stream") != std::string::npos);
    // Sharing experts with a device needs a device.
    p = parse({"--experts", "popularity"});
    CHECK(p.result == 1);
    CHECK_FALSE(p.checked);
    CHECK(p.error.find("--backend cuda") != std::string::npos);
}
