// The placement half of the C API on any machine: infer_model_params' n_gpu_layers and overrides
// as the load checks them, and infer_model_placement / _text on a CPU model (one backend, every
// node). Placement across a device is tests/gpu's; the placement pass alone is test_placement.cpp.
#include "model_files.h"

#include "infer.h"

#include <doctest/doctest.h>

#include <cstddef>
#include <string>
#include <vector>

namespace {

const std::string &dense_path() {
    static const std::string path =
        infer::test::synthetic_model("placement-llama", "--arch llama --quant Q4_0 --seed 3");
    return path;
}

const std::string &moe_path() {
    static const std::string path =
        infer::test::synthetic_model("placement-olmoe", "--arch olmoe --quant Q4_0 --seed 3");
    return path;
}

infer_model_params params_with(int32_t n_gpu_layers, const infer_tensor_override *overrides,
                               int32_t n_overrides) {
    infer_model_params p;
    infer_model_params_init(&p);
    p.n_gpu_layers = n_gpu_layers;
    p.overrides = overrides;
    p.n_overrides = n_overrides;
    return p;
}

// The load's status, with its message on failure; the model freed.
infer_status load_status(const std::string &path, const infer_model_params &p, std::string *why) {
    infer_model *model = nullptr;
    const infer_status status = infer_model_load_file(path.c_str(), &p, &model);
    *why = status == INFER_OK ? "" : infer_last_error();
    if (status != INFER_OK) CHECK(model == nullptr);
    infer_model_free(model);
    return status;
}

infer_placement placement_of(const std::string &path, const infer_model_params &p) {
    infer_model *model = nullptr;
    REQUIRE_MESSAGE(infer_model_load_file(path.c_str(), &p, &model) == INFER_OK,
                    infer_last_error());
    infer_placement out;
    infer_placement_init(&out);
    const infer_status status = infer_model_placement(model, &out);
    infer_model_free(model);
    REQUIRE(status == INFER_OK);
    return out;
}

} // namespace

TEST_CASE("placement api: the structs' init sets size and the defaults") {
    infer_model_params p;
    infer_model_params_init(&p);
    CHECK(p.size == sizeof(infer_model_params));
    CHECK(p.n_gpu_layers == INFER_GPU_LAYERS_ALL);
    CHECK(p.overrides == nullptr);
    CHECK(p.n_overrides == 0);
    infer_placement placement;
    infer_placement_init(&placement);
    CHECK(placement.size == sizeof(infer_placement));
    CHECK(placement.n_backends == 0);
    infer_placement_init(nullptr); // accepted, as every *_init
}

TEST_CASE("placement api: a CPU model runs every node on the CPU") {
    const infer_placement p =
        placement_of(dense_path(), params_with(INFER_GPU_LAYERS_ALL, nullptr, 0));
    REQUIRE(p.n_backends == 1);
    CHECK(p.backends[0].backend == INFER_BACKEND_CPU);
    CHECK(p.backends[0].n_nodes > 0);
    CHECK(p.backends[0].n_layers == 2); // infer-synth's tiny preset
    CHECK(p.backends[0].weight_bytes > 0);
    CHECK(p.backends[1].n_nodes == 0);
    CHECK(p.n_gpu_layers == 0); // on the CPU the request means nothing
    CHECK(p.n_segments == 1);
    CHECK(p.n_copies == 0);
    CHECK(p.copy_bytes_per_token == 0);
    // The same whatever n_gpu_layers asks for.
    for (int32_t n : {0, 1, 1000, INFER_GPU_LAYERS_AUTO}) {
        const infer_placement q = placement_of(dense_path(), params_with(n, nullptr, 0));
        CHECK(q.n_backends == 1);
        CHECK(q.backends[0].n_nodes == p.backends[0].n_nodes);
        CHECK(q.backends[0].weight_bytes == p.backends[0].weight_bytes);
    }
}

TEST_CASE("placement api: the text follows snprintf and starts with the summary") {
    infer_model *model = nullptr;
    REQUIRE(infer_model_load_file(dense_path().c_str(), nullptr, &model) == INFER_OK);
    size_t length = 0;
    REQUIRE(infer_model_placement_text(model, nullptr, 0, &length) == INFER_OK);
    REQUIRE(length > 0);
    std::vector<char> text(length + 1, 'x');
    size_t again = 0;
    REQUIRE(infer_model_placement_text(model, text.data(), text.size(), &again) == INFER_OK);
    CHECK(again == length);
    CHECK(text[length] == '\0');
    const std::string s(text.data());
    CHECK(s.rfind("placement:", 0) == 0);
    CHECK(s.find("layer 1") != std::string::npos);
    char small[8];
    REQUIRE(infer_model_placement_text(model, small, sizeof small, &again) == INFER_OK);
    CHECK(again == length);
    CHECK(std::string(small) == s.substr(0, sizeof small - 1));
    CHECK(infer_model_placement_text(nullptr, small, sizeof small, &again) ==
          INFER_ERR_INVALID_ARGUMENT);
    infer_model_free(model);
}

