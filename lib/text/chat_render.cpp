// Rendering a conversation in a recognized chat format: each function below is one family of
// Jinja templates transcribed to C++, including their quirks (which message text they trim, where
// they move the system prompt, which role orders they refuse and in which words).
#include "text/chat_template.h"

#include <cstdint>
#include <cstdio>
#include <ctime>

namespace infer::text {

namespace {

// Python's str.isspace() set: bidirectional types WS, B, S and category Zs.
bool python_space(uint32_t cp) {
    return (cp >= 0x09 && cp <= 0x0d) || (cp >= 0x1c && cp <= 0x20) || cp == 0x85 || cp == 0xa0 ||
           cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200a) || cp == 0x2028 || cp == 0x2029 ||
           cp == 0x202f || cp == 0x205f || cp == 0x3000;
}

// The code point of the well-formed 1..3-byte sequence text[pos, pos + len), or ~0u (every
// Python space is below U+10000, so longer sequences never matter here).
uint32_t decode_at(std::string_view text, size_t pos, size_t len) {
    const auto b = [&](size_t i) { return static_cast<uint8_t>(text[pos + i]); };
    if (len == 1) return b(0) < 0x80 ? b(0) : ~0u;
    for (size_t i = 1; i < len; ++i)
        if ((b(i) & 0xc0) != 0x80) return ~0u;
    if (len == 2 && (b(0) & 0xe0) == 0xc0) return (b(0) & 0x1fu) << 6 | (b(1) & 0x3fu);
    if (len == 3 && (b(0) & 0xf0) == 0xe0)
        return (b(0) & 0x0fu) << 12 | (b(1) & 0x3fu) << 6 | (b(2) & 0x3fu);
    return ~0u;
}

// Length of the whitespace character that starts (front) or ends (back) the text, or 0.
size_t space_at_front(std::string_view text) {
    for (size_t len = 1; len <= 3 && len <= text.size(); ++len)
        if (python_space(decode_at(text, 0, len))) return len;
    return 0;
}
size_t space_at_back(std::string_view text) {
    for (size_t len = 1; len <= 3 && len <= text.size(); ++len)
        if (python_space(decode_at(text, text.size() - len, len))) return len;
    return 0;
}

// Python's str.lstrip/rstrip/strip with an explicit set of one character.
std::string_view lstrip_char(std::string_view s, char c) {
    while (!s.empty() && s.front() == c)
        s.remove_prefix(1);
    return s;
}
std::string_view rstrip_char(std::string_view s, char c) {
    while (!s.empty() && s.back() == c)
        s.remove_suffix(1);
    return s;
}

bool starts_with(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }
bool ends_with(std::string_view s, std::string_view p) {
    return s.size() >= p.size() && s.substr(s.size() - p.size()) == p;
}

// The template's raise_exception, as a status naming the message it stopped at.
Status refuse(const char *format_name, size_t index, std::string_view role, const char *words) {
    return make_error(INFER_ERR_INVALID_ARGUMENT, "%s template refuses message %zu (%.*s): %s",
                      format_name, index, static_cast<int>(role.size()), role.data(), words);
}

constexpr const char *kAlternate =
    "Conversation roles must alternate user/assistant/user/assistant/...";
constexpr const char *kAlternateAfterSystem =
    "After the optional system message, conversation roles must alternate "
    "user/assistant/user/assistant/...";
constexpr const char *kOnlyUserAssistant =
    "Only user and assistant roles are supported, with the exception of an initial optional "
    "system message!";

// ---- ChatML: SmolLM2, Qwen2.5, Qwen3 ------------------------------------------------------

// Qwen3 writes an assistant turn from after the last user query as "<think>\n...\n</think>\n\n"
// plus the answer, and earlier ones as the answer alone.
void render_qwen3_assistant(std::string_view content, bool show_reasoning_if_any, bool last,
                            std::string *out) {
    std::string_view answer = content, reasoning;
    static constexpr std::string_view kClose = "</think>", kOpen = "<think>";
    const size_t first_close = content.find(kClose);
    if (first_close != std::string_view::npos) {
        answer = lstrip_char(content.substr(content.rfind(kClose) + kClose.size()), '\n');
        reasoning = rstrip_char(content.substr(0, first_close), '\n');
        const size_t open = reasoning.rfind(kOpen);
        if (open != std::string_view::npos) reasoning.remove_prefix(open + kOpen.size());
        reasoning = lstrip_char(reasoning, '\n');
    }
    *out += "<|im_start|>assistant\n";
    if (show_reasoning_if_any && (last || !reasoning.empty())) {
        *out += "<think>\n";
        *out += rstrip_char(lstrip_char(reasoning, '\n'), '\n');
        *out += "\n</think>\n\n";
        *out += lstrip_char(answer, '\n');
    } else {
        *out += answer;
    }
    *out += "<|im_end|>\n";
}

Status render_chatml(const ChatFormat &f, std::span<const ChatMessage> messages, bool generate,
                     std::string *out) {
    if (f.default_system && messages[0].role != "system") {
        *out += "<|im_start|>system\n";
        *out += *f.default_system;
        *out += "<|im_end|>\n";
    }
    // Qwen3's last query: the last user message that is not a wrapped tool response.
    size_t last_query = messages.size() - 1;
    for (size_t i = messages.size(); i-- > 0;) {
        const ChatMessage &m = messages[i];
        if (m.role == "user" && !(starts_with(m.content, "<tool_response>") &&
                                  ends_with(m.content, "</tool_response>"))) {
            last_query = i;
            break;
        }
    }
    for (size_t i = 0; i < messages.size(); ++i) {
        const ChatMessage &m = messages[i];
        if (f.reasoning && m.role == "assistant") {
            render_qwen3_assistant(m.content, i > last_query, i + 1 == messages.size(), out);
            continue;
        }
        *out += "<|im_start|>";
        *out += m.role;
        *out += '\n';
        *out += m.content;
        *out += "<|im_end|>\n";
    }
    if (generate) *out += "<|im_start|>assistant\n";
    return Status::ok();
}

// ---- Gemma -----------------------------------------------------------------------------------

Status render_gemma(const ChatFormat &f, std::span<const ChatMessage> messages,
                    const ChatRenderInput &in, std::string *out) {
    std::string prefix;
    const size_t first = messages[0].role == "system" ? 1 : 0; // the caller's index of turn 0
    if (first) {
        if (!f.gemma_system_suffix) return refuse(f.name, 0, "system", "System role not supported");
        prefix = messages[0].content;
        prefix += *f.gemma_system_suffix;
        messages = messages.subspan(1);
    }
    *out += in.bos;
    for (size_t k = 0; k < messages.size(); ++k) {
        const ChatMessage &m = messages[k];
        if ((m.role == "user") != (k % 2 == 0))
            return refuse(f.name, first + k, m.role, kAlternate);
        *out += "<start_of_turn>";
        *out += m.role == "assistant" ? std::string_view("model") : m.role;
        *out += '\n';
        if (k == 0) *out += prefix;
        *out += python_strip(m.content);
        *out += "<end_of_turn>\n";
    }
    if (in.add_generation_prompt) *out += "<start_of_turn>model\n";
    return Status::ok();
}

// ---- Llama 3, 3.1, 3.2 -----------------------------------------------------------------------

void llama3_turn(std::string_view role, std::string_view content, std::string *out) {
    *out += "<|start_header_id|>";
    *out += role;
    *out += "<|end_header_id|>\n\n";
    *out += python_strip(content);
    *out += "<|eot_id|>";
}

Status render_llama3(const ChatFormat &f, std::span<const ChatMessage> messages,
                     const ChatRenderInput &in, std::string *out) {
    *out += in.bos;
    if (f.llama_dates) {
        std::string_view system;
        if (messages[0].role == "system") {
            system = python_strip(messages[0].content);
            messages = messages.subspan(1);
        }
        *out += "<|start_header_id|>system<|end_header_id|>\n\n"
                "Cutting Knowledge Date: December 2023\nToday Date: ";
        *out += f.llama_today ? in.today : std::string_view(f.llama_default_date);
        *out += "\n\n";
        *out += system;
        *out += "<|eot_id|>";
    }
    for (const ChatMessage &m : messages)
        llama3_turn(m.role, m.content, out);
    if (in.add_generation_prompt || f.llama_always_generation_prompt)
        *out += "<|start_header_id|>assistant<|end_header_id|>\n\n";
    return Status::ok();
}

// ---- Mistral ---------------------------------------------------------------------------------

// v7 takes any order of the three roles.
Status render_mistral_v7(std::span<const ChatMessage> messages, const ChatRenderInput &in,
                         std::string *out) {
    *out += in.bos;
    for (const ChatMessage &m : messages) {
        const bool user = m.role == "user", system = m.role == "system";
        *out += user ? "[INST] " : system ? "[SYSTEM_PROMPT] " : " ";
        *out += m.content;
        *out += user ? std::string_view("[/INST]") : system ? "[/SYSTEM_PROMPT]" : in.eos;
    }
    return Status::ok();
}

// v1 and v3: an optional leading system message, then strictly user/assistant/user/...; v1 checks
// each turn as it writes it, v3 checks the order of all turns before writing any, so the first
// complaint can differ.
// None of them writes a generation prompt: the text after [/INST] is where the answer goes.
Status render_mistral(const ChatFormat &f, std::span<const ChatMessage> messages,
                      const ChatRenderInput &in, std::string *out) {
    if (f.mistral == MistralStyle::V7) return render_mistral_v7(messages, in, out);
    std::optional<std::string_view> system;
    if (messages[0].role == "system") {
        system = messages[0].content;
        messages = messages.subspan(1);
    }
    const bool v1 = f.mistral == MistralStyle::V1, tekken = f.mistral == MistralStyle::V3Tekken;
    const auto other_role = [](const ChatMessage &m) {
        return m.role != "user" && m.role != "assistant";
    };
    const size_t first = system ? 1 : 0; // the caller's index of messages[0], for complaints
    for (size_t k = 0; k < messages.size(); ++k) {
        const ChatMessage &m = messages[k];
        if ((m.role == "user") != (k % 2 == 0))
            return refuse(f.name, first + k, m.role, kAlternateAfterSystem);
        if (v1 && other_role(m)) return refuse(f.name, first + k, m.role, kOnlyUserAssistant);
    }
    for (size_t k = 0; k < messages.size() && !v1; ++k)
        if (other_role(messages[k]))
            return refuse(f.name, first + k, messages[k].role, kOnlyUserAssistant);
    const std::string_view open = v1 ? " [INST] " : tekken ? "[INST]" : "[INST] ";
    const std::string_view close = v1 ? " [/INST]" : "[/INST]";
    *out += in.bos;
    for (size_t k = 0; k < messages.size(); ++k) {
        const ChatMessage &m = messages[k];
        if (m.role == "user") {
            // v1 folds the system prompt into the first user turn, v3 into the last turn.
            const bool with_system = system && (v1 ? k == 0 : k + 1 == messages.size());
            *out += open;
            if (with_system) {
                *out += *system;
                *out += "\n\n";
            }
            *out += m.content;
            *out += close;
        } else {
            if (!tekken) *out += ' ';
            *out += f.mistral == MistralStyle::V3 ? python_strip(m.content) : m.content;
            *out += in.eos;
        }
    }
    return Status::ok();
}

// ---- Harmony (gpt-oss) -----------------------------------------------------------------------

// A leading system message becomes the developer turn's "# Instructions" (when not empty); later
// system messages are dropped, as the template has no branch for them. The last assistant turn
// of a conversation that asks no generation prompt ends with <|return|>, every other one with
// <|end|>. Assistant text holding channel tags is refused, in the template's words.
Status render_harmony(const ChatFormat &f, std::span<const ChatMessage> messages,
                      const ChatRenderInput &in, std::string *out) {
    *out += "<|start|>system<|message|>You are ChatGPT, a large language model trained by "
            "OpenAI.\nKnowledge cutoff: 2024-06\nCurrent date: ";
    *out += in.today_iso;
    *out += "\n\nReasoning: medium\n\n# Valid channels: analysis, commentary, final. Channel "
            "must be included for every message.<|end|>";
    size_t first = 0;
    if (messages[0].role == "system") {
        first = 1;
        if (!messages[0].content.empty()) {
            *out += "<|start|>developer<|message|># Instructions\n\n";
            *out += messages[0].content;
            *out += "\n\n<|end|>";
        }
    }
    for (size_t k = first; k < messages.size(); ++k) {
        const ChatMessage &m = messages[k];
        if (m.role == "user") {
            *out += "<|start|>user<|message|>";
            *out += m.content;
            *out += "<|end|>";
        } else if (m.role == "assistant") {
            if (m.content.find("<|channel|>analysis<|message|>") != std::string_view::npos ||
                m.content.find("<|channel|>final<|message|>") != std::string_view::npos)
                return refuse(f.name, k, m.role,
                              "You have passed a message containing <|channel|> tags in the "
                              "content field. Instead of doing this, you should pass analysis "
                              "messages (the string between '<|message|>' and '<|end|>') in the "
                              "'thinking' field, and final messages (the string between "
                              "'<|message|>' and '<|end|>') in the 'content' field.");
            *out += "<|start|>assistant<|channel|>final<|message|>";
            *out += m.content;
            *out +=
                k + 1 == messages.size() && !in.add_generation_prompt ? "<|return|>" : "<|end|>";
        }
    }
    if (in.add_generation_prompt) *out += "<|start|>assistant";
    return Status::ok();
}

// ---- DeepSeek-V3.1 ---------------------------------------------------------------------------

// All system messages, joined by a blank line, go first wherever they stand. An answer is opened
// with "<｜Assistant｜><think></think>" only right after a user turn (not after another answer),
// and keeps only its text after the first </think>. A generation prompt follows a user turn only.
// The end of an answer is the literal <｜end▁of▁sentence｜>, not eos_token.
Status render_deepseek(std::span<const ChatMessage> messages, const ChatRenderInput &in,
                       std::string *out) {
    static constexpr std::string_view kOpenAnswer = "<｜Assistant｜><think></think>",
                                      kClose = "</think>";
    *out += in.bos;
    bool first_system = true;
    for (const ChatMessage &m : messages) {
        if (m.role != "system") continue;
        if (!first_system) *out += "\n\n";
        *out += m.content;
        first_system = false;
    }
    bool last_user = false;
    for (const ChatMessage &m : messages) {
        if (m.role == "user") {
            *out += "<｜User｜>";
            *out += m.content;
            last_user = true;
        } else if (m.role == "assistant") {
            if (last_user) *out += kOpenAnswer;
            last_user = false;
            std::string_view answer = m.content;
            if (const size_t close = answer.find(kClose); close != std::string_view::npos)
                answer.remove_prefix(close + kClose.size());
            *out += answer;
            *out += "<｜end▁of▁sentence｜>";
        }
    }
    if (in.add_generation_prompt && last_user) *out += kOpenAnswer;
    return Status::ok();
}

} // namespace

