// The C API's first part on in-memory images: version, status strings, per-thread last error,
// log sink, load from memory with progress and cancel, info, metadata getters with snprintf
// buffers, tensor listing, parameter struct sizes, and the architecture check at load.
#include "gguf_image.h"

#include "infer.h"

#include <doctest/doctest.h>

#include <cstring>
#include <set>
#include <string>
#include <thread>
#include <vector>

using infer::TypeId;
using infer::gguf::ValueType;
using infer::gguf::MetaValue;
using infer::gguf::Writer;
using infer::test::build_image;

namespace {

std::vector<uint8_t> sample_image() {
    Writer w;
    w.add("general.architecture", MetaValue::str("test-arch"));
    w.add("general.name", MetaValue::str("tiny \"test\"\n"));
    w.add("some.u32", MetaValue::u32(7));
    w.add("some.f32", MetaValue::f32(0.5f));
    w.add("some.u64.big", MetaValue::u64(~uint64_t{0}));
    w.add("some.bool", MetaValue::boolean(true));
    std::vector<MetaValue> words, numbers;
    for (int i = 0; i < 20; ++i) {
        std::string word = "w"; // (not "w" + ...: g++ 12 warns falsely on that, -Wrestrict)
        word += std::to_string(i);
        words.push_back(MetaValue::str(word));
        numbers.push_back(MetaValue::i32(-i));
    }
    w.add("some.words", MetaValue::array(ValueType::STRING, words));
    w.add("some.numbers", MetaValue::array(ValueType::I32, numbers));
    w.add_tensor("a.weight", TypeId::F32, {4, 3});
    w.add_tensor("b.weight", TypeId::Q8_0, {64, 2});
    return build_image(w);
}

struct Model {
    infer_model *m = nullptr;
    ~Model() { infer_model_free(m); }
};

infer_model_params inspect_params() {
    infer_model_params p;
    infer_model_params_init(&p);
    p.inspect_only = 1;
    return p;
}

} // namespace

TEST_CASE("api: version and status strings") {
    CHECK(std::string(infer_version()) == "0.1.0");
    CHECK(infer_version_number() ==
          INFER_VERSION_MAJOR * 10000u + INFER_VERSION_MINOR * 100u + INFER_VERSION_PATCH);
    std::set<std::string> seen;
    const int codes[] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 100, 101, 102, 103, 104, 105, 106, 107, 108,
                         109, 110, 111, 200, 201, 202, 203, 204, 205, 300, 301, 302, 303};
    for (int code : codes) {
        const std::string s = infer_status_string(static_cast<infer_status>(code));
        CHECK(s != "unknown status");
        CHECK(seen.insert(s).second); // every status has its own text
    }
    CHECK(std::string(infer_status_string(static_cast<infer_status>(999))) == "unknown status");
}

TEST_CASE("api: load from memory, info, tensors, and the last error is per thread") {
    const std::vector<uint8_t> image = sample_image();
    Model model;
    // Without inspect_only, an architecture libinfer does not implement is refused by name.
    CHECK(infer_model_load_memory(image.data(), image.size(), nullptr, &model.m) ==
          INFER_ERR_MODEL_UNKNOWN_ARCH);
    CHECK(model.m == nullptr);
    CHECK(std::string(infer_last_error()).find("test-arch") != std::string::npos);

    std::string other_thread_error;
    std::thread([&] {
        infer_model *m = nullptr;
        CHECK(infer_model_load_memory("GGUX", 4, nullptr, &m) == INFER_ERR_GGUF_BAD_MAGIC);
        other_thread_error = infer_last_error();
    }).join();
    CHECK(std::string(infer_last_error()).find("test-arch") != std::string::npos);
    CHECK(!other_thread_error.empty());

    const infer_model_params params = inspect_params();
    REQUIRE(infer_model_load_memory(image.data(), image.size(), &params, &model.m) == INFER_OK);
    infer_model_info info;
    infer_model_info_init(&info);
    REQUIRE(infer_model_get_info(model.m, &info) == INFER_OK);
    CHECK(info.gguf_version == 3);
    CHECK(std::string(info.architecture) == "test-arch");
    CHECK(info.n_metadata == 8);
    CHECK(info.n_tensors == 2);
    CHECK(info.n_elements == 12 + 128);
    CHECK(info.tensor_data_bytes == 48 + 2 * 68);
    CHECK(info.file_size == image.size());
    CHECK(info.alignment == 32);

    infer_tensor_info t;
    infer_tensor_info_init(&t);
    REQUIRE(infer_model_tensor_info(model.m, 1, &t) == INFER_OK);
    CHECK(std::string(t.name) == "b.weight");
    CHECK(t.type == 8);
    CHECK(std::string(infer_type_name(t.type)) == "Q8_0");
    CHECK(t.n_dims == 2);
    CHECK(t.dims[0] == 64);
    CHECK(t.dims[1] == 2);
    CHECK(t.dims[2] == 1);
    CHECK(t.n_bytes == 136);
    CHECK(t.offset % 32 == 0);
    CHECK(t.offset >= info.data_offset);
    CHECK(infer_model_tensor_info(model.m, 2, &t) == INFER_ERR_NOT_FOUND);
    uint64_t index = 9;
    REQUIRE(infer_model_find_tensor(model.m, "a.weight", &index) == INFER_OK);
    CHECK(index == 0);
    CHECK(infer_model_find_tensor(model.m, "c.weight", &index) == INFER_ERR_NOT_FOUND);
    CHECK(infer_type_name(4) == nullptr); // retired id

    // Structs that were not prepared by their init function are refused, not misread.
    infer_tensor_info unprepared{};
    CHECK(infer_model_tensor_info(model.m, 0, &unprepared) == INFER_ERR_INVALID_ARGUMENT);
    infer_model_params bad_params{};
    infer_model *m = nullptr;
    CHECK(infer_model_load_memory(image.data(), image.size(), &bad_params, &m) ==
          INFER_ERR_INVALID_ARGUMENT);
    CHECK(infer_model_load_memory(image.data(), image.size(), nullptr, nullptr) ==
          INFER_ERR_INVALID_ARGUMENT);
    infer_model_free(nullptr);
}

