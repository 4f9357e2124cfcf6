// libFuzzer target for both tokenizers through the C API: byte-level BPE (SmolLM2's vocabulary)
// and SentencePiece (Gemma 3's). The first input byte chooses the model, add_special,
// parse_special and a small output capacity; the rest is the text. Properties:
//   - tokenize never crashes, and refuses a too-small capacity with BUFFER_TOO_SMALL and the
//     full count; every id is in [0, n_vocab);
//   - add_special only adds BOS/EOS around the ids of the same text without it;
//   - for valid UTF-8, the pieces of the ids (special text included) concatenate back to the
//     input, with either parse_special. Byte-level BPE: byte for byte, except the bytes whose
//     byte symbol the vocabulary lacks, which are dropped (as in llama.cpp, whose BPE session
//     drops a symbol it cannot find). SmolLM2's lacks 0x04, 0x06, 0x13, 0x14, 0x16, 0x1D and the
//     lead bytes 0xF1 and 0xF2 of U+40000..U+BFFFF, besides bytes UTF-8 never uses.
//     SentencePiece: up to its whitespace escape: a space is stored as U+2581 and every U+2581
//     comes back as a space, so a U+2581 in the input returns as ' ' (llama.cpp's
//     llama_unescape_whitespace does the same). Gemma 3 adds no space prefix (add_space_prefix
//     false), and SentencePiece encodes every other character, through its <0xXX> byte-fallback
//     tokens if need be.
#include "fuzz_models.h"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

using infer::fuzz::check;

namespace {

// Strict UTF-8: no overlong forms, no surrogates, nothing past U+10FFFF.
bool valid_utf8(const uint8_t *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        const uint8_t c = s[i];
        size_t len;
        uint32_t cp;
        if (c < 0x80) { ++i; continue; }
        if ((c & 0xE0) == 0xC0) { len = 2; cp = c & 0x1F; }
        else if ((c & 0xF0) == 0xE0) { len = 3; cp = c & 0x0F; }
        else if ((c & 0xF8) == 0xF0) { len = 4; cp = c & 0x07; }
        else return false;
        if (i + len > n) return false;
        for (size_t k = 1; k < len; ++k) {
            if ((s[i + k] & 0xC0) != 0x80) return false;
            cp = (cp << 6) | (s[i + k] & 0x3F);
        }
        static constexpr uint32_t kMin[5] = {0, 0, 0x80, 0x800, 0x10000};
        if (cp < kMin[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
        i += len;
    }
    return true;
}

std::vector<int32_t> tokenize(const infer_model *model, const char *text, size_t n, int add_special,
                              int parse_special, size_t small_capacity) {
    // First into a small buffer: either it fits, or the full count comes back with nothing written.
    std::vector<int32_t> ids(small_capacity + 1, -7);
    size_t count = 0;
    const infer_status st = infer_tokenize(model, text, n, add_special, parse_special, ids.data(),
                                           small_capacity, &count);
    if (st == INFER_OK) {
        check(count <= small_capacity, "OK with more tokens than the capacity");
        check(ids[small_capacity] == -7, "wrote past the capacity");
        ids.resize(count);
        return ids;
    }
    check(st == INFER_ERR_BUFFER_TOO_SMALL && count > small_capacity, "tokenize failed");
    for (int32_t id : ids) check(id == -7, "BUFFER_TOO_SMALL wrote ids");
    ids.assign(count, -7);
    size_t again = 0;
    check(infer_tokenize(model, text, n, add_special, parse_special, ids.data(), count, &again) ==
              INFER_OK && again == count,
          "tokenize with the announced capacity failed");
    return ids;
}

std::string piece(const infer_model *model, int32_t id, int skip_special) {
    char small[8];
    size_t len = 0;
    check(infer_token_to_piece(model, id, skip_special, small, sizeof small, &len) == INFER_OK,
          "token_to_piece failed on a valid id");
    std::string s(len, '\0');
    std::vector<char> buf(len + 1);
    size_t len2 = 0;
    check(infer_token_to_piece(model, id, skip_special, buf.data(), buf.size(), &len2) == INFER_OK &&
              len2 == len && buf[len] == '\0',
          "token_to_piece: length differs between calls");
    check(std::memcmp(small, buf.data(), len < sizeof small ? len : sizeof small - 1) == 0,
          "token_to_piece: truncated piece is not a prefix");
    s.assign(buf.data(), len);
    return s;
}

void dump(const char *label, const std::string &s) {
    std::fprintf(stderr, "%s (%zu bytes): ", label, s.size());
    for (unsigned char c : s) std::fprintf(stderr, c >= 0x20 && c < 0x7f ? "%c" : "\\x%02x", c);
    std::fprintf(stderr, "\n");
}

// The bytes byte-level BPE can encode: those with a token whose piece is that one byte.
bool g_bpe_has_byte[256];

} // namespace

extern "C" int LLVMFuzzerInitialize(int *, char ***) {
    const infer_model *bpe = infer::fuzz::smollm2();
    infer::fuzz::gemma3();
    for (int32_t id = 0; id < infer_model_n_vocab(bpe); ++id) {
        char buf[4];
        size_t len = 0;
        if (infer_token_to_piece(bpe, id, 1, buf, sizeof buf, &len) == INFER_OK && len == 1)
            g_bpe_has_byte[static_cast<uint8_t>(buf[0])] = true;
    }
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size == 0) return 0;
    const uint8_t mode = data[0];
    const infer_model *model = (mode & 1) ? infer::fuzz::gemma3() : infer::fuzz::smollm2();
    const int add_special = (mode >> 1) & 1;
    const int parse_special = (mode >> 2) & 1;
    const size_t small_capacity = mode >> 4; // 0..15
    const char *text = reinterpret_cast<const char *>(data + 1);
    const size_t n = size - 1;
    const int32_t n_vocab = infer_model_n_vocab(model);

