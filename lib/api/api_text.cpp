// Tokenizing and detokenizing through the model's vocabulary.
#include "api/api_model.h"
#include "api/api_util.h"
#include "text/tokenize.h"

#include <cstring>

using infer::api::fail;
using infer::api::guarded;

namespace {

const infer::text::Vocab *vocab_of(const infer_model *model) {
    return model ? model->model->vocab() : nullptr;
}

infer_status no_vocab(const infer_model *model) {
    if (!model) return fail(INFER_ERR_INVALID_ARGUMENT, "model is NULL");
    return fail(INFER_ERR_UNSUPPORTED, "the model was loaded inspect_only and has no vocabulary");
}

} // namespace

extern "C" {

infer_status infer_tokenize(const infer_model *model, const char *text, size_t length,
                            int32_t add_special, int32_t parse_special, int32_t *tokens,
                            size_t capacity, size_t *out_count) {
    return guarded(__func__, [&]() -> infer_status {
        const infer::text::Vocab *vocab = vocab_of(model);
        if (!vocab) return no_vocab(model);
        if (!out_count) return fail(INFER_ERR_INVALID_ARGUMENT, "out_count is NULL");
        if (!text && length > 0) return fail(INFER_ERR_INVALID_ARGUMENT, "text is NULL");
        if (!tokens && capacity > 0) return fail(INFER_ERR_INVALID_ARGUMENT, "tokens is NULL");
        const std::vector<int32_t> ids = infer::text::tokenize(
            *vocab, std::string_view(text ? text : "", length), add_special != 0, parse_special != 0);
        *out_count = ids.size();
        if (ids.size() > capacity)
            return fail(INFER_ERR_BUFFER_TOO_SMALL, "the text has %zu tokens, capacity is %zu",
                        ids.size(), capacity);
        if (!ids.empty()) std::memcpy(tokens, ids.data(), ids.size() * sizeof(int32_t));
        return INFER_OK;
    });
}

infer_status infer_token_to_piece(const infer_model *model, int32_t token, int32_t skip_special,
                                  char *buf, size_t capacity, size_t *out_length) {
    return guarded(__func__, [&]() -> infer_status {
        const infer::text::Vocab *vocab = vocab_of(model);
        if (!vocab) return no_vocab(model);
        if (!buf && capacity > 0) return fail(INFER_ERR_INVALID_ARGUMENT, "buf is NULL");
        if (token < 0 || token >= vocab->n_tokens())
            return fail(INFER_ERR_BAD_TOKEN, "token %d is outside the vocabulary [0, %d)", token,
                        vocab->n_tokens());
        return infer::api::copy_text(infer::text::token_to_piece(*vocab, token, skip_special == 0),
                                     buf, capacity, out_length);
    });
}

int32_t infer_model_special_token(const infer_model *model, int32_t which) {
    const infer::text::Vocab *vocab = vocab_of(model);
    if (!vocab) return -1;
    switch (which) {
    case INFER_TOKEN_BOS: return vocab->bos();
    case INFER_TOKEN_EOS: return vocab->eos();
    case INFER_TOKEN_EOT: return vocab->eot();
    case INFER_TOKEN_UNK: return vocab->unk();
    case INFER_TOKEN_PAD: return vocab->pad();
    default: return -1;
    }
}

int32_t infer_model_n_vocab(const infer_model *model) {
    const infer::text::Vocab *vocab = vocab_of(model);
    return vocab ? vocab->n_tokens() : 0;
}

} // extern "C"
