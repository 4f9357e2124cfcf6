#include "utf8_stream.h"

/* The length of the character a lead byte starts; 1 for ASCII and for invalid bytes. */
static size_t sequence_length(unsigned char lead) {
    if (lead >= 0xF0 && lead <= 0xF4) return 4;
    if (lead >= 0xE0 && lead <= 0xEF) return 3;
    if (lead >= 0xC2 && lead <= 0xDF) return 2;
    return 1;
}

size_t utf8_incomplete_tail(const char *bytes, size_t n) {
    /* The last character's lead byte is at most 3 continuation bytes back. */
    for (size_t back = 1; back <= 4 && back <= n; ++back) {
        const unsigned char c = (unsigned char)bytes[n - back];
        if ((c & 0xC0) == 0x80) continue;
        return sequence_length(c) > back ? back : 0;
    }
    return 0;
}

int utf8_stream_write(utf8_stream *s, const char *bytes, size_t n) {
    if (!text_buffer_append(&s->text, bytes, n)) return 0;
    const size_t fresh = s->text.length - s->emitted;
    const size_t ready = fresh - utf8_incomplete_tail(s->text.data + s->emitted, fresh);
    if (ready && s->out) {
        fwrite(s->text.data + s->emitted, 1, ready, s->out);
        fflush(s->out);
    }
    s->emitted += ready;
    return 1;
}

void utf8_stream_finish(utf8_stream *s) {
    s->text.length = s->emitted;
    if (s->text.data) s->text.data[s->text.length] = '\0';
}

void utf8_stream_clear(utf8_stream *s) {
    text_buffer_clear(&s->text);
    s->emitted = 0;
}
