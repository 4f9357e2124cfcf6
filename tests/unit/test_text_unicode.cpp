// The pieces under the tokenizers: GPT-2's byte-to-unicode map, UTF-8 helpers, streaming hold-back,
// the whitespace rewrite of pre-tokenizer regexes, and a pre-tokenizer's split.
#include "text/pretokenize.h"
#include "text/unicode_bytes.h"
#include "text/utf8.h"

#include <doctest/doctest.h>

#include <set>

using namespace infer::text;

TEST_CASE("text: byte-to-unicode map is GPT-2's and invertible") {
    CHECK(byte_to_unicode('A') == 'A');
    CHECK(byte_to_unicode('!') == '!');
    CHECK(byte_to_unicode(' ') == 0x120);  // "Ġ"
    CHECK(byte_to_unicode('\n') == 0x10A); // "Ċ"
    CHECK(byte_to_unicode(0) == 0x100);
    CHECK(byte_to_unicode(0xAD) == 0x143); // soft hyphen is not printable
    CHECK(byte_to_unicode_utf8(' ') == "\xc4\xa0");
    std::set<uint32_t> seen;
    for (int b = 0; b < 256; ++b) {
        const uint32_t cpt = byte_to_unicode(static_cast<uint8_t>(b));
        CHECK(seen.insert(cpt).second);
        CHECK(unicode_to_byte(cpt) == b);
    }
    CHECK(unicode_to_byte(0x20) == -1);
    CHECK(unicode_to_byte(0x4E2D) == -1);
    CHECK(bytes_to_unicode_text("a b") == "a\xc4\xa0" "b");
}

TEST_CASE("text: lenient UTF-8 decoding follows llama.cpp") {
    CHECK(decode_utf8_lenient("a\xc3\xa9\xe4\xb8\xad\xf0\x9f\x98\x80") ==
          std::vector<uint32_t>{'a', 0xE9, 0x4E2D, 0x1F600});
    // A stray continuation byte and a truncated sequence each give U+FFFD and reading resumes.
    CHECK(decode_utf8_lenient("\x80x") == std::vector<uint32_t>{0xFFFD, 'x'});
    CHECK(decode_utf8_lenient("\xe4\xb8") == std::vector<uint32_t>{0xFFFD, 0xFFFD});
    CHECK(decode_utf8_lenient("\xed\xa0\x80") == std::vector<uint32_t>{0xFFFD}); // surrogate
    std::string s;
    for (uint32_t c : {0x41u, 0xE9u, 0x4E2Du, 0x1F600u}) append_utf8(c, &s);
    CHECK(s == "A\xc3\xa9\xe4\xb8\xad\xf0\x9f\x98\x80");
    CHECK(utf8_seq_len(0x41) == 1);
    CHECK(utf8_seq_len(0x80) == 1);
    CHECK(utf8_seq_len(0xC3) == 2);
    CHECK(utf8_seq_len(0xE4) == 3);
    CHECK(utf8_seq_len(0xF0) == 4);
}

TEST_CASE("text: incomplete UTF-8 tails are held back until complete") {
    CHECK(incomplete_utf8_tail("abc") == 0);
    CHECK(incomplete_utf8_tail("a\xf0") == 1);
    CHECK(incomplete_utf8_tail("a\xf0\x9f\x98") == 3);
    CHECK(incomplete_utf8_tail("a\xf0\x9f\x98\x80") == 0);
    CHECK(incomplete_utf8_tail("\xe4\xb8") == 2);
    CHECK(incomplete_utf8_tail("\x80\x80\x80\x80") == 0); // never valid: passes through
    CHECK(incomplete_utf8_tail("\xff") == 0);

    Utf8Stream stream;
    CHECK(stream.push("x\xf0\x9f").empty() == false);
    CHECK(stream.pending() == 2);
    CHECK(stream.push("\x98").empty());
    CHECK(stream.push("\x80!") == "\xf0\x9f\x98\x80!");
    CHECK(stream.push("\xe4") .empty());
    CHECK(stream.flush() == "\xe4");
    CHECK(stream.pending() == 0);
}

