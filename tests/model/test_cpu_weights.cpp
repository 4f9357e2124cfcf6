// The CPU's repacked weights (infer_model_params.cpu_weights, runtime/host_weights.h): a model
// whose CPU repacks its Q4_0, Q8_0, Q4_K and Q6_K weights (and copies the others as they are)
// gives the logits of one that reads them in place, bit for bit, for prompts (prefill) and single
// tokens (decode), and says how much it repacked; in place, from caller memory, or on a level
// without a repacked layout, it repacks nothing. Bad values of the parameter are refused; a
// caller built before the info fields gets the old struct filled.
#include "model_files.h"

#include "infer.h"

#include <doctest/doctest.h>

#include <cstddef>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

namespace {

const int32_t kPrompt[] = {1, 25, 310, 7, 99, 4, 12, 200, 17, 3, 61, 140, 9};

infer_model *load(const std::string &path, int32_t cpu_weights) {
    infer_model_params p;
    infer_model_params_init(&p);
    p.cpu_weights = cpu_weights;
    infer_model *m = nullptr;
    const infer_status s = infer_model_load_file(path.c_str(), &p, &m);
    REQUIRE_MESSAGE(s == INFER_OK, std::string(infer_last_error()));
    return m;
}

infer_model_info info_of(const infer_model *m) {
    infer_model_info info;
    infer_model_info_init(&info);
    REQUIRE(infer_model_get_info(m, &info) == INFER_OK);
    return info;
}

// Whether this machine's kernel level repacks (or copies) the weights it multiplies: the x86
// levels (cpu_repack.cpp's repack_layout); on ARM's and the scalar level the file's rows are read.
bool level_repacks() {
    const std::string level = infer_cpu_kernel_level();
    return level == "avx2" || level == "avx512vnni";
}

// Logits of the prompt's last token, then of three more tokens one at a time.
std::vector<float> run(const infer_model *m) {
    infer_context_params p;
    infer_context_params_init(&p);
    p.n_ctx = 64;
    p.n_threads = 2;
    infer_context *ctx = nullptr;
    REQUIRE_MESSAGE(infer_context_create(m, &p, &ctx) == INFER_OK, std::string(infer_last_error()));
    std::vector<float> all;
    const float *row = nullptr;
    uint32_t n_vocab = 0;
    REQUIRE(infer_decode(ctx, kPrompt, sizeof kPrompt / sizeof *kPrompt) == INFER_OK);
    REQUIRE(infer_context_logits(ctx, -1, &row, &n_vocab) == INFER_OK);
    all.assign(row, row + n_vocab);
    for (int32_t token : {5, 77, 301}) {
        REQUIRE(infer_decode(ctx, &token, 1) == INFER_OK);
        REQUIRE(infer_context_logits(ctx, -1, &row, &n_vocab) == INFER_OK);
        all.insert(all.end(), row, row + n_vocab);
    }
    infer_context_free(ctx);
    return all;
}

void check_same_logits(const std::string &path, bool expect_repacked) {
    infer_model *repacked = load(path, INFER_CPU_WEIGHTS_REPACK);
    infer_model *in_place = load(path, INFER_CPU_WEIGHTS_IN_PLACE);
    const infer_model_info a = info_of(repacked), b = info_of(in_place);
    if (expect_repacked) {
        CHECK(a.cpu_repacked_bytes > 0);
        CHECK(a.cpu_repacked_weights > 0);
        // The repacked copies hold at most 3% more than the file's bytes of every weight.
        CHECK(a.cpu_repacked_bytes <= a.tensor_data_bytes * 103 / 100);
    } else {
        CHECK(a.cpu_repacked_bytes == 0);
    }
    CHECK(b.cpu_repacked_bytes == 0);
    CHECK(b.cpu_repacked_weights == 0);
    const std::vector<float> x = run(repacked), y = run(in_place);
    REQUIRE(x.size() == y.size());
    CHECK(std::memcmp(x.data(), y.data(), x.size() * sizeof(float)) == 0);
    infer_model_free(repacked);
    infer_model_free(in_place);
}

} // namespace

TEST_CASE("cpu weights: a repacked MoE model (Q4_K experts) gives the in-place logits exactly") {
    check_same_logits(
        infer::test::synthetic_model("cpu-weights-qwen3moe",
                                     "--arch qwen3moe --preset tiny --quant Q4_K_M --seed 5"),
        level_repacks());
}

