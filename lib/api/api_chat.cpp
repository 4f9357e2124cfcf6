// Chat templates through the C API: the model's tokenizer.chat_template is recognized on each
// call (a few microseconds of substring search; nothing is cached, so a shared model needs no
// lock) and rendered with the vocabulary's BOS/EOS texts.
#include "api/api_model.h"
#include "api/api_util.h"
#include "text/chat_template.h"

#include <vector>

using infer::api::fail;
using infer::api::guarded;
using infer::text::ChatFormat;

namespace {

constexpr const char *kTemplateKey = "tokenizer.chat_template";

// The model's own format; NOT_FOUND without a template, UNSUPPORTED when not recognized.
infer::Status model_format(const infer_model &model, ChatFormat *out) {
    const infer::gguf::Value *value = model.model->gguf().find(kTemplateKey);
    std::string_view text;
    if (!value) return infer::make_error(INFER_ERR_NOT_FOUND, "the model has no %s", kTemplateKey);
    if (!value->get_string(&text))
        return infer::make_error(INFER_ERR_TYPE_MISMATCH, "%s is not a string", kTemplateKey);
    return infer::text::chat_format_from_template(text, out);
}

// A named format; when the model's own template is recognized as that same format, its details
// (a default system prompt, a date) come from it, so passing back the name that
// infer_model_chat_template returned renders exactly what NULL renders.
infer::Status named_format(const infer_model &model, const char *name, ChatFormat *out) {
    INFER_TRY(infer::text::chat_format_from_name(name, out));
    ChatFormat own;
    if (model_format(model, &own).is_ok() && std::string_view(own.name) == out->name)
        *out = std::move(own);
    return infer::Status::ok();
}

std::string_view token_text(const infer::text::Vocab &vocab, int32_t id) {
    return id >= 0 && id < vocab.n_tokens() ? std::string_view(vocab.token(id).text)
                                            : std::string_view();
}

bool known_role(std::string_view role) {
    return role == "system" || role == "user" || role == "assistant";
}

} // namespace

extern "C" {

infer_status infer_model_chat_template(const infer_model *model, const char **out_name) {
    return guarded(__func__, [&]() -> infer_status {
        if (!model || !out_name)
            return fail(INFER_ERR_INVALID_ARGUMENT, "model or out_name is NULL");
        ChatFormat format;
        if (infer::Status s = model_format(*model, &format); !s.is_ok()) return fail(s);
        *out_name = format.name;
        return INFER_OK;
    });
}

infer_status infer_chat_apply_template(const infer_model *model, const char *template_name,
                                       const infer_chat_message *messages, size_t n_messages,
                                       int32_t add_generation_prompt, char *buf, size_t capacity,
                                       size_t *out_length) {
    return guarded(__func__, [&]() -> infer_status {
        if (!model) return fail(INFER_ERR_INVALID_ARGUMENT, "model is NULL");
        if (!messages && n_messages > 0)
            return fail(INFER_ERR_INVALID_ARGUMENT, "messages is NULL");
        if (n_messages == 0)
            return fail(INFER_ERR_INVALID_ARGUMENT, "a conversation needs at least one message");
        if (!buf && capacity > 0) return fail(INFER_ERR_INVALID_ARGUMENT, "buf is NULL");
        const infer::text::Vocab *vocab = model->model->vocab();
        if (!vocab)
            return fail(INFER_ERR_UNSUPPORTED,
                        "the model was loaded inspect_only and has no vocabulary for BOS/EOS");
        std::vector<infer::text::ChatMessage> conversation(n_messages);
        for (size_t i = 0; i < n_messages; ++i) {
            const infer_chat_message &m = messages[i];
            if (!m.role || !m.content)
                return fail(INFER_ERR_INVALID_ARGUMENT, "message %zu has a NULL %s", i,
                            m.role ? "content" : "role");
            if (!known_role(m.role))
                return fail(INFER_ERR_INVALID_ARGUMENT,
                            "message %zu has role '%s'; roles are system, user and assistant", i,
                            infer::excerpt(m.role).c_str());
            conversation[i] = {m.role, m.content};
        }
        ChatFormat format;
        const infer::Status found = template_name ? named_format(*model, template_name, &format)
                                                  : model_format(*model, &format);
        if (!found.is_ok()) return fail(found);
        const std::string today = format.llama_today ? infer::text::today_date_string() : "";
        const std::string today_iso = format.family == infer::text::ChatFamily::Harmony
                                          ? infer::text::today_iso_date_string()
                                          : "";
        infer::text::ChatRenderInput input;
        input.bos = token_text(*vocab, vocab->bos());
        input.eos = token_text(*vocab, vocab->eos());
        input.add_generation_prompt = add_generation_prompt != 0;
        input.today = today;
        input.today_iso = today_iso;
        std::string text;
        if (infer::Status s = infer::text::render_chat(format, conversation, input, &text);
            !s.is_ok())
            return fail(s);
        return infer::api::copy_text(text, buf, capacity, out_length);
    });
}

} // extern "C"