TEST_CASE("placement api: bad arguments and an inspect-only model are refused") {
    infer_model *model = nullptr;
    REQUIRE(infer_model_load_file(dense_path().c_str(), nullptr, &model) == INFER_OK);
    infer_placement p;
    infer_placement_init(&p);
    CHECK(infer_model_placement(nullptr, &p) == INFER_ERR_INVALID_ARGUMENT);
    CHECK(infer_model_placement(model, nullptr) == INFER_ERR_INVALID_ARGUMENT);
    p.size = 0;
    CHECK(infer_model_placement(model, &p) == INFER_ERR_INVALID_ARGUMENT);
    CHECK(std::string(infer_last_error()).find("infer_placement_init") != std::string::npos);
    infer_model_free(model);

    infer_model_params inspect;
    infer_model_params_init(&inspect);
    inspect.inspect_only = 1;
    REQUIRE(infer_model_load_file(dense_path().c_str(), &inspect, &model) == INFER_OK);
    infer_placement_init(&p);
    CHECK(infer_model_placement(model, &p) == INFER_ERR_INVALID_ARGUMENT);
    size_t length = 0;
    CHECK(infer_model_placement_text(model, nullptr, 0, &length) == INFER_ERR_INVALID_ARGUMENT);
    CHECK(std::string(infer_last_error()).find("inspect-only") != std::string::npos);
    infer_model_free(model);
}

TEST_CASE("placement api: n_gpu_layers and overrides are checked at load") {
    std::string why;
    CHECK(load_status(dense_path(), params_with(-3, nullptr, 0), &why) ==
          INFER_ERR_INVALID_ARGUMENT);
    CHECK(why.find("n_gpu_layers -3") != std::string::npos);
    CHECK(load_status(dense_path(), params_with(-1, nullptr, 1), &why) ==
          INFER_ERR_INVALID_ARGUMENT);
    CHECK(load_status(dense_path(), params_with(-1, nullptr, -1), &why) ==
          INFER_ERR_INVALID_ARGUMENT);
    const infer_tensor_override null_pattern[] = {{nullptr, INFER_BACKEND_CPU}};
    CHECK(load_status(dense_path(), params_with(-1, null_pattern, 1), &why) ==
          INFER_ERR_INVALID_ARGUMENT);
    CHECK(why.find("overrides[0].pattern is NULL") != std::string::npos);
    // Checked against the model's weights: no match, not a regex, a backend it does not run on.
    const infer_tensor_override experts[] = {{"exps", INFER_BACKEND_CPU}};
    CHECK(load_status(dense_path(), params_with(-1, experts, 1), &why) ==
          INFER_ERR_INVALID_ARGUMENT);
    CHECK(why.find("matches no weight") != std::string::npos);
    const infer_tensor_override not_regex[] = {{"ffn_(up", INFER_BACKEND_CPU}};
    CHECK(load_status(dense_path(), params_with(-1, not_regex, 1), &why) ==
          INFER_ERR_INVALID_ARGUMENT);
    CHECK(why.find("not a regex") != std::string::npos);
    const infer_tensor_override to_cuda[] = {{"ffn_up", INFER_BACKEND_CUDA}};
    CHECK(load_status(dense_path(), params_with(-1, to_cuda, 1), &why) ==
          INFER_ERR_INVALID_ARGUMENT);
    CHECK(why.find("neither the CPU") != std::string::npos);
}

TEST_CASE("placement api: an older caller's params end before n_gpu_layers and still load") {
    const infer_tensor_override bogus[] = {{nullptr, 99}};
    infer_model_params p = params_with(-7, bogus, 5); // past the caller's size: never read
    p.size = offsetof(infer_model_params, n_gpu_layers);
    std::string why;
    CHECK_MESSAGE(load_status(dense_path(), p, &why) == INFER_OK, why);
}

TEST_CASE("placement api: on a CPU model, overrides to the CPU are accepted and change nothing") {
    const infer_placement plain =
        placement_of(moe_path(), params_with(INFER_GPU_LAYERS_ALL, nullptr, 0));
    const infer_tensor_override overrides[] = {{"exps", INFER_BACKEND_CPU},
                                               {"attn_q", INFER_BACKEND_CPU}};
    const infer_placement p =
        placement_of(moe_path(), params_with(INFER_GPU_LAYERS_ALL, overrides, 2));
    REQUIRE(p.n_backends == 1);
    CHECK(p.backends[0].n_nodes == plain.backends[0].n_nodes);
    CHECK(p.backends[0].n_layers == plain.backends[0].n_layers);
    CHECK(p.backends[0].weight_bytes == plain.backends[0].weight_bytes);
    CHECK(p.n_segments == 1);
}
