#include "conversation.h"

#include <stdlib.h>
#include <string.h>

static char *copy_string(const char *s) {
    const size_t n = strlen(s) + 1;
    char *copy = malloc(n);
    if (copy) memcpy(copy, s, n);
    return copy;
}

infer_status conversation_init(conversation *c, const infer_model *model, infer_context *ctx,
                               const char *template_name, const char *system_prompt) {
    memset(c, 0, sizeof *c);
    c->model = model;
    c->ctx = ctx;
    c->template_name = template_name;
    const int32_t bos = infer_model_special_token(model, INFER_TOKEN_BOS);
    size_t length = 0;
    if (bos >= 0 && (infer_token_to_piece(model, bos, 0, c->bos_text, sizeof c->bos_text,
                                          &length) != INFER_OK ||
                     length >= sizeof c->bos_text))
        c->bos_text[0] = '\0';
    if (system_prompt) {
        const infer_status status = conversation_add(c, "system", system_prompt);
        if (status != INFER_OK) return status;
        c->n_fixed = 1;
    }
    return INFER_OK;
}

void conversation_free(conversation *c) {
    for (size_t i = 0; i < c->n_messages; ++i)
        free((char *)c->messages[i].content);
    free(c->messages);
    token_list_free(&c->kv);
    token_list_free(&c->target);
    text_buffer_free(&c->rendered);
    memset(c, 0, sizeof *c);
}

infer_status conversation_add(conversation *c, const char *role, const char *content) {
    if (c->n_messages == c->capacity) {
        const size_t capacity = c->capacity ? 2 * c->capacity : 16;
        infer_chat_message *grown = realloc(c->messages, capacity * sizeof *grown);
        if (!grown) return INFER_ERR_OUT_OF_MEMORY;
        c->messages = grown;
        c->capacity = capacity;
    }
    char *copy = copy_string(content);
    if (!copy) return INFER_ERR_OUT_OF_MEMORY;
    c->messages[c->n_messages].role = role;
    c->messages[c->n_messages].content = copy;
    ++c->n_messages;
    return INFER_OK;
}

void conversation_pop(conversation *c) {
    if (c->n_messages <= c->n_fixed) return;
    --c->n_messages;
    free((char *)c->messages[c->n_messages].content);
}

infer_status conversation_reset(conversation *c) {
    while (c->n_messages > c->n_fixed)
        conversation_pop(c);
    c->kv.count = 0;
    return infer_context_reset(c->ctx);
}

/* Drops the oldest exchange after the fixed messages: the first message and every following
 * one up to the next user message, so the conversation still starts with a user turn. The last
 * message (the current user message) is never dropped. Returns 0 when there is nothing to drop. */
static int drop_oldest(conversation *c) {
    size_t end = c->n_fixed + 1;
    while (end < c->n_messages && strcmp(c->messages[end].role, "user") != 0)
        ++end;
    if (end >= c->n_messages) return 0;
    const size_t n_drop = end - c->n_fixed;
    for (size_t i = c->n_fixed; i < end; ++i)
        free((char *)c->messages[i].content);
    memmove(c->messages + c->n_fixed, c->messages + end,
            (c->n_messages - end) * sizeof *c->messages);
    c->n_messages -= n_drop;
    return 1;
}

/* c->target = tokens of the rendered conversation, then the answer. */
static infer_status render_target(conversation *c, const int32_t *answer, size_t n_answer) {
    size_t length = 0;
    infer_status status =
        infer_chat_apply_template(c->model, c->template_name, c->messages, c->n_messages, 1,
                                  c->rendered.data, c->rendered.capacity, &length);
    if (status == INFER_OK && length >= c->rendered.capacity) { /* too small: grow, render again */
        if (!text_buffer_reserve(&c->rendered, length + 1)) return INFER_ERR_OUT_OF_MEMORY;
        status = infer_chat_apply_template(c->model, c->template_name, c->messages, c->n_messages,
                                           1, c->rendered.data, c->rendered.capacity, &length);
    }
    if (status != INFER_OK) return status;
    c->rendered.length = length;

    const size_t bos_length = strlen(c->bos_text);
    const int add_special = !(bos_length && length >= bos_length &&
                              memcmp(c->rendered.data, c->bos_text, bos_length) == 0);
    size_t count = 0;
    status = infer_tokenize(c->model, c->rendered.data, length, add_special, 1, c->target.ids,
                            c->target.capacity, &count);
    if (status == INFER_ERR_BUFFER_TOO_SMALL) {
        if (!token_list_reserve(&c->target, count + n_answer)) return INFER_ERR_OUT_OF_MEMORY;
        status = infer_tokenize(c->model, c->rendered.data, length, add_special, 1, c->target.ids,
                                c->target.capacity, &count);
    }
    if (status != INFER_OK) return status;
    c->target.count = count;
    if (!token_list_reserve(&c->target, count + n_answer)) return INFER_ERR_OUT_OF_MEMORY;
    if (n_answer) memcpy(c->target.ids + count, answer, n_answer * sizeof *answer);
    c->target.count += n_answer;
    return INFER_OK;
}

/* Brings the KV cache from c->kv to c->target: keeps the common prefix, processes the rest. At
 * least the last token is processed, so that the logits are its. */
static infer_status process_target(conversation *c) {
    size_t common = 0;
    while (common < c->kv.count && common < c->target.count &&
           c->kv.ids[common] == c->target.ids[common])
        ++common;
    if (c->target.count == 0) return INFER_ERR_INVALID_ARGUMENT; /* a template rendered nothing */
    if (common == c->target.count) --common;
    infer_status status = INFER_OK;
    if (common < c->kv.count) {
        status = infer_context_truncate(c->ctx, (uint32_t)common);
        if (status != INFER_OK) return status;
        c->kv.count = common;
    }
    if (!token_list_reserve(&c->kv, c->target.count)) return INFER_ERR_OUT_OF_MEMORY;
    memcpy(c->kv.ids + common, c->target.ids + common,
           (c->target.count - common) * sizeof *c->kv.ids);
    status = infer_decode(c->ctx, c->target.ids + common, (uint32_t)(c->target.count - common));
    /* A cancelled decode keeps the chunks it completed. */
    c->kv.count = infer_context_position(c->ctx);
    c->last_reused = common;
    c->last_processed = c->target.count - common;
    return status;
}

infer_status conversation_sync(conversation *c, const int32_t *answer, size_t n_answer, int shift) {
    const size_t n_ctx = infer_context_n_ctx(c->ctx);
    c->last_dropped = 0;
    infer_status status = render_target(c, answer, n_answer);
    if (status != INFER_OK) return status;
    if (c->target.count >= n_ctx) {
        if (!shift) return INFER_ERR_CONTEXT_FULL;
        /* A turn's messages are kept only while the conversation still fits. */
        while (c->target.count > n_ctx - n_ctx / 4 && drop_oldest(c)) {
            ++c->last_dropped;
            status = render_target(c, answer, n_answer);
            if (status != INFER_OK) return status;
        }
        if (c->target.count >= n_ctx) return INFER_ERR_CONTEXT_FULL;
    }
    return process_target(c);
}

infer_status conversation_decode(conversation *c, int32_t token) {
    if (!token_list_push(&c->kv, token)) return INFER_ERR_OUT_OF_MEMORY;
    const infer_status status = infer_decode(c->ctx, &token, 1);
    c->kv.count = infer_context_position(c->ctx);
    return status;
}
