// Chat templates: every committed real template (tests/data/chat_templates/) is recognized as its
// format and renders byte for byte what jinja2 rendered (scripts/make_chat_template_goldens.py),
// including the exceptions; unknown templates and names are refused; Python's whitespace strip;
// and infer_model_chat_template on in-memory images.
#include "chat_goldens.h"
#include "gguf_image.h"
#include "text/chat_template.h"

#include "infer.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <ctime>
#include <filesystem>
#include <set>
#include <utility>

using infer::test::ChatGoldenCase;
using infer::test::ChatGoldens;
using infer::text::ChatFormat;
using infer::text::ChatMessage;

namespace {

const std::string kDir = std::string(INFER_TEST_DATA_DIR) + "/chat_templates/";

ChatGoldens goldens(const std::string &name) {
    return infer::test::read_chat_goldens(kDir + name + ".goldens");
}

// "05 Mar 2025" (the goldens' strftime_now("%d %b %Y")) as "2025-03-05", the same day's
// strftime_now("%Y-%m-%d").
std::string iso_date(const std::string &d_b_y) {
    static const std::string kMonths = "JanFebMarAprMayJunJulAugSepOctNovDec";
    REQUIRE(d_b_y.size() == 11);
    const size_t month = kMonths.find(d_b_y.substr(3, 3)) / 3 + 1;
    REQUIRE(month >= 1);
    REQUIRE(month <= 12);
    return d_b_y.substr(7, 4) + "-" + (month < 10 ? "0" : "") + std::to_string(month) + "-" +
           d_b_y.substr(0, 2);
}

// Renders one golden case; the status and text.
infer::Status render(const ChatFormat &format, const ChatGoldens &g, const ChatGoldenCase &c,
                     std::string *out) {
    std::vector<ChatMessage> messages;
    for (const auto &[role, content] : c.messages) messages.push_back({role, content});
    infer::text::ChatRenderInput input;
    input.bos = g.bos;
    input.eos = g.eos;
    input.today = g.today;
    const std::string today_iso = iso_date(g.today);
    input.today_iso = today_iso;
    input.add_generation_prompt = c.add_generation_prompt;
    return infer::text::render_chat(format, messages, input, out);
}

// Every case of `g` rendered with `format` matches; returns how many did (all, when it passes).
void check_all_cases(const ChatFormat &format, const ChatGoldens &g) {
    for (const ChatGoldenCase &c : g.cases) {
        CAPTURE(c.name);
        CAPTURE(c.add_generation_prompt);
        std::string out;
        const infer::Status s = render(format, g, c, &out);
        if (c.is_error) {
            CHECK(s.code() == INFER_ERR_INVALID_ARGUMENT);
            CHECK_MESSAGE(s.message().find(c.output) != std::string::npos, s.message());
            CHECK(out.empty());
        } else {
            REQUIRE_MESSAGE(s.is_ok(), s.message());
            CHECK(out == c.output);
        }
    }
}

// Whether every case renders as the goldens say.
bool renders_all(const ChatFormat &format, const ChatGoldens &g) {
    for (const ChatGoldenCase &c : g.cases) {
        std::string out;
        const infer::Status s = render(format, g, c, &out);
        if (c.is_error ? s.is_ok() : !s.is_ok() || out != c.output) return false;
    }
    return true;
}

} // namespace

TEST_CASE("chat template: the goldens cover every committed template") {
    std::set<std::string> on_disk, listed;
    for (const auto &entry : std::filesystem::directory_iterator(kDir))
        if (entry.path().extension() == ".jinja") on_disk.insert(entry.path().stem().string());
    for (const std::string &name : infer::test::chat_golden_names()) listed.insert(name);
    CHECK(on_disk == listed);
    CHECK(listed.size() == 15);
}

TEST_CASE("chat template: real templates are recognized and render as jinja2 does") {
    for (const std::string &name : infer::test::chat_golden_names()) {
        CAPTURE(name);
        const ChatGoldens g = goldens(name);
        CHECK(g.template_file == name + ".jinja");
        const std::string text = infer::test::read_text_file(kDir + g.template_file);
        ChatFormat format;
        const infer::Status s = infer::text::chat_format_from_template(text, &format);
        REQUIRE_MESSAGE(s.is_ok(), s.message());
        CHECK(std::string(format.name) == g.format);
        check_all_cases(format, g);
    }
}