TEST_CASE("text: pre-tokenizer regexes use llama.cpp's whitespace set") {
    std::string out;
    REQUIRE(rewrite_whitespace_classes(R"(a\s+(?!\S)|[^\s\p{L}])", &out));
    CHECK(out.find("\\s") == std::string::npos);
    CHECK(out.find("\\S") == std::string::npos);
    CHECK(out.find("[^\\t-\\r \\x{85}") != std::string::npos);
    CHECK_FALSE(rewrite_whitespace_classes(R"([\S])", &out));

    std::unique_ptr<PreTokenizer> pre;
    REQUIRE(PreTokenizer::create("gpt-2", &pre).is_ok());
    const std::string text = "Hello world's  123\xc2\x85x";
    std::vector<std::string> words;
    pre->for_each_word(text, [&](size_t b, size_t e) { words.push_back(text.substr(b, e - b)); });
    CHECK(words == std::vector<std::string>{"Hello", " world", "'s", " ", " 123", "\xc2\x85", "x"});
    REQUIRE(PreTokenizer::create("smollm", &pre).is_ok());
    words.clear();
    const std::string digits = "ab 12";
    pre->for_each_word(digits, [&](size_t b, size_t e) { words.push_back(digits.substr(b, e - b)); });
    CHECK(words == std::vector<std::string>{"ab", " ", "1", "2"});
    const infer::Status unknown = PreTokenizer::create("no-such-pre", &pre);
    CHECK(unknown.code() == INFER_ERR_MODEL_BAD_VOCAB);
    CHECK(unknown.message().find("no-such-pre") != std::string::npos);
}

TEST_CASE("text: the deepseek-v3 pre-tokenizer splits words as llama.cpp does") {
    // llama.cpp's words (unicode_regex_split of llama-cpp-python 0.3.36's llama.cpp with its
    // deepseek-v3 regexes) for the corpus strings that exercise them. SmolLM2's vocabulary, which
    // the tokenizer goldens use, gives the same ids for most of these splits, so they are held here
    // word for word: digits in threes; Han only in U+4E00..U+9FA5 (U+3400 and U+9FA6 go with the
    // letters), kana runs apart; one ASCII mark with the ASCII letters after it; letters with their
    // combining marks; punctuation runs keeping their newlines.
    const struct {
        std::string text;
        std::vector<std::string> words;
    } cases[] = {
        {"_init .NET $HOME @user ,x -v é.ça _é",
         {"_init", " .", "NET", " $", "HOME", " @", "user", " ,", "x", " -", "v", " é", ".", "ça",
          " _", "é"}},
        {"日本語abc中文123かなカナ漢字ー々〆ヶ㐀龥龦ｶﾀｶﾅ가나",
         {"日本語", "abc", "中文", "123", "かなカナ漢字ー", "々〆", "ヶ", "㐀", "龥",
          "龦ｶﾀｶﾅ가나"}},
        {"x\u0301y \u0301z ǅungla 1234567 12a3456b",
         {"x\u0301y", " \u0301z", " ǅungla", " ", "123", "456", "7", " ", "12", "a", "345", "6",
          "b"}},
        {"a,\n\n b!?\r\n c :)\t— “x”",
         {"a", ",\n\n", " b", "!?\r\n", " c", " :)", "\t", "—", " “", "x", "”"}},
    };
    std::unique_ptr<PreTokenizer> pre;
    REQUIRE(PreTokenizer::create("deepseek-v3", &pre).is_ok());
    for (const auto &c : cases) {
        CAPTURE(c.text);
        std::vector<std::string> words;
        pre->for_each_word(c.text,
                           [&](size_t b, size_t e) { words.push_back(c.text.substr(b, e - b)); });
        CHECK(words == c.words);
    }
}