TEST_CASE("api: metadata getters convert, fail on mismatches and follow snprintf") {
    const std::vector<uint8_t> image = sample_image();
    const infer_model_params params = inspect_params();
    Model model;
    REQUIRE(infer_model_load_memory(image.data(), image.size(), &params, &model.m) == INFER_OK);

    const char *key = nullptr;
    REQUIRE(infer_model_meta_key(model.m, 2, &key) == INFER_OK);
    CHECK(std::string(key) == "some.u32");
    CHECK(infer_model_meta_key(model.m, 8, &key) == INFER_ERR_NOT_FOUND);

    int64_t i = 0;
    double f = 0;
    CHECK(infer_model_meta_int(model.m, "some.u32", &i) == INFER_OK);
    CHECK(i == 7);
    CHECK(infer_model_meta_float(model.m, "some.u32", &f) == INFER_OK);
    CHECK(f == 7.0);
    CHECK(infer_model_meta_float(model.m, "some.f32", &f) == INFER_OK);
    CHECK(f == 0.5);
    CHECK(infer_model_meta_int(model.m, "some.f32", &i) == INFER_ERR_TYPE_MISMATCH);
    CHECK(infer_model_meta_int(model.m, "some.u64.big", &i) == INFER_ERR_TYPE_MISMATCH);
    CHECK(infer_model_meta_int(model.m, "some.bool", &i) == INFER_OK);
    CHECK(i == 1);
    CHECK(infer_model_meta_int(model.m, "missing", &i) == INFER_ERR_NOT_FOUND);
    CHECK(std::string(infer_last_error()).find("missing") != std::string::npos);

    char buf[8];
    size_t length = 0;
    REQUIRE(infer_model_meta_string(model.m, "general.name", buf, sizeof buf, &length) == INFER_OK);
    CHECK(length == 12);
    CHECK(std::string(buf) == "tiny \"t"); // truncated to capacity - 1, terminated
    REQUIRE(infer_model_meta_string(model.m, "general.name", nullptr, 0, &length) == INFER_OK);
    CHECK(length == 12);
    CHECK(infer_model_meta_string(model.m, "some.u32", buf, sizeof buf, &length) ==
          INFER_ERR_TYPE_MISMATCH);

    int32_t type = -2, elem = -2;
    uint64_t count = 0;
    REQUIRE(infer_model_meta_type(model.m, "some.words", &type, &elem, &count) == INFER_OK);
    CHECK(type == INFER_META_ARRAY);
    CHECK(elem == INFER_META_STRING);
    CHECK(count == 20);
    REQUIRE(infer_model_meta_type(model.m, "some.u32", &type, &elem, &count) == INFER_OK);
    CHECK(type == INFER_META_U32);
    CHECK(elem == -1);

    char word[16];
    REQUIRE(infer_model_meta_array_string(model.m, "some.words", 13, word, sizeof word, &length) ==
            INFER_OK);
    CHECK(std::string(word) == "w13");
    CHECK(infer_model_meta_array_string(model.m, "some.words", 20, word, sizeof word, &length) ==
          INFER_ERR_NOT_FOUND);
    REQUIRE(infer_model_meta_array_int(model.m, "some.numbers", 5, &i) == INFER_OK);
    CHECK(i == -5);
    REQUIRE(infer_model_meta_array_float(model.m, "some.numbers", 6, &f) == INFER_OK);
    CHECK(f == -6.0);
    CHECK(infer_model_meta_array_int(model.m, "some.words", 0, &i) == INFER_ERR_TYPE_MISMATCH);
    CHECK(infer_model_meta_array_int(model.m, "some.u32", 0, &i) == INFER_ERR_TYPE_MISMATCH);

    char text[256];
    REQUIRE(infer_model_meta_format(model.m, "some.numbers", 3, text, sizeof text, &length) ==
            INFER_OK);
    CHECK(std::string(text) == "[0, -1, -2, ... (20 total)]");
    REQUIRE(infer_model_meta_format(model.m, "general.name", 3, text, sizeof text, &length) ==
            INFER_OK);
    CHECK(std::string(text) == "\"tiny \\\"test\\\"\\n\"");
    REQUIRE(infer_model_meta_format(model.m, "some.bool", 3, text, sizeof text, &length) == INFER_OK);
    CHECK(std::string(text) == "true");
}