TEST_CASE("chat template: what each template adds to its generic format") {
    // A name alone gives the generic format: identical to these templates...
    for (const char *name :
         {"teknium-OpenHermes-2.5-Mistral-7B", "google-gemma-3-it",
          "meta-llama-Meta-Llama-3-8B-Instruct", "meta-llama-Llama-3.3-70B-Instruct",
          "meta-llama-Llama-3.2-3B-Instruct", "mistralai-Mistral-7B-Instruct-v0.1",
          "mistralai-Mistral-Large-Instruct-2407", "mistralai-Mistral-Nemo-Instruct-2407",
          "mistralai-Mistral-Large-Instruct-2411", "openai-gpt-oss-120b",
          "deepseek-ai-DeepSeek-V3.1"}) {
        CAPTURE(name);
        const ChatGoldens g = goldens(name);
        ChatFormat generic;
        REQUIRE(infer::text::chat_format_from_name(g.format, &generic).is_ok());
        check_all_cases(generic, g);
    }
    // ...while these carry details of their own (default system prompt, Qwen3 reasoning, Gemma 2
    // refusing a system message) that the generic format lacks.
    for (const char *name : {"HuggingFaceTB-SmolLM2-135M-Instruct", "Qwen-Qwen2.5-Instruct",
                             "Qwen-Qwen3-0.6B", "google-gemma-2-2b-it"}) {
        CAPTURE(name);
        const ChatGoldens g = goldens(name);
        ChatFormat generic;
        REQUIRE(infer::text::chat_format_from_name(g.format, &generic).is_ok());
        CHECK_FALSE(renders_all(generic, g));
    }
    ChatFormat smol;
    const std::string smol_text =
        infer::test::read_text_file(kDir + "HuggingFaceTB-SmolLM2-135M-Instruct.jinja");
    REQUIRE(infer::text::chat_format_from_template(smol_text, &smol).is_ok());
    REQUIRE(smol.default_system.has_value());
    CHECK(*smol.default_system == "You are a helpful AI assistant named SmolLM, trained by Hugging Face");
}

TEST_CASE("chat template: unrecognized template text is refused, not approximated") {
    const char *texts[] = {
        "",
        "{{ messages }}",
        // Phi-3
        "{{ bos_token }}{% for message in messages %}{{'<|' + message['role'] + '|>' + '\\n' + "
        "message['content'] + '<|end|>\\n' }}{% endfor %}{% if add_generation_prompt %}{{ "
        "'<|assistant|>\\n' }}{% endif %}",
        // Llama 2
        "{% if messages[0]['role'] == 'system' %}{% set system_message = '<<SYS>>\\n' + "
        "messages[0]['content'] + '\\n<</SYS>>\\n\\n' %}{% endif %}{{ bos_token + '[INST] ' + "
        "content + ' [/INST]' }}",
        // ChatML that trims, phi-4's <|im_sep|>, a QwQ-style <think> prompt, a BOS-writing one
        "{% for m in messages %}{{'<|im_start|>' + m['role'] + '\\n' + m['content'] | trim + "
        "'<|im_end|>\\n'}}{% endfor %}",
        "{{'<|im_start|>system<|im_sep|>' + message['content'] + '<|im_end|>'}}",
        "{{'<|im_start|>assistant\\n<think>\\n'}}<|im_end|>",
        "{{ bos_token }}{{'<|im_start|>' + m['role'] + '<|im_end|>'}}",
        // Gemma that neither folds nor refuses a system message
        "{% for m in messages %}{{ '<start_of_turn>' + m['role'] + '\\n' }}{% endfor %}"
        "{{'<start_of_turn>model\\n'}}",
        // Llama 3.1 with another knowledge date, or no default date
        "<|start_header_id|><|eot_id|>Cutting Knowledge Date: March 2024",
        "<|start_header_id|><|eot_id|>Cutting Knowledge Date: December 2023 {{ date_string }}",
        // Mistral v7-tekken (no space after [SYSTEM_PROMPT]), and [INST] spelled otherwise
        "{{ '[SYSTEM_PROMPT]' + message['content'] + '[/SYSTEM_PROMPT]' }}{{ '[INST]' }}",
        "{{ '<s>[INST]' + message['content'] }}",
        // Harmony with another system header
        "{{- \"<|start|>system<|message|>\" }}{{- \"Knowledge cutoff: 2025-01\\n\" }}",
        // DeepSeek-V3's and R1's turns (what llama.cpp's "deepseek3" detection accepts), without
        // V3.1's empty <think></think>
        "{{ bos_token }}{{ ns.system_prompt }}{{'<｜User｜>' + message['content']}}"
        "{{'<｜Assistant｜>' + message['content'] + '<｜end▁of▁sentence｜>'}}",
        "{{'<｜User｜>' + message['content']}}{{'<｜Assistant｜><think>\\n'}}",
    };
    for (const char *text : texts) {
        CAPTURE(text);
        ChatFormat format;
        const infer::Status s = infer::text::chat_format_from_template(text, &format);
        CHECK(s.code() == INFER_ERR_UNSUPPORTED);
        CHECK(s.message().find("pass a template name") != std::string::npos);
    }
}

