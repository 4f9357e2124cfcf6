/* A chat conversation kept in a context's KV cache.
 *
 * The messages are the truth; the KV cache is a cache of their rendering. Each turn the whole
 * conversation is rendered with the chat template and tokenized, and only the tokens after the
 * longest prefix the cache already holds are processed. Normally that prefix is everything up to
 * the new message. Where the tokens differ (an answer whose generated tokens are not how its
 * text tokenizes, an answer stopped early), the cache is truncated to the common prefix and the
 * rest processed again, so the model always sees exactly the rendered conversation. */
#ifndef INFER_CHAT_CONVERSATION_H
#define INFER_CHAT_CONVERSATION_H

#include "infer.h"
#include "text_buffer.h"

typedef struct conversation {
    const infer_model *model;
    infer_context *ctx;
    const char *template_name;    /* NULL: the model's own */
    infer_chat_message *messages; /* roles are static strings; contents are owned */
    size_t n_messages, capacity;
    size_t n_fixed; /* leading messages never dropped: the system prompt */
    token_list kv;  /* the tokens in the KV cache, in order */
    text_buffer rendered;
    token_list target; /* the rendered conversation's tokens, plus the answer so far */
    char bos_text[64]; /* the BOS token's text, "" if none: a template that writes it itself
                          must not get a second BOS from the tokenizer */
    /* What the last conversation_sync did, for --verbose. */
    size_t last_reused, last_processed, last_dropped;
} conversation;

/* Starts an empty conversation, with a system message when system_prompt is not NULL. Returns
 * INFER_OK or INFER_ERR_OUT_OF_MEMORY. */
infer_status conversation_init(conversation *c, const infer_model *model, infer_context *ctx,
                               const char *template_name, const char *system_prompt);
void conversation_free(conversation *c);

/* Appends a message (role a static string: "user", "assistant"). */
infer_status conversation_add(conversation *c, const char *role, const char *content);
/* Removes the last message (a user message whose turn could not run). */
void conversation_pop(conversation *c);
/* Forgets every message but the system prompt, and empties the KV cache. */
infer_status conversation_reset(conversation *c);

/* Makes the KV cache hold the conversation, rendered with the opening of an assistant turn,
 * followed by answer[0, n_answer) (the tokens generated so far), and leaves the logits of its
 * last token. When that does not fit in the context (no room left after it): with shift, drops
 * the oldest exchanges after the system prompt until it takes at most three quarters of the
 * context (messages dropped stay dropped); without shift, or when nothing is left to drop,
 * returns INFER_ERR_CONTEXT_FULL, the KV cache unchanged. INFER_ERR_CANCELLED
 * (infer_context_cancel) leaves the cache holding a prefix of it. */
infer_status conversation_sync(conversation *c, const int32_t *answer, size_t n_answer, int shift);

/* Processes one generated token after what the cache holds. */
infer_status conversation_decode(conversation *c, int32_t token);

#endif