std::string_view python_strip(std::string_view text) {
    while (size_t n = space_at_front(text))
        text.remove_prefix(n);
    while (size_t n = space_at_back(text))
        text.remove_suffix(n);
    return text;
}

std::string today_iso_date_string() {
    const std::time_t now = std::time(nullptr);
    std::tm local{};
    localtime_r(&now, &local);
    char buf[32];
    std::snprintf(buf, sizeof buf, "%04d-%02d-%02d", local.tm_year + 1900, local.tm_mon + 1,
                  local.tm_mday);
    return buf;
}

std::string today_date_string() {
    static constexpr const char *kMonths[12] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    const std::time_t now = std::time(nullptr);
    std::tm local{};
    localtime_r(&now, &local);
    char buf[32];
    std::snprintf(buf, sizeof buf, "%02d %s %04d", local.tm_mday, kMonths[local.tm_mon % 12],
                  local.tm_year + 1900);
    return buf;
}

Status render_chat(const ChatFormat &format, std::span<const ChatMessage> messages,
                   const ChatRenderInput &input, std::string *out) {
    out->clear();
    if (messages.empty())
        return make_error(INFER_ERR_INVALID_ARGUMENT, "a conversation needs at least one message");
    Status status;
    switch (format.family) {
    case ChatFamily::ChatMl:
        status = render_chatml(format, messages, input.add_generation_prompt, out);
        break;
    case ChatFamily::Gemma:
        status = render_gemma(format, messages, input, out);
        break;
    case ChatFamily::Llama3:
        status = render_llama3(format, messages, input, out);
        break;
    case ChatFamily::Mistral:
        status = render_mistral(format, messages, input, out);
        break;
    case ChatFamily::Harmony:
        status = render_harmony(format, messages, input, out);
        break;
    case ChatFamily::DeepSeek:
        status = render_deepseek(messages, input, out);
        break;
    }
    if (!status.is_ok()) out->clear();
    return status;
}

} // namespace infer::text