TEST_CASE("chat template: DeepSeek-V3.1 is recognized only where its defaults are what renders") {
    const std::string text = infer::test::read_text_file(kDir + "deepseek-ai-DeepSeek-V3.1.jinja");
    // Thinking on by default, the reasoning cut at the last </think> instead of the first, system
    // messages joined otherwise: each would render differently, so each is refused.
    const std::pair<std::string, std::string> edits[] = {
        {"{%- set thinking = false -%}", "{%- set thinking = true -%}"},
        {"content.split('</think>', 1)[1]", "content.split('</think>')[-1]"},
        {"ns.system_prompt + '\n\n' + message['content']",
         "ns.system_prompt + '\n' + message['content']"},
    };
    for (const auto &[from, to] : edits) {
        CAPTURE(to);
        std::string changed = text;
        const size_t at = changed.find(from);
        REQUIRE(at != std::string::npos);
        changed.replace(at, from.size(), to);
        ChatFormat format;
        const infer::Status s = infer::text::chat_format_from_template(changed, &format);
        CHECK(s.code() == INFER_ERR_UNSUPPORTED);
        CHECK(s.message().find("DeepSeek") != std::string::npos);
    }
}

TEST_CASE("chat template: names") {
    std::vector<std::string> names;
    for (const char *const *n = infer::text::chat_format_names(); *n; ++n) names.push_back(*n);
    CHECK(names == std::vector<std::string>{"chatml", "gemma", "llama3", "llama3.1", "llama3.2",
                                            "mistral-v1", "mistral-v3", "mistral-v3-tekken",
                                            "mistral-v7", "gpt-oss", "deepseek-v3.1"});
    for (const std::string &name : names) {
        ChatFormat f;
        REQUIRE(infer::text::chat_format_from_name(name, &f).is_ok());
        CHECK(std::string(f.name) == name);
    }
    for (const char *bad : {"", "ChatML", "llama", "mistral", "gemma3", "chatml "}) {
        ChatFormat f;
        const infer::Status s = infer::text::chat_format_from_name(bad, &f);
        CHECK(s.code() == INFER_ERR_INVALID_ARGUMENT);
        CHECK(s.message().find("mistral-v3-tekken") != std::string::npos); // lists the names
    }
}

TEST_CASE("chat template: an empty conversation is refused") {
    ChatFormat f;
    REQUIRE(infer::text::chat_format_from_name("chatml", &f).is_ok());
    std::string out = "stale";
    CHECK(infer::text::render_chat(f, {}, {}, &out).code() == INFER_ERR_INVALID_ARGUMENT);
    CHECK(out.empty());
}

TEST_CASE("chat template: a refusal names the caller's message") {
    const ChatMessage messages[] = {{"system", "s"}, {"user", "a"}, {"user", "b"}};
    for (const char *name : {"gemma", "mistral-v1", "mistral-v3", "mistral-v3-tekken"}) {
        CAPTURE(name);
        ChatFormat f;
        REQUIRE(infer::text::chat_format_from_name(name, &f).is_ok());
        std::string out;
        const infer::Status s = infer::text::render_chat(f, messages, {}, &out);
        CHECK(s.code() == INFER_ERR_INVALID_ARGUMENT);
        CHECK_MESSAGE(s.message().find("message 2 (user)") != std::string::npos, s.message());
    }
}

