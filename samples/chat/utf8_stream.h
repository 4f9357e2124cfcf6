/* Streams token pieces as valid UTF-8. A token's bytes may end inside a multi-byte character
 * (byte-fallback and byte-level vocabularies split characters across tokens); the stream holds
 * such an incomplete tail back until a later piece completes it, so every write to the output
 * ends on a character boundary. */
#ifndef INFER_CHAT_UTF8_STREAM_H
#define INFER_CHAT_UTF8_STREAM_H

#include "text_buffer.h"

#include <stdio.h>

#ifdef __cplusplus
extern "C" { /* the unit tests are C++ */
#endif

typedef struct utf8_stream {
    FILE *out;        /* where complete characters are written and flushed; NULL: nowhere */
    text_buffer text; /* every byte received; [0, emitted) has been written */
    size_t emitted;
} utf8_stream;

/* Adds a piece and writes what now ends on a character boundary; 0 when out of memory. */
int utf8_stream_write(utf8_stream *s, const char *bytes, size_t n);

/* Ends the text: drops an incomplete tail (the answer stopped inside a character), so that
 * s->text holds exactly what was written. */
void utf8_stream_finish(utf8_stream *s);

/* Starts a new text, keeping the memory. */
void utf8_stream_clear(utf8_stream *s);

/* How many of the last bytes of [bytes, bytes + n) begin a character that is not complete yet;
 * 0 when the text ends on a boundary. Invalid bytes count as complete characters. */
size_t utf8_incomplete_tail(const char *bytes, size_t n);

#ifdef __cplusplus
}
#endif

#endif
