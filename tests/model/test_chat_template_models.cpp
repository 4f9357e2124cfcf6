// Chat templates through the C API on the real models: SmolLM2 renders its own template
// (tokenizer.chat_template) byte for byte as jinja2 did; gemma-3-270m (a base model without a
// template) is NOT_FOUND until the "gemma" name is given, then renders as Gemma 3's template; the
// rendered prompts tokenize (parse_special) to llama.cpp's ids. Plus the argument checks, the
// snprintf buffer rules and concurrent rendering on one shared model.
#include "chat_goldens.h"
#include "model_files.h"

#include "infer.h"

#include <doctest/doctest.h>

#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

using infer::test::ChatGoldenCase;
using infer::test::ChatGoldens;

namespace {

struct ModelDeleter {
    void operator()(infer_model *m) const { infer_model_free(m); }
};
using ModelPtr = std::unique_ptr<infer_model, ModelDeleter>;

ModelPtr load(const char *file) {
    const std::string path = infer::test::real_model(file);
    infer_model *m = nullptr;
    REQUIRE_MESSAGE(infer_model_load_file(path.c_str(), nullptr, &m) == INFER_OK, std::string(infer_last_error()));
    return ModelPtr(m);
}

ChatGoldens goldens(const char *name) {
    return infer::test::read_chat_goldens(std::string(INFER_TEST_DATA_DIR) + "/chat_templates/" +
                                          name + ".goldens");
}

std::vector<infer_chat_message> to_messages(const ChatGoldenCase &c) {
    std::vector<infer_chat_message> out;
    for (const auto &[role, content] : c.messages) out.push_back({role.c_str(), content.c_str()});
    return out;
}

// Renders through the C API, sizing the buffer with a first call as a caller would.
infer_status apply(const infer_model *model, const char *name,
                   const std::vector<infer_chat_message> &messages, bool generate,
                   std::string *out) {
    size_t length = 0;
    const infer_status s = infer_chat_apply_template(model, name, messages.data(), messages.size(),
                                                     generate, nullptr, 0, &length);
    if (s != INFER_OK) return s;
    std::vector<char> buf(length + 1);
    size_t again = 0;
    REQUIRE(infer_chat_apply_template(model, name, messages.data(), messages.size(), generate,
                                      buf.data(), buf.size(), &again) == INFER_OK);
    REQUIRE(again == length);
    out->assign(buf.data(), length);
    return INFER_OK;
}

std::string token_text(const infer_model *model, int32_t token) {
    char buf[64];
    size_t n = 0;
    REQUIRE(infer_token_to_piece(model, token, 0, buf, sizeof buf, &n) == INFER_OK);
    return std::string(buf, n);
}

std::vector<int32_t> tokenize_prompt(const infer_model *model, const std::string &text) {
    const std::string bos = token_text(model, infer_model_special_token(model, INFER_TOKEN_BOS));
    const int32_t add_special = text.compare(0, bos.size(), bos) == 0 ? 0 : 1;
    size_t n = 0;
    infer_tokenize(model, text.data(), text.size(), add_special, 1, nullptr, 0, &n);
    std::vector<int32_t> ids(n);
    REQUIRE(infer_tokenize(model, text.data(), text.size(), add_special, 1, ids.data(), ids.size(),
                           &n) == INFER_OK);
    return ids;
}

// Every golden case through the C API with template `name` (NULL: the model's own), and the
// token ids of each rendering.
void check_goldens(const infer_model *model, const char *name, const ChatGoldens &g) {
    CHECK(token_text(model, infer_model_special_token(model, INFER_TOKEN_BOS)) == g.bos);
    CHECK(token_text(model, infer_model_special_token(model, INFER_TOKEN_EOS)) == g.eos);
    size_t with_ids = 0;
    for (const ChatGoldenCase &c : g.cases) {
        CAPTURE(c.name);
        CAPTURE(c.add_generation_prompt);
        std::string out;
        const infer_status s = apply(model, name, to_messages(c), c.add_generation_prompt, &out);
        if (c.is_error) {
            CHECK(s == INFER_ERR_INVALID_ARGUMENT);
            CHECK(std::string(infer_last_error()).find(c.output) != std::string::npos);
            continue;
        }
        REQUIRE_MESSAGE(s == INFER_OK, std::string(infer_last_error()));
        CHECK(out == c.output);
        REQUIRE(!c.ids.empty());
        CHECK(tokenize_prompt(model, out) == c.ids);
        ++with_ids;
    }
    CHECK(with_ids >= 30);
}

const infer_chat_message kHello[] = {{"system", "Be brief."}, {"user", "Hello"}};

} // namespace