TEST_CASE("cpu weights: a repacked Q4_0 model gives the in-place logits exactly") {
    check_same_logits(
        infer::test::synthetic_model("cpu-weights-q4_0", "--arch llama --quant Q4_0 --seed 4"),
        level_repacks());
}

TEST_CASE(
    "cpu weights: Gemma 3 (tied Q8_0 embedding, Q4_K, Q6_K) gives the in-place logits exactly") {
    check_same_logits(infer::test::real_model("gemma-3-270m-q4_k_m.gguf"),
                      level_repacks());
}

// The process's resident file-backed memory, in KiB (/proc/self/status).
static long rss_file_kib() {
    std::ifstream status("/proc/self/status");
    std::string key;
    long value = -1;
    while (status >> key) {
        if (key == "RssFile:") {
            status >> value;
            break;
        }
        status.ignore(1 << 12, '\n');
    }
    return value;
}

// A tied embedding is repacked for the output matmul, and the file's pages of it dropped; the
// lookup must read that copy too. Reading the file instead faults a page (and its read-around)
// back in for every token looked up: 256 tokens spread over the vocabulary would bring back at
// least 1 MiB.
TEST_CASE("cpu weights: a tied embedding's lookups read the repacked copy, not the file") {
    infer_model *m =
        load(infer::test::real_model("gemma-3-270m-q4_k_m.gguf"), INFER_CPU_WEIGHTS_REPACK);
    if (!level_repacks()) {
        infer_model_free(m);
        return; // nothing is repacked there
    }
    infer_context_params p;
    infer_context_params_init(&p);
    p.n_ctx = 512;
    p.n_threads = 2;
    infer_context *ctx = nullptr;
    REQUIRE(infer_context_create(m, &p, &ctx) == INFER_OK);
    const int32_t first = 2;
    REQUIRE(infer_decode(ctx, &first, 1) == INFER_OK); // whatever else is read in place
    const long before = rss_file_kib();
    REQUIRE(before >= 0);
    std::vector<int32_t> tokens;
    for (int32_t i = 1; i <= 256; ++i)
        tokens.push_back(i * 1021);
    REQUIRE(infer_decode(ctx, tokens.data(), static_cast<int32_t>(tokens.size())) == INFER_OK);
    const long grown = rss_file_kib() - before;
    CHECK_MESSAGE(grown < 512, "file-backed memory grew by " << grown << " KiB");
    infer_context_free(ctx);
    infer_model_free(m);
}

// Q5_0 has no interleaved layout: a level with such layouts copies its matrices as their rows
// (into the copies' 2 MiB pages), with the same logits.
TEST_CASE("cpu weights: a model without interleaved formats (Q5_0) is copied as it is") {
    check_same_logits(
        infer::test::synthetic_model("cpu-weights-q5_0", "--arch llama --quant Q5_0 --seed 3"),
        level_repacks());
}

TEST_CASE("cpu weights: caller memory is read in place; bad values and old info structs") {
    const std::string path = infer::test::synthetic_model(
        "cpu-weights-qwen3moe", "--arch qwen3moe --preset tiny --quant Q4_K_M --seed 5");
    std::ifstream in(path, std::ios::binary);
    const std::vector<char> image((std::istreambuf_iterator<char>(in)),
                                  std::istreambuf_iterator<char>());
    infer_model_params p;
    infer_model_params_init(&p);
    CHECK(p.cpu_weights == INFER_CPU_WEIGHTS_REPACK);
    infer_model *m = nullptr;
    REQUIRE(infer_model_load_memory(image.data(), image.size(), &p, &m) == INFER_OK);
    CHECK(info_of(m).cpu_repacked_bytes == 0);

    // A caller from before cpu_repacked_bytes: the struct it knows is filled, nothing past it.
    std::vector<unsigned char> old(sizeof(infer_model_info) + 8, 0xCD);
    infer_model_info head;
    infer_model_info_init(&head);
    head.size = static_cast<uint32_t>(offsetof(infer_model_info, cpu_repacked_bytes));
    std::memcpy(old.data(), &head, head.size);
    CHECK(infer_model_get_info(m, reinterpret_cast<infer_model_info *>(old.data())) == INFER_OK);
    for (size_t i = head.size; i < old.size(); ++i)
        CHECK(old[i] == 0xCD);
    infer_model_free(m);

    p.cpu_weights = 7;
    m = nullptr;
    CHECK(infer_model_load_file(path.c_str(), &p, &m) == INFER_ERR_INVALID_ARGUMENT);
    CHECK(m == nullptr);
    CHECK(std::string(infer_last_error()).find("cpu_weights") != std::string::npos);
}