TEST_CASE("chat template: python_strip removes exactly Python's whitespace") {
    using infer::text::python_strip;
    CHECK(python_strip("") == "");
    CHECK(python_strip(" \t\n\v\f\r") == "");
    CHECK(python_strip("\x1c\x1d\x1e\x1f a \x1f") == "a");
    // U+0085, U+00A0, U+1680, U+2000, U+200A, U+2028, U+2029, U+202F, U+205F, U+3000
    CHECK(python_strip("\u0085\u00a0\u1680\u2000x y\u200a\u2028\u2029\u202f\u205f\u3000") == "x y");
    // Not whitespace in Python: U+200B zero width space, U+FEFF, U+180E, U+00B7
    CHECK(python_strip("\u200bx\ufeff") == "\u200bx\ufeff");
    CHECK(python_strip("\u180ex\u00b7") == "\u180ex\u00b7");
    // Bytes that are not UTF-8 stay, whitespace around them goes.
    CHECK(python_strip(" \xff\xc2 ") == "\xff\xc2");
    CHECK(python_strip("\xc2") == "\xc2");
}

TEST_CASE("chat template: today's date is strftime(\"%d %b %Y\") in the C locale") {
    const auto strftime_today = [] {
        char text[32];
        const std::time_t now = std::time(nullptr);
        std::tm local{};
        localtime_r(&now, &local);
        std::strftime(text, sizeof text, "%d %b %Y", &local);
        return std::string(text);
    };
    const std::string before = strftime_today();
    const std::string today = infer::text::today_date_string();
    const std::string after = strftime_today(); // (the two differ only across midnight)
    CHECK((today == before || today == after));
    CHECK(today.size() == 11);
}

// ---- The C API on in-memory images (inspect_only: no vocabulary needed to name a format) ------

namespace {

struct ImageModel {
    std::vector<uint8_t> image;
    infer_model *m = nullptr;
    ~ImageModel() { infer_model_free(m); }
};

void load_with_template(ImageModel *model, const infer::gguf::MetaValue *chat_template) {
    infer::gguf::Writer w;
    w.add("general.architecture", infer::gguf::MetaValue::str("test-arch"));
    if (chat_template) w.add("tokenizer.chat_template", *chat_template);
    model->image = infer::test::build_image(w);
    infer_model_params p;
    infer_model_params_init(&p);
    p.inspect_only = 1;
    REQUIRE(infer_model_load_memory(model->image.data(), model->image.size(), &p, &model->m) ==
            INFER_OK);
}

} // namespace

TEST_CASE("chat template api: infer_model_chat_template names the model's format") {
    using infer::gguf::MetaValue;
    const char *name = nullptr;
    {
        ImageModel model;
        load_with_template(&model, nullptr);
        CHECK(infer_model_chat_template(model.m, &name) == INFER_ERR_NOT_FOUND);
        CHECK(std::string(infer_last_error()).find("tokenizer.chat_template") != std::string::npos);
    }
    for (const std::string &file : infer::test::chat_golden_names()) {
        const ChatGoldens g = goldens(file);
        ImageModel model;
        const MetaValue text = MetaValue::str(infer::test::read_text_file(kDir + g.template_file));
        load_with_template(&model, &text);
        REQUIRE(infer_model_chat_template(model.m, &name) == INFER_OK);
        CHECK(std::string(name) == g.format);
    }
    {
        ImageModel model;
        const MetaValue text = MetaValue::str("{{ '### Instruction:' + messages[0]['content'] }}");
        load_with_template(&model, &text);
        CHECK(infer_model_chat_template(model.m, &name) == INFER_ERR_UNSUPPORTED);
        CHECK(std::string(infer_last_error()).find("pass a template name") != std::string::npos);
    }
    {
        ImageModel model;
        const MetaValue number = MetaValue::u32(7);
        load_with_template(&model, &number);
        CHECK(infer_model_chat_template(model.m, &name) == INFER_ERR_TYPE_MISMATCH);
    }
    CHECK(infer_model_chat_template(nullptr, &name) == INFER_ERR_INVALID_ARGUMENT);
    ImageModel model;
    load_with_template(&model, nullptr);
    CHECK(infer_model_chat_template(model.m, nullptr) == INFER_ERR_INVALID_ARGUMENT);
    // Rendering needs the vocabulary's BOS/EOS texts, which an inspect-only model lacks.
    const infer_chat_message hello = {"user", "Hello"};
    size_t length = 0;
    CHECK(infer_chat_apply_template(model.m, "chatml", &hello, 1, 1, nullptr, 0, &length) ==
          INFER_ERR_UNSUPPORTED);
}
