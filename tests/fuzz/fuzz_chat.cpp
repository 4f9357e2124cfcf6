// libFuzzer target for chat templates: format recognition of arbitrary template texts, rendering
// of arbitrary conversations, and the C API's checks and snprintf buffer rules.
//
// Input: fields separated by the byte 0x1E (so the seeds are readable text files):
//   field 0: control bytes: [0] mode (bit 0: template text path, bit 1: Gemma instead of SmolLM2,
//            bit 2: add_generation_prompt), [1] output capacity for the truncation check;
//   field 1: the template: its text (text path) or a format name for the C API ("" = the model's
//            own; a first byte 0xFF = NULL);
//   then role, content, role, content, ... (a role or content whose first byte is 0xFF is NULL).
// Properties: no crash; the text path renders only after the recognizer accepted the text;
// the C API returns OK or INVALID_ARGUMENT / NOT_FOUND / UNSUPPORTED, and on OK writes
// min(length, capacity - 1) bytes of the same text plus a NUL, reporting the full length.
#include "fuzz_models.h"
#include "text/chat_template.h"

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

using infer::fuzz::check;

namespace {

std::vector<std::string_view> split(std::string_view s) {
    std::vector<std::string_view> fields;
    for (;;) {
        const size_t at = s.find('\x1e');
        fields.push_back(s.substr(0, at));
        if (at == std::string_view::npos) return fields;
        s.remove_prefix(at + 1);
    }
}

bool is_null(std::string_view f) { return !f.empty() && static_cast<uint8_t>(f[0]) == 0xFF; }

// Through the recognizer and renderer directly: the recognizer's input is any text.
void text_path(std::string_view template_text, const std::vector<infer::text::ChatMessage> &messages,
               bool add_generation_prompt) {
    infer::text::ChatFormat format;
    const infer::Status found = infer::text::chat_format_from_template(template_text, &format);
    if (!found.is_ok()) {
        check(found.code() == INFER_ERR_UNSUPPORTED, "recognizer failed with a code other than UNSUPPORTED");
        return;
    }
    check(format.name != nullptr, "recognized format without a name");
    infer::text::ChatRenderInput input;
    input.bos = "<s>";
    input.eos = "</s>";
    input.add_generation_prompt = add_generation_prompt;
    input.today = "05 Mar 2025";
    std::string out;
    const infer::Status rendered = infer::text::render_chat(format, messages, input, &out);
    if (!rendered.is_ok()) {
        check(rendered.code() == INFER_ERR_INVALID_ARGUMENT, "render failed with a code other than INVALID_ARGUMENT");
        check(out.empty(), "failed render left text behind");
    }
}

void api_path(const infer_model *model, const char *name, const std::vector<infer_chat_message> &messages,
              int add_generation_prompt, size_t capacity) {
    size_t length = 0;
    const infer_status st = infer_chat_apply_template(model, name, messages.data(), messages.size(),
                                                      add_generation_prompt, nullptr, 0, &length);
    if (st != INFER_OK) {
        check(st == INFER_ERR_INVALID_ARGUMENT || st == INFER_ERR_NOT_FOUND || st == INFER_ERR_UNSUPPORTED,
              "chat_apply_template failed with an unexpected status");
        return;
    }
    std::vector<char> full(length + 1, '\x7f');
    size_t length2 = 0;
    check(infer_chat_apply_template(model, name, messages.data(), messages.size(), add_generation_prompt,
                                    full.data(), full.size(), &length2) == INFER_OK &&
              length2 == length && full[length] == '\0',
          "render with the announced size differs");
    std::vector<char> part(capacity + 1, '\x7f');
    check(infer_chat_apply_template(model, name, messages.data(), messages.size(), add_generation_prompt,
                                    part.data(), capacity, &length2) == INFER_OK &&
              length2 == length,
          "render into a small buffer failed");
    check(part[capacity] == '\x7f', "wrote past the capacity");
    if (capacity > 0) {
        const size_t n = length < capacity - 1 ? length : capacity - 1;
        check(std::memcmp(part.data(), full.data(), n) == 0 && part[n] == '\0',
              "truncated text is not a NUL-terminated prefix");
    }
}

} // namespace

extern "C" int LLVMFuzzerInitialize(int *, char ***) {
    infer::fuzz::smollm2();
    infer::fuzz::gemma3();
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const std::vector<std::string_view> fields = split({reinterpret_cast<const char *>(data), size});
    if (fields.size() < 2 || fields[0].size() < 2) return 0;
    const uint8_t mode = static_cast<uint8_t>(fields[0][0]);
    const size_t capacity = static_cast<uint8_t>(fields[0][1]);
    const bool add_generation_prompt = mode & 4;

    // NUL-terminated copies for the C API (an embedded NUL just ends the string early there).
    std::vector<std::string> texts(fields.begin() + 2, fields.end());
    if (texts.size() % 2) texts.pop_back();
    if (mode & 1) {
        std::vector<infer::text::ChatMessage> messages;
        for (size_t i = 0; i + 1 < texts.size(); i += 2) {
            const std::string_view role = texts[i];
            // The renderer's caller (the C API) checks roles: only the three known ones get here.
            if (role != "system" && role != "user" && role != "assistant") continue;
            messages.push_back({role, texts[i + 1]});
        }
        text_path(fields[1], messages, add_generation_prompt);
        return 0;
    }
    std::vector<infer_chat_message> messages;
    for (size_t i = 0; i + 1 < texts.size(); i += 2)
        messages.push_back({is_null(texts[i]) ? nullptr : texts[i].c_str(),
                            is_null(texts[i + 1]) ? nullptr : texts[i + 1].c_str()});
    const std::string name(fields[1]);
    const infer_model *model = (mode & 2) ? infer::fuzz::gemma3() : infer::fuzz::smollm2();
    api_path(model, is_null(name) ? nullptr : (name.empty() ? nullptr : name.c_str()), messages,
             add_generation_prompt, capacity);
    return 0;
}
