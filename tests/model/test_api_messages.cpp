// Error messages state the rule that was broken (limits included), tell a NULL pointer from an
// unprepared struct, and stay short whatever the caller passes: a hostile 10 KB name yields a
// message of bounded length that still ends with the rule.
#include "model_files.h"

#include "core/status.h"
#include "infer.h"

#include <doctest/doctest.h>

#include <cstring>
#include <memory>
#include <string>

namespace {

struct ModelDeleter { void operator()(infer_model *m) const { infer_model_free(m); } };
using ModelPtr = std::unique_ptr<infer_model, ModelDeleter>;

ModelPtr smollm() {
    const std::string path = infer::test::real_model("SmolLM2-135M-Instruct.Q4_1.gguf");
    infer_model *m = nullptr;
    REQUIRE_MESSAGE(infer_model_load_file(path.c_str(), nullptr, &m) == INFER_OK, std::string(infer_last_error()));
    return ModelPtr(m);
}

bool says(const char *part) { return std::strstr(infer_last_error(), part) != nullptr; }

// A message may quote caller text, but only an excerpt of it.
constexpr size_t kShortMessage = 400;

} // namespace

TEST_CASE("messages: an unprepared result struct is told apart from a NULL pointer") {
    ModelPtr model = smollm();
    infer_memory_requirements req;
    infer_memory_requirements_init(&req);
    req.size = 8;
    CHECK(infer_context_memory_requirements(model.get(), nullptr, &req) ==
          INFER_ERR_INVALID_ARGUMENT);
    CHECK(says("out->size is 8"));
    CHECK(says("infer_memory_requirements_init"));
    CHECK(infer_context_memory_requirements(model.get(), nullptr, nullptr) ==
          INFER_ERR_INVALID_ARGUMENT);
    CHECK(says("out is NULL"));
    infer_memory_requirements_init(&req);
    CHECK(infer_context_memory_requirements(nullptr, nullptr, &req) == INFER_ERR_INVALID_ARGUMENT);
    CHECK(says("model is NULL"));

    infer_context *ctx = nullptr;
    REQUIRE(infer_context_create(model.get(), nullptr, &ctx) == INFER_OK);
    infer_context_stats stats;
    infer_context_stats_init(&stats);
    stats.size = 3;
    CHECK(infer_context_get_stats(ctx, &stats) == INFER_ERR_INVALID_ARGUMENT);
    CHECK(says("stats->size is 3"));
    CHECK(says("infer_context_stats_init"));
    CHECK(infer_context_get_stats(ctx, nullptr) == INFER_ERR_INVALID_ARGUMENT);
    CHECK(says("stats is NULL"));
    infer_context_free(ctx);
}

TEST_CASE("messages: context limits are stated in the refusal") {
    ModelPtr model = smollm();
    infer_memory_requirements req;
    infer_memory_requirements_init(&req);
    infer_context_params p;

    infer_context_params_init(&p);
    p.n_ctx = (1u << 24) + 1;
    CHECK(infer_context_memory_requirements(model.get(), &p, &req) == INFER_ERR_INVALID_ARGUMENT);
    CHECK(says("n_ctx 16777217"));
    CHECK(says("1..16777216"));

    infer_context_params_init(&p);
    p.n_ctx = 100000;
    p.n_batch = 70000;
    CHECK(infer_context_memory_requirements(model.get(), &p, &req) == INFER_ERR_INVALID_ARGUMENT);
    CHECK(says("n_batch 70000"));
    CHECK(says("1..65536"));

    infer_context_params_init(&p);
    p.n_threads = 5000;
    CHECK(infer_context_memory_requirements(model.get(), &p, &req) == INFER_ERR_INVALID_ARGUMENT);
    CHECK(says("0..1024"));
}

TEST_CASE("messages: hostile caller strings are quoted as short excerpts") {
    ModelPtr model = smollm();
    const std::string huge(10000, 'x');

    const infer_chat_message message = {"user", "hi"};
    char buf[64];
    size_t length = 0;
    CHECK(infer_chat_apply_template(model.get(), huge.c_str(), &message, 1, 1, buf, sizeof buf,
                                    &length) == INFER_ERR_INVALID_ARGUMENT);
    CHECK(std::strlen(infer_last_error()) < kShortMessage);
    CHECK(says("10000 bytes"));
    CHECK(says("known:")); // the rule survives the cut

    const infer_chat_message bad_role = {huge.c_str(), "hi"};
    CHECK(infer_chat_apply_template(model.get(), nullptr, &bad_role, 1, 1, buf, sizeof buf,
                                    &length) == INFER_ERR_INVALID_ARGUMENT);
    CHECK(std::strlen(infer_last_error()) < kShortMessage);
    CHECK(says("roles are system, user and assistant"));

    int64_t value = 0;
    CHECK(infer_model_meta_int(model.get(), huge.c_str(), &value) == INFER_ERR_NOT_FOUND);
    CHECK(std::strlen(infer_last_error()) < kShortMessage);
    uint64_t index = 0;
    CHECK(infer_model_find_tensor(model.get(), huge.c_str(), &index) == INFER_ERR_NOT_FOUND);
    CHECK(std::strlen(infer_last_error()) < kShortMessage);

    // Control characters cannot forge lines in a log.
    CHECK(infer_model_meta_int(model.get(), "evil\nkey\x1b[2J", &value) == INFER_ERR_NOT_FOUND);
    CHECK(says("evil\\x0akey\\x1b[2J"));
}

TEST_CASE("messages: excerpt cuts on a UTF-8 boundary and escapes control bytes") {
    CHECK(infer::excerpt("abc") == "abc");
    CHECK(infer::excerpt("a'b\"c\\") == "a\\'b\\\"c\\\\");
    CHECK(infer::excerpt("tab\there") == "tab\\x09here");
    // "é" is two bytes; a cut after 4 bytes of "aaaé..." must not split it.
    const std::string accented = "aaa\xc3\xa9zzzz";
    CHECK(infer::excerpt(accented, 4) == "aaa... (9 bytes)");
    CHECK(infer::excerpt(accented, 5) == "aaa\xc3\xa9... (9 bytes)");
    CHECK(infer::bounded_message(std::string(5000, 'm')).size() == infer::kMaxMessageBytes + 3);
}