    const std::vector<int32_t> ids = tokenize(model, text, n, add_special, parse_special, small_capacity);
    for (int32_t id : ids) check(id >= 0 && id < n_vocab, "id outside [0, n_vocab)");
    // An id just outside the vocabulary is refused, not read.
    char tmp[4];
    size_t len = 0;
    check(infer_token_to_piece(model, n_vocab, 0, tmp, sizeof tmp, &len) == INFER_ERR_BAD_TOKEN &&
              infer_token_to_piece(model, -1, 0, tmp, sizeof tmp, &len) == INFER_ERR_BAD_TOKEN,
          "token_to_piece accepted an id outside the vocabulary");

    const std::vector<int32_t> plain =
        add_special ? tokenize(model, text, n, 0, parse_special, 15) : ids;
    if (add_special) {
        // Only BOS in front and EOS behind may be added (which, the vocabulary's flags say).
        const int32_t bos = infer_model_special_token(model, INFER_TOKEN_BOS);
        const int32_t eos = infer_model_special_token(model, INFER_TOKEN_EOS);
        check(ids.size() >= plain.size() && ids.size() <= plain.size() + 2,
              "add_special added more than BOS and EOS");
        bool found = false;
        for (size_t lead = 0; lead <= ids.size() - plain.size() && !found; ++lead) {
            const size_t tail = ids.size() - plain.size() - lead;
            found = lead <= 1 && tail <= 1 && (lead == 0 || ids[0] == bos) && (tail == 0 || ids.back() == eos) &&
                    std::equal(plain.begin(), plain.end(), ids.begin() + static_cast<ptrdiff_t>(lead));
        }
        check(found, "add_special changed the ids of the text");
    }

    if (!valid_utf8(data + 1, n)) {
        for (int32_t id : plain) (void)piece(model, id, 1);
        return 0;
    }
    std::string back;
    for (int32_t id : plain) back += piece(model, id, 0);
    std::string expected(text, n);
    if (!(mode & 1)) {
        std::erase_if(expected, [](char c) { return !g_bpe_has_byte[static_cast<uint8_t>(c)]; });
    } else {
        for (size_t at = expected.find("\xe2\x96\x81"); at != std::string::npos;
             at = expected.find("\xe2\x96\x81", at + 1))
            expected.replace(at, 3, " ");
    }
    if (back != expected) {
        std::fprintf(stderr, "fuzz: round trip: %zu bytes in, %zu bytes back (parse_special %d, %s)\n", n,
                     back.size(), parse_special, (mode & 1) ? "SPM" : "BPE");
        dump("expected", expected);
        dump("back    ", back);
        std::fprintf(stderr, "ids:");
        for (int32_t id : plain) std::fprintf(stderr, " %d", id);
        std::fprintf(stderr, "\n");
        check(false, "detokenize(tokenize(text)) != text");
    }
    return 0;
}