TEST_CASE("chat template models: SmolLM2 renders its own template as jinja2 does") {
    const ModelPtr model = load("SmolLM2-135M-Instruct.Q4_1.gguf");
    const char *name = nullptr;
    REQUIRE(infer_model_chat_template(model.get(), &name) == INFER_OK);
    CHECK(std::string(name) == "chatml");
    const ChatGoldens g = goldens("HuggingFaceTB-SmolLM2-135M-Instruct");
    check_goldens(model.get(), nullptr, g);
    // Its own format's name keeps its details (the default system prompt).
    check_goldens(model.get(), "chatml", g);
}

TEST_CASE("chat template models: gemma-3-270m has no template; the name gemma renders Gemma 3's") {
    const ModelPtr model = load("gemma-3-270m-q4_k_m.gguf");
    const char *name = "unchanged";
    CHECK(infer_model_chat_template(model.get(), &name) == INFER_ERR_NOT_FOUND);
    CHECK(std::string(name) == "unchanged");
    size_t length = 0;
    CHECK(infer_chat_apply_template(model.get(), nullptr, kHello, 2, 1, nullptr, 0, &length) ==
          INFER_ERR_NOT_FOUND);
    check_goldens(model.get(), "gemma", goldens("google-gemma-3-it"));
}

TEST_CASE("chat template models: a name overrides the model's template") {
    const ModelPtr model = load("SmolLM2-135M-Instruct.Q4_1.gguf");
    std::string out;
    REQUIRE(apply(model.get(), "gemma", {kHello[0], kHello[1]}, true, &out) == INFER_OK);
    CHECK(out == "<|im_start|><start_of_turn>user\nBe brief.\n\nHello<end_of_turn>\n"
                 "<start_of_turn>model\n");
    REQUIRE(apply(model.get(), "llama3", {kHello[1]}, false, &out) == INFER_OK);
    CHECK(out == "<|im_start|><|start_header_id|>user<|end_header_id|>\n\nHello<|eot_id|>");
    REQUIRE(apply(model.get(), "mistral-v7", {kHello[0], kHello[1]}, true, &out) == INFER_OK);
    CHECK(out == "<|im_start|>[SYSTEM_PROMPT] Be brief.[/SYSTEM_PROMPT][INST] Hello[/INST]");
    // A name that is not the model's own gives the generic format: no SmolLM2 default system.
    const ModelPtr gemma = load("gemma-3-270m-q4_k_m.gguf");
    REQUIRE(apply(gemma.get(), "chatml", {kHello[1]}, true, &out) == INFER_OK);
    CHECK(out == "<|im_start|>user\nHello<|im_end|>\n<|im_start|>assistant\n");

    size_t length = 0;
    CHECK(infer_chat_apply_template(model.get(), "vicuna", kHello, 2, 1, nullptr, 0, &length) ==
          INFER_ERR_INVALID_ARGUMENT);
    CHECK(std::string(infer_last_error()).find("unknown chat template name 'vicuna'") !=
          std::string::npos);
}

TEST_CASE("chat template models: bad arguments are INVALID_ARGUMENT") {
    const ModelPtr model = load("SmolLM2-135M-Instruct.Q4_1.gguf");
    size_t length = 0;
    const infer_chat_message null_role[] = {{nullptr, "x"}};
    const infer_chat_message null_content[] = {{"user", nullptr}};
    const infer_chat_message tool_role[] = {{"tool", "x"}};
    CHECK(infer_chat_apply_template(model.get(), nullptr, null_role, 1, 1, nullptr, 0, &length) ==
          INFER_ERR_INVALID_ARGUMENT);
    CHECK(std::string(infer_last_error()).find("NULL role") != std::string::npos);
    CHECK(infer_chat_apply_template(model.get(), nullptr, null_content, 1, 1, nullptr, 0,
                                    &length) == INFER_ERR_INVALID_ARGUMENT);
    CHECK(std::string(infer_last_error()).find("NULL content") != std::string::npos);
    CHECK(infer_chat_apply_template(model.get(), nullptr, tool_role, 1, 1, nullptr, 0, &length) ==
          INFER_ERR_INVALID_ARGUMENT);
    CHECK(infer_chat_apply_template(model.get(), nullptr, nullptr, 2, 1, nullptr, 0, &length) ==
          INFER_ERR_INVALID_ARGUMENT);
    CHECK(infer_chat_apply_template(model.get(), nullptr, kHello, 0, 1, nullptr, 0, &length) ==
          INFER_ERR_INVALID_ARGUMENT);
    CHECK(infer_chat_apply_template(nullptr, nullptr, kHello, 2, 1, nullptr, 0, &length) ==
          INFER_ERR_INVALID_ARGUMENT);
    char buf[4];
    CHECK(infer_chat_apply_template(model.get(), nullptr, kHello, 2, 1, nullptr, sizeof buf,
                                    &length) == INFER_ERR_INVALID_ARGUMENT);
    // A refused order, in the template's words.
    const infer_chat_message two_users[] = {{"user", "a"}, {"user", "b"}};
    CHECK(infer_chat_apply_template(model.get(), "gemma", two_users, 2, 1, nullptr, 0, &length) ==
          INFER_ERR_INVALID_ARGUMENT);
    CHECK(std::string(infer_last_error()).find("Conversation roles must alternate") !=
          std::string::npos);
}