TEST_CASE("api: the progress callback sees progress and can cancel a load") {
    const std::vector<uint8_t> image = sample_image();
    infer_model_params params = inspect_params();
    std::vector<float> seen;
    params.progress = [](float p, void *user) -> int32_t {
        static_cast<std::vector<float> *>(user)->push_back(p);
        return 1;
    };
    params.progress_user_data = &seen;
    Model model;
    REQUIRE(infer_model_load_memory(image.data(), image.size(), &params, &model.m) == INFER_OK);
    REQUIRE(!seen.empty());
    CHECK(seen.back() == 1.0f);

    params.progress = [](float, void *) -> int32_t { return 0; };
    infer_model *m = nullptr;
    CHECK(infer_model_load_memory(image.data(), image.size(), &params, &m) == INFER_ERR_CANCELLED);
    CHECK(m == nullptr);
}

TEST_CASE("api: the log sink receives messages at its level, and NULL restores the default") {
    struct Sink {
        std::vector<std::string> lines;
    } sink;
    infer_set_log_callback(
        [](int32_t, const char *message, void *user) {
            static_cast<Sink *>(user)->lines.push_back(message);
        },
        &sink, INFER_LOG_DEBUG);
    infer_model *m = nullptr;
    CHECK(infer_model_load_memory("nope", 4, nullptr, &m) == INFER_ERR_GGUF_BAD_MAGIC);
    infer_set_log_callback(nullptr, nullptr, 0);
    REQUIRE(!sink.lines.empty());
    CHECK(sink.lines.back().find("not a GGUF file") != std::string::npos);
    const size_t count = sink.lines.size();
    CHECK(infer_model_load_memory("nope", 4, nullptr, &m) == INFER_ERR_GGUF_BAD_MAGIC);
    CHECK(sink.lines.size() == count);
}

TEST_CASE("api: the memory read bandwidth probe measures, and rejects bad arguments") {
    double bw = -1;
    CHECK(infer_measure_read_bandwidth(1, nullptr) == INFER_ERR_INVALID_ARGUMENT);
    CHECK(infer_measure_read_bandwidth(-1, &bw) == INFER_ERR_INVALID_ARGUMENT);
    CHECK(bw == 0);
    CHECK(infer_measure_read_bandwidth(1025, &bw) == INFER_ERR_INVALID_ARGUMENT);
    REQUIRE(infer_measure_read_bandwidth(1, &bw) == INFER_OK);
    CHECK(bw > 1e8); // any machine that runs the tests reads faster than 100 MB/s
}

TEST_CASE("api: backends report their devices or that they are not built in") {
    int32_t count = -1;
    REQUIRE(infer_backend_device_count(INFER_BACKEND_CPU, &count) == INFER_OK);
    CHECK(count == 1);
    const infer_status cuda = infer_backend_device_count(INFER_BACKEND_CUDA, &count);
#if INFER_HAVE_CUDA
    CHECK(cuda == INFER_OK); // 0 devices with the reason on a machine without a GPU
    if (count == 0) CHECK(std::string(infer_last_error()).find("CUDA") != std::string::npos);
#else
    CHECK(cuda == INFER_ERR_UNSUPPORTED);
#endif
    const infer_status vulkan = infer_backend_device_count(INFER_BACKEND_VULKAN, &count);
#if INFER_HAVE_VULKAN
    CHECK(vulkan == INFER_OK);
    CHECK(count >= 1); // lavapipe at least
#else
    CHECK(vulkan == INFER_ERR_UNSUPPORTED);
#endif
    CHECK(infer_backend_device_count(7, &count) == INFER_ERR_INVALID_ARGUMENT);
}
