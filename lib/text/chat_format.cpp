// Recognizing a chat template's format from its text. Each family is found by its turn markers;
// its variants by phrases of the real templates (tests/data/chat_templates/ holds them). Anything
// the renderer would not reproduce exactly -- trimming ChatML, a Llama 2 <<SYS>> block, reasoning
// prompts other than Qwen3's -- makes the template unsupported rather than approximated.
#include "text/chat_template.h"

#include <array>

namespace infer::text {
namespace {

constexpr std::array<const char *, 12> kNames = {
    "chatml",     "gemma",      "llama3",        "llama3.1",
    "llama3.2",   "mistral-v1", "mistral-v3",    "mistral-v3-tekken",
    "mistral-v7", "gpt-oss",    "deepseek-v3.1", nullptr};

// "chatml, gemma, ..." for messages.
std::string known_names() {
    std::string list;
    for (const char *const *n = kNames.data(); *n; ++n) {
        if (!list.empty()) list += ", ";
        list += *n;
    }
    return list;
}

bool has(std::string_view text, std::string_view marker) {
    return text.find(marker) != std::string_view::npos;
}

// Decodes the Jinja (Python-style) string literal that starts at text[pos], a quote character.
// Covers the escapes real templates use; nullopt when there is no whole literal there.
std::optional<std::string> string_literal_at(std::string_view text, size_t pos) {
    if (pos >= text.size() || (text[pos] != '\'' && text[pos] != '"')) return std::nullopt;
    const char quote = text[pos];
    std::string value;
    for (size_t i = pos + 1; i < text.size(); ++i) {
        const char c = text[i];
        if (c == quote) return value;
        if (c != '\\') {
            value += c;
            continue;
        }
        if (++i == text.size()) break;
        switch (text[i]) {
        case 'n':
            value += '\n';
            break;
        case 't':
            value += '\t';
            break;
        case 'r':
            value += '\r';
            break;
        case '\\':
            value += '\\';
            break;
        case '\'':
            value += '\'';
            break;
        case '"':
            value += '"';
            break;
        default:
            return std::nullopt; // an escape no known template uses
        }
    }
    return std::nullopt;
}

// The first string literal right after an occurrence of `marker` (spaces allowed between),
// decoded: Llama 3.2 sets date_string from strftime_now before its literal default.
std::optional<std::string> literal_after(std::string_view text, std::string_view marker) {
    for (size_t at = text.find(marker); at != std::string_view::npos;
         at = text.find(marker, at + 1)) {
        size_t pos = at + marker.size();
        while (pos < text.size() && text[pos] == ' ')
            ++pos;
        if (std::optional<std::string> literal = string_literal_at(text, pos)) return literal;
    }
    return std::nullopt;
}

// ChatML templates that add a system turn when the conversation has none spell it as one literal
// "<|im_start|>system\n<default text><|im_end|>\n"; the literal that opens a caller's system turn
// ends right after the newline. The newline is written as an escape or as itself.
std::optional<std::string> chatml_default_system(std::string_view text) {
    static constexpr std::string_view kOpen = "<|im_start|>system";
    for (size_t pos = text.find(kOpen); pos != std::string_view::npos;
         pos = text.find(kOpen, pos + 1)) {
        size_t body = pos + kOpen.size();
        if (text.substr(body, 2) == "\\n")
            body += 2;
        else if (text.substr(body, 1) == "\n")
            body += 1;
        else
            continue;
        if (body >= text.size() || text[body] == '\'' || text[body] == '"') continue;
        // Find the literal's opening quote to decode the whole of it.
        const size_t quote = text.find_last_of("'\"", pos);
        if (quote == std::string_view::npos) continue;
        std::optional<std::string> literal = string_literal_at(text, quote);
        if (!literal) continue;
        static constexpr std::string_view kHead = "<|im_start|>system\n", kTail = "<|im_end|>\n";
        const std::string_view value = *literal;
        if (value.substr(0, kHead.size()) != kHead || value.size() < kHead.size() + kTail.size() ||
            value.substr(value.size() - kTail.size()) != kTail)
            continue;
        return std::string(value.substr(kHead.size(), value.size() - kHead.size() - kTail.size()));
    }
    return std::nullopt;
}

Status unsupported(std::string_view family, const char *what) {
    return make_error(INFER_ERR_UNSUPPORTED,
                      "the chat template looks like %.*s but %s, which libinfer does not "
                      "reproduce; pass a template name to choose a format anyway",
                      static_cast<int>(family.size()), family.data(), what);
}

Status recognize_chatml(std::string_view text, ChatFormat *out) {
    if (!has(text, "<|im_end|>")) return unsupported("ChatML", "it has no <|im_end|>");
    if (has(text, "<|im_sep|>")) return unsupported("ChatML", "it separates roles with <|im_sep|>");
    if (has(text, "| trim") || has(text, "|trim") || has(text, ".strip()"))
        return unsupported("ChatML", "it trims message text");
    if (has(text, "bos_token")) return unsupported("ChatML", "it writes a BOS token");
    const bool reasoning = has(text, "reasoning_content") && has(text, "last_query_index");
    if (has(text, "<think>") && !reasoning)
        return unsupported("ChatML", "it writes <think> blocks other than Qwen3's way");
    ChatFormat format;
    INFER_TRY(chat_format_from_name("chatml", &format));
    format.reasoning = reasoning;
    format.default_system = chatml_default_system(text);
    *out = std::move(format);
    return Status::ok();
}

Status recognize_gemma(std::string_view text, ChatFormat *out) {
    ChatFormat format;
    INFER_TRY(chat_format_from_name("gemma", &format));
    if (has(text, "first_user_prefix")) {
        format.gemma_system_suffix =
            literal_after(text, "first_user_prefix = messages[0]['content'] +");
        if (!format.gemma_system_suffix)
            return unsupported("Gemma", "its system prefix is not the system text plus a literal");
    } else if (has(text, "System role not supported")) {
        format.gemma_system_suffix.reset();
    } else {
        return unsupported("Gemma", "it neither folds nor refuses a system message");
    }
    if (!has(text, "<start_of_turn>model")) return unsupported("Gemma", "it has no model turn");
    *out = std::move(format);
    return Status::ok();
}

Status recognize_llama3(std::string_view text, ChatFormat *out) {
    if (!has(text, "<|eot_id|>")) return unsupported("Llama 3", "it has no <|eot_id|>");
    ChatFormat format;
    if (!has(text, "Cutting Knowledge Date")) {
        INFER_TRY(chat_format_from_name("llama3", &format));
        format.llama_always_generation_prompt = !has(text, "add_generation_prompt");
        *out = std::move(format);
        return Status::ok();
    }
    if (!has(text, "Cutting Knowledge Date: December 2023"))
        return unsupported("Llama 3.1", "its knowledge date is not December 2023");
    const bool today = has(text, "strftime_now");
    INFER_TRY(chat_format_from_name(today ? "llama3.2" : "llama3.1", &format));
    std::optional<std::string> date = literal_after(text, "set date_string =");
    if (!date) return unsupported("Llama 3.1", "it sets no default date_string");
    format.llama_default_date = std::move(*date);
    *out = std::move(format);
    return Status::ok();
}

Status recognize_mistral(std::string_view text, ChatFormat *out) {
    if (has(text, "<<SYS>>")) return unsupported("[INST]", "it is a Llama 2 <<SYS>> template");
    const char *name = nullptr;
    if (has(text, "[SYSTEM_PROMPT]")) {
        if (!has(text, "'[SYSTEM_PROMPT] ' + message['content'] + '[/SYSTEM_PROMPT]'"))
            return unsupported("Mistral v7", "its [SYSTEM_PROMPT] is spelled otherwise");
        name = "mistral-v7";
    } else if (has(text, "' [INST] '")) {
        name = "mistral-v1";
    } else if (has(text, "\"[INST] \"")) {
        name = "mistral-v3";
    } else if (has(text, "\"[INST]\"")) {
        name = "mistral-v3-tekken";
    } else {
        return unsupported("Mistral", "its [INST] spelling is none of v1, v3, v3-tekken, v7");
    }
    return chat_format_from_name(name, out);
}

// gpt-oss's harmony template: the renderer writes its default system header (model identity,
// knowledge cutoff, today's date, reasoning effort "medium"), so those phrases must be the ones
// it writes.
Status recognize_harmony(std::string_view text, ChatFormat *out) {
    static constexpr std::string_view kPhrases[] = {
        "\"You are ChatGPT, a large language model trained by OpenAI.\"",
        "\"Knowledge cutoff: 2024-06\\n\"",
        "strftime_now(\"%Y-%m-%d\")",
        "set reasoning_effort = \"medium\"",
        "\"# Valid channels: analysis, commentary, final. Channel must be included for every "
        "message.\"",
        "\"<|start|>assistant<|channel|>final<|message|>\" + message.content + \"<|end|>\"",
    };
    for (std::string_view phrase : kPhrases)
        if (!has(text, phrase))
            return unsupported("gpt-oss (harmony)",
                               "its system header or turns are spelled otherwise");
    return chat_format_from_name("gpt-oss", out);
}

// DeepSeek-V3.1's template, rendered with its defaults: thinking off, so every answer is opened by
// an empty <think></think>. llama.cpp's "deepseek3" detection (the three turn tokens) matches it
// but renders V3's turns (no BOS, no <think></think>, system text in place), and matches V3.2's
// and R1's templates too, which differ; so the phrases the renderer reproduces must all be there.
Status recognize_deepseek(std::string_view text, ChatFormat *out) {
    static constexpr std::string_view kPhrases[] = {
        "{%- set thinking = false -%}",
        "{{ bos_token }}{{ ns.system_prompt }}",
        "{{'<｜User｜>' + message['content']}}",
        "{%- if ns.is_last_user -%}{{'<｜Assistant｜>'}}",
        "{%- else -%}{{'<think></think>'}}",
        "{%- set content = content.split('</think>', 1)[1] -%}",
        "{{content + '<｜end▁of▁sentence｜>'}}",
        "{%- if add_generation_prompt and ns.is_last_user and not ns.is_tool -%}",
        "{%- if not thinking -%}{{'<think></think>'}}",
    };
    for (std::string_view phrase : kPhrases)
        if (!has(text, phrase))
            return unsupported("DeepSeek", "its turns or thinking default are not DeepSeek-V3.1's");
    // Several system messages are joined by a blank line, spelled as an escape or as itself.
    if (!has(text, "ns.system_prompt + '\\n\\n' + message['content']") &&
        !has(text, "ns.system_prompt + '\n\n' + message['content']"))
        return unsupported("DeepSeek", "it joins system messages otherwise");
    return chat_format_from_name("deepseek-v3.1", out);
}

} // namespace

const char *const *chat_format_names() { return kNames.data(); }

Status chat_format_from_name(std::string_view name, ChatFormat *out) {
    ChatFormat f;
    for (const char *const *n = chat_format_names(); *n; ++n)
        if (name == *n) f.name = *n;
    if (!f.name)
        return make_error(INFER_ERR_INVALID_ARGUMENT,
                          "unknown chat template name '%s' (known: %s)", excerpt(name).c_str(),
                          known_names().c_str());
    if (name == "chatml") {
        f.family = ChatFamily::ChatMl;
    } else if (name == "gemma") {
        f.family = ChatFamily::Gemma;
        f.gemma_system_suffix = "\n\n"; // Gemma 3's
    } else if (name == "gpt-oss") {
        f.family = ChatFamily::Harmony;
    } else if (name == "deepseek-v3.1") {
        f.family = ChatFamily::DeepSeek;
    } else if (name.substr(0, 6) == "llama3") {
        f.family = ChatFamily::Llama3;
        f.llama_dates = name != "llama3";
        f.llama_today = name == "llama3.2";
        f.llama_default_date = "26 Jul 2024";
    } else {
        f.family = ChatFamily::Mistral;
        f.mistral = name == "mistral-v1"   ? MistralStyle::V1
                    : name == "mistral-v3" ? MistralStyle::V3
                    : name == "mistral-v7" ? MistralStyle::V7
                                           : MistralStyle::V3Tekken;
    }
    *out = std::move(f);
    return Status::ok();
}

Status chat_format_from_template(std::string_view text, ChatFormat *out) {
    if (has(text, "<|im_start|>")) return recognize_chatml(text, out);
    if (has(text, "<start_of_turn>")) return recognize_gemma(text, out);
    if (has(text, "<|start_header_id|>")) return recognize_llama3(text, out);
    if (has(text, "[INST]")) return recognize_mistral(text, out);
    if (has(text, "<|start|>") && has(text, "<|message|>")) return recognize_harmony(text, out);
    if (has(text, "<｜User｜>") && has(text, "<｜Assistant｜>"))
        return recognize_deepseek(text, out);
    return make_error(INFER_ERR_UNSUPPORTED,
                      "the chat template is none of the formats libinfer recognizes (%s); pass a "
                      "template name to choose one",
                      known_names().c_str());
}

} // namespace infer::text
