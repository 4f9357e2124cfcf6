// infer-chat's UTF-8 streaming (samples/chat/utf8_stream.c): pieces cut anywhere inside
// characters come out whole, in order, and every write ends on a character boundary.
#include "chat/utf8_stream.h"

#include <doctest/doctest.h>

#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>

namespace {

// A reference decoder: true when s is a sequence of complete, well-formed UTF-8 characters.
bool valid_utf8(const std::string &s) {
    for (size_t i = 0; i < s.size();) {
        const auto c = static_cast<unsigned char>(s[i]);
        size_t n = c < 0x80           ? 1
                   : (c >> 5) == 0x6  ? 2
                   : (c >> 4) == 0xE  ? 3
                   : (c >> 3) == 0x1E ? 4
                                      : 0;
        if (n == 0 || i + n > s.size()) return false;
        for (size_t k = 1; k < n; ++k)
            if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return false;
        i += n;
    }
    return true;
}

// Collects what the stream writes, one string per write, through a memory FILE.
struct Capture {
    char *data = nullptr;
    size_t size = 0;
    FILE *file = open_memstream(&data, &size);
    ~Capture() {
        std::fclose(file);
        std::free(data);
    }
    std::string text() {
        std::fflush(file);
        return std::string(data, size);
    }
};

} // namespace

TEST_CASE("utf8_incomplete_tail counts the bytes of an unfinished last character") {
    CHECK(utf8_incomplete_tail("", 0) == 0);
    CHECK(utf8_incomplete_tail("abc", 3) == 0);
    CHECK(utf8_incomplete_tail("a\xC3", 2) == 1);     // é cut after its lead byte
    CHECK(utf8_incomplete_tail("a\xC3\xA9", 3) == 0); // é complete
    CHECK(utf8_incomplete_tail("\xE2\x82", 2) == 2);  // € cut after two of three bytes
    CHECK(utf8_incomplete_tail("\xE2\x82\xAC", 3) == 0);
    CHECK(utf8_incomplete_tail("x\xF0\x9F\x98", 4) == 3); // 😀 cut after three of four
    CHECK(utf8_incomplete_tail("\xF0\x9F\x98\x80", 4) == 0);
    CHECK(utf8_incomplete_tail("a\xFF", 2) == 0);    // invalid bytes pass as they are
    CHECK(utf8_incomplete_tail("\x80\x80", 2) == 0); // stray continuation bytes too
}

TEST_CASE("utf8_stream writes whole characters whatever the cuts between pieces") {
    const std::string text = "Grüße, 世界! € 😀 naïve — ok";
    std::mt19937 rng(7);
    for (int trial = 0; trial < 200; ++trial) {
        Capture out;
        utf8_stream s{};
        s.out = out.file;
        size_t written_before = 0;
        for (size_t at = 0; at < text.size();) {
            const size_t n = std::min(text.size() - at, size_t(1 + rng() % 5));
            REQUIRE(utf8_stream_write(&s, text.data() + at, n));
            at += n;
            const std::string so_far = out.text();
            CHECK(so_far.size() >= written_before);
            CHECK(valid_utf8(so_far)); // every write ends on a boundary
            CHECK(so_far == text.substr(0, so_far.size()));
            CHECK(at - so_far.size() <= 3); // at most an incomplete character is held back
            written_before = so_far.size();
        }
        utf8_stream_finish(&s);
        CHECK(out.text() == text);
        CHECK(std::string(s.text.data, s.text.length) == text);
        text_buffer_free(&s.text);
    }
}

TEST_CASE("utf8_stream_finish drops a character the answer did not finish") {
    utf8_stream s{};
    REQUIRE(utf8_stream_write(&s, "ok \xE2\x82", 5));
    CHECK(s.emitted == 3);
    utf8_stream_finish(&s);
    CHECK(std::string(s.text.data, s.text.length) == "ok ");
    utf8_stream_clear(&s);
    REQUIRE(utf8_stream_write(&s, "\xC3\xA9", 2));
    CHECK(std::string(s.text.data, s.emitted) == "\xC3\xA9");
    text_buffer_free(&s.text);
}