TEST_CASE("chat template models: snprintf buffer rules") {
    const ModelPtr model = load("SmolLM2-135M-Instruct.Q4_1.gguf");
    const std::string expected = "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHello"
                                 "<|im_end|>\n<|im_start|>assistant\n";
    size_t length = 0;
    REQUIRE(infer_chat_apply_template(model.get(), nullptr, kHello, 2, 1, nullptr, 0, &length) ==
            INFER_OK);
    REQUIRE(length == expected.size());
    // Capacity 0 with a buffer: nothing written, the length reported.
    std::vector<char> buf(expected.size() + 8, '#');
    length = 0;
    CHECK(infer_chat_apply_template(model.get(), nullptr, kHello, 2, 1, buf.data(), 0, &length) ==
          INFER_OK);
    CHECK(length == expected.size());
    CHECK(buf[0] == '#');
    // Exact fit: the text and its NUL.
    CHECK(infer_chat_apply_template(model.get(), nullptr, kHello, 2, 1, buf.data(),
                                    expected.size() + 1, &length) == INFER_OK);
    CHECK(std::string(buf.data()) == expected);
    CHECK(buf[expected.size() + 1] == '#');
    // One short: all but the last byte, terminated, nothing past the capacity.
    std::fill(buf.begin(), buf.end(), '#');
    CHECK(infer_chat_apply_template(model.get(), nullptr, kHello, 2, 1, buf.data(),
                                    expected.size(), &length) == INFER_OK);
    CHECK(length == expected.size());
    CHECK(std::string(buf.data()) == expected.substr(0, expected.size() - 1));
    CHECK(buf[expected.size()] == '#');
    // out_length may be NULL.
    CHECK(infer_chat_apply_template(model.get(), nullptr, kHello, 2, 1, buf.data(), buf.size(),
                                    nullptr) == INFER_OK);
}

TEST_CASE("chat template models: concurrent rendering on a shared model") {
    const ModelPtr model = load("SmolLM2-135M-Instruct.Q4_1.gguf");
    const ChatGoldens g = goldens("HuggingFaceTB-SmolLM2-135M-Instruct");
    const char *names[] = {nullptr, "chatml", "gemma", "llama3.2", "mistral-v3"};
    // What one thread renders, case by case and name by name.
    std::vector<std::string> expected;
    std::vector<infer_status> expected_status;
    for (const ChatGoldenCase &c : g.cases)
        for (const char *name : names) {
            std::string out;
            expected_status.push_back(apply(model.get(), name, to_messages(c),
                                            c.add_generation_prompt, &out));
            expected.push_back(out);
        }
    constexpr int kThreads = 4;
    std::vector<int> mismatches(kThreads, 0);
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t)
        threads.emplace_back([&, t] {
            for (int round = 0; round < 5; ++round) {
                size_t k = 0;
                for (const ChatGoldenCase &c : g.cases)
                    for (const char *name : names) {
                        const std::vector<infer_chat_message> messages = to_messages(c);
                        std::vector<char> buf(expected[k].size() + 1);
                        size_t length = 0;
                        const infer_status s = infer_chat_apply_template(
                            model.get(), name, messages.data(), messages.size(),
                            c.add_generation_prompt, buf.data(), buf.size(), &length);
                        if (s != expected_status[k] ||
                            (s == INFER_OK && std::string(buf.data(), length) != expected[k]))
                            ++mismatches[static_cast<size_t>(t)];
                        ++k;
                    }
            }
        });
    for (std::thread &th : threads) th.join();
    for (int t = 0; t < kThreads; ++t) CHECK(mismatches[static_cast<size_t>(t)] == 0);
}
