// What a loaded model needs of its file. Read into memory (read_into_memory), the model no
// longer depends on it: truncated or deleted, decoding goes on with the same logits. Mapped (the
// default), the file must stay unchanged: truncating it makes the next decode die of SIGBUS,
// shown in a child process so that the documented behaviour stays known.
#include "model_files.h"

#include "infer.h"

#include <doctest/doctest.h>

#include <csignal>
#include <cstddef>
#include <filesystem>
#include <string>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

namespace {

const int32_t kPrompt[] = {1, 504, 3458, 282, 4649, 314, 3575, 30, 378, 1345, 288, 19};
constexpr size_t kPromptSize = sizeof kPrompt / sizeof *kPrompt;

// A private copy of SmolLM2 in the temp directory (the cached model is never modified).
struct ModelCopy {
    std::filesystem::path path;
    explicit ModelCopy(const char *tag)
        : path(std::filesystem::temp_directory_path() /
               ("infer-model-copy-" + std::to_string(::getpid()) + "-" + tag + ".gguf")) {
        std::filesystem::copy_file(infer::test::real_model("SmolLM2-135M-Instruct.Q4_1.gguf"), path,
                                   std::filesystem::copy_options::overwrite_existing);
    }
    ~ModelCopy() {
        std::error_code ec;
        std::filesystem::remove(path, ec);
    }
};

// The last position's logits after decoding the prompt in a fresh context.
infer_status decode_prompt(const infer_model *model, std::vector<float> *logits) {
    infer_context_params p;
    infer_context_params_init(&p);
    p.n_ctx = 64;
    p.n_threads = 2;
    infer_context *ctx = nullptr;
    infer_status status = infer_context_create(model, &p, &ctx);
    if (status == INFER_OK) status = infer_decode(ctx, kPrompt, kPromptSize);
    const float *row = nullptr;
    uint32_t n_vocab = 0;
    if (status == INFER_OK) status = infer_context_logits(ctx, -1, &row, &n_vocab);
    if (status == INFER_OK) logits->assign(row, row + n_vocab);
    infer_context_free(ctx);
    return status;
}

} // namespace

TEST_CASE("model file: read into memory, the model survives truncation and deletion of the file") {
    const ModelCopy copy("read");
    infer_model_params params;
    infer_model_params_init(&params);
    CHECK(params.read_into_memory == 0); // mapping stays the default
    params.read_into_memory = 1;
    std::vector<float> reported;
    params.progress = [](float p, void *user) -> int32_t {
        static_cast<std::vector<float> *>(user)->push_back(p);
        return 1;
    };
    params.progress_user_data = &reported;
    infer_model *model = nullptr;
    REQUIRE_MESSAGE(infer_model_load_file(copy.path.c_str(), &params, &model) == INFER_OK,
                    infer_last_error());
    REQUIRE(!reported.empty());
    CHECK(reported.back() == 1.0f);
    for (size_t i = 1; i < reported.size(); ++i) CHECK(reported[i] >= reported[i - 1]);

    std::vector<float> before, truncated, deleted;
    REQUIRE(decode_prompt(model, &before) == INFER_OK);
    std::filesystem::resize_file(copy.path, 4096); // the header survives, every weight is gone
    REQUIRE(decode_prompt(model, &truncated) == INFER_OK);
    CHECK(truncated == before);
    std::filesystem::remove(copy.path);
    REQUIRE(decode_prompt(model, &deleted) == INFER_OK);
    CHECK(deleted == before);
    infer_model_free(model);
}

TEST_CASE("model file: a caller's params from before read_into_memory map the file") {
    const ModelCopy copy("old-params");
    infer_model_params params;
    infer_model_params_init(&params);
    params.read_into_memory = 1; // past the caller's size: must not be read
    params.size = offsetof(infer_model_params, read_into_memory);
    infer_model *model = nullptr;
    REQUIRE_MESSAGE(infer_model_load_file(copy.path.c_str(), &params, &model) == INFER_OK,
                    infer_last_error());
    infer_model_info info;
    infer_model_info_init(&info);
    REQUIRE(infer_model_get_info(model, &info) == INFER_OK);
    CHECK(info.file_size == std::filesystem::file_size(copy.path));
    infer_model_free(model);

    params.size = offsetof(infer_model_params, read_into_memory) - 1;
    CHECK(infer_model_load_file(copy.path.c_str(), &params, &model) == INFER_ERR_INVALID_ARGUMENT);
    CHECK(model == nullptr);
}

TEST_CASE("model file: mapped (the default), truncating the file kills the next decode (SIGBUS)") {
    const ModelCopy copy("mapped");
    const pid_t child = ::fork();
    REQUIRE(child >= 0);
    if (child == 0) {
        // Only async-signal-safe exits from here: the parent's doctest state is not ours.
        std::signal(SIGBUS, SIG_DFL); // a sanitizer's handler would report and exit instead
        infer_model *model = nullptr;
        if (infer_model_load_file(copy.path.c_str(), nullptr, &model) != INFER_OK) ::_exit(2);
        std::vector<float> logits;
        if (decode_prompt(model, &logits) != INFER_OK) ::_exit(3);
        if (::truncate(copy.path.c_str(), 4096) != 0) ::_exit(4);
        (void)decode_prompt(model, &logits);
        ::_exit(0); // not reached when the mapping faults
    }
    int wstatus = 0;
    REQUIRE(::waitpid(child, &wstatus, 0) == child);
    CHECK(WIFSIGNALED(wstatus));
    if (WIFSIGNALED(wstatus)) CHECK(WTERMSIG(wstatus) == SIGBUS);
    if (WIFEXITED(wstatus)) CHECK(WEXITSTATUS(wstatus) == 0);
}
