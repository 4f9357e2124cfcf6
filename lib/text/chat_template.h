// Chat templates without a Jinja engine. A model's tokenizer.chat_template is recognized as one of
// a few known formats by markers in its text (chat_format.cpp), and rendered by C++ that produces
// byte for byte what the Jinja template produces, as Hugging Face transformers runs it, for plain
// system/user/assistant conversations (chat_render.cpp). A template that is not recognized is an
// error, never a silent fallback to some other format: a prompt in the wrong format still runs but
// quietly degrades the model.
#pragma once

#include "core/status.h"

#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace infer::text {

// role is "system", "user" or "assistant" (the caller checks).
struct ChatMessage {
    std::string_view role;
    std::string_view content;
};

// Harmony: gpt-oss's "<|start|>role<|message|>...<|end|>" turns after a fixed system header.
// DeepSeek: DeepSeek-V3.1's "<｜User｜>...<｜Assistant｜><think></think>...<｜end▁of▁sentence｜>".
enum class ChatFamily { ChatMl, Gemma, Llama3, Mistral, Harmony, DeepSeek };

// Mistral's tokenizer versions spell [INST] differently and place the system prompt differently.
enum class MistralStyle {
    V1,       // " [INST] sys\n\nuser [/INST] answer</s>": system folded into the first user turn
    V3,       // "[INST] user[/INST] answer</s>": system folded into the LAST user turn
    V3Tekken, // as V3 without the spaces, and the answer untrimmed
    V7,       // "[SYSTEM_PROMPT] sys[/SYSTEM_PROMPT][INST] user[/INST] answer</s>"
};

// Everything the renderer needs to reproduce one template. Fields beyond `family` apply to that
// family only; what a model's own template says (a default system prompt, a date) is read from
// its text by chat_format_from_template.
struct ChatFormat {
    const char *name = nullptr; // static: one of chat_format_names()
    ChatFamily family = ChatFamily::ChatMl;

    // ChatML: the system turn added when the conversation does not open with one (SmolLM2,
    // Qwen2.5).
    std::optional<std::string> default_system;
    // ChatML, Qwen3: <think>...</think> in assistant history is dropped before the last user turn
    // and reformatted after it.
    bool reasoning = false;

    // Gemma: appended to a leading system message, which is then folded into the first user turn
    // (Gemma 3: "\n\n"); nullopt: a system message is refused (Gemma 1 and 2).
    std::optional<std::string> gemma_system_suffix;

    // Llama 3: the first Llama 3 templates open an assistant turn whether asked or not.
    bool llama_always_generation_prompt = false;
    // Llama 3.1 and later: a system header with "Cutting Knowledge Date" and "Today Date" lines.
    bool llama_dates = false;
    // The "Today Date" of 3.1: the template's fixed default. 3.2 takes today's date instead.
    std::string llama_default_date;
    bool llama_today = false;

    MistralStyle mistral = MistralStyle::V1;
};

// The accepted format names, in a fixed order, ending with nullptr.
const char *const *chat_format_names();

// INFER_ERR_UNSUPPORTED (saying what was not recognized) when the text is none of the formats.
Status chat_format_from_template(std::string_view template_text, ChatFormat *out);
// The generic format of a name; INFER_ERR_INVALID_ARGUMENT for an unknown name.
Status chat_format_from_name(std::string_view name, ChatFormat *out);

struct ChatRenderInput {
    std::string_view bos; // the token texts the Jinja template sees as bos_token/eos_token
    std::string_view eos;
    bool add_generation_prompt = false;
    std::string_view today; // "%d %b %Y", e.g. "05 Mar 2025": for formats with llama_today
    std::string_view today_iso; // "%Y-%m-%d", e.g. "2025-03-05": for harmony's header
};

// INFER_ERR_INVALID_ARGUMENT where the template would raise an exception (roles out of order, a
// role it refuses), with the template's own words; *out is left empty then.
Status render_chat(const ChatFormat &format, std::span<const ChatMessage> messages,
                   const ChatRenderInput &input, std::string *out);

// Today's local date as Python's datetime.now().strftime("%d %b %Y") writes it in the C locale.
std::string today_date_string();
// Today's local date as strftime("%Y-%m-%d").
std::string today_iso_date_string();

// Python's str.strip() with no argument (what Jinja's trim filter calls): removes leading and
// trailing Unicode whitespace, the characters Python's str.isspace() accepts.
std::string_view python_strip(std::string_view text);

} // namespace infer::text
