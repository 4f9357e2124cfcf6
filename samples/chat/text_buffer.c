#include "text_buffer.h"

#include <stdlib.h>
#include <string.h>

/* Grows *data to hold at least `needed` elements of `size` bytes, doubling. */
static int grow(void **data, size_t *capacity, size_t needed, size_t size) {
    if (needed <= *capacity) return 1;
    size_t next = *capacity ? *capacity : 64;
    while (next < needed) {
        if (next > ((size_t)-1 / size) / 2) return 0;
        next *= 2;
    }
    void *grown = realloc(*data, next * size);
    if (!grown) return 0;
    *data = grown;
    *capacity = next;
    return 1;
}

int text_buffer_append(text_buffer *b, const char *bytes, size_t n) {
    if (n > (size_t)-1 - b->length - 1 || !text_buffer_reserve(b, b->length + n + 1)) return 0;
    if (n) memcpy(b->data + b->length, bytes, n);
    b->length += n;
    b->data[b->length] = '\0';
    return 1;
}

int text_buffer_reserve(text_buffer *b, size_t capacity) {
    void *data = b->data;
    if (!grow(&data, &b->capacity, capacity, 1)) return 0;
    b->data = data;
    return 1;
}

void text_buffer_clear(text_buffer *b) {
    b->length = 0;
    if (b->data) b->data[0] = '\0';
}

void text_buffer_free(text_buffer *b) {
    free(b->data);
    b->data = NULL;
    b->length = b->capacity = 0;
}

int token_list_reserve(token_list *l, size_t capacity) {
    void *ids = l->ids;
    if (!grow(&ids, &l->capacity, capacity, sizeof *l->ids)) return 0;
    l->ids = ids;
    return 1;
}

int token_list_push(token_list *l, int32_t id) {
    if (!token_list_reserve(l, l->count + 1)) return 0;
    l->ids[l->count++] = id;
    return 1;
}

void token_list_free(token_list *l) {
    free(l->ids);
    l->ids = NULL;
    l->count = l->capacity = 0;
}
