/* A growable byte string, always NUL-terminated; what infer-chat keeps its texts and token lists
 * in. Functions return 0 when memory runs out (the buffer is then unchanged). */
#ifndef INFER_CHAT_TEXT_BUFFER_H
#define INFER_CHAT_TEXT_BUFFER_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" { /* the unit tests are C++ */
#endif

typedef struct text_buffer {
    char *data; /* NULL until something is appended */
    size_t length;
    size_t capacity;
} text_buffer;

int text_buffer_append(text_buffer *b, const char *bytes, size_t n);
int text_buffer_reserve(text_buffer *b, size_t capacity); /* room for capacity - 1 bytes + NUL */
void text_buffer_clear(text_buffer *b);                   /* length 0, memory kept */
void text_buffer_free(text_buffer *b);

/* A growable array of token ids. */
typedef struct token_list {
    int32_t *ids;
    size_t count;
    size_t capacity;
} token_list;

int token_list_reserve(token_list *l, size_t capacity);
int token_list_push(token_list *l, int32_t id);
void token_list_free(token_list *l);

#ifdef __cplusplus
}
#endif

#endif
