// Tiny hand-made vocabularies, small enough to check every merge by hand: SentencePiece-style BPE
// with byte fallback, byte-level BPE with ranked merges, special tokens, and vocab validation.
#include "gguf_image.h"
#include "text/tokenize.h"

#include <doctest/doctest.h>

using namespace infer;
using namespace infer::text;
using infer::gguf::MetaValue;
using infer::gguf::Writer;
using infer::test::build_image;

namespace {

MetaValue strings(const std::vector<std::string> &v) {
    std::vector<MetaValue> e;
    for (const std::string &s : v) e.push_back(MetaValue::str(s));
    return MetaValue::array(gguf::ValueType::STRING, e);
}
MetaValue floats(const std::vector<float> &v) {
    std::vector<MetaValue> e;
    for (float f : v) e.push_back(MetaValue::f32(f));
    return MetaValue::array(gguf::ValueType::F32, e);
}
MetaValue ints(const std::vector<int32_t> &v) {
    std::vector<MetaValue> e;
    for (int32_t i : v) e.push_back(MetaValue::i32(i));
    return MetaValue::array(gguf::ValueType::I32, e);
}

struct Built {
    std::vector<uint8_t> image;
    std::unique_ptr<gguf::File> file;
    std::unique_ptr<Vocab> vocab;
    Status status;
};

Built build(Writer &w) {
    Built b;
    b.image = build_image(w);
    REQUIRE(gguf::File::parse(b.image, nullptr, &b.file).is_ok());
    b.status = Vocab::build(*b.file, &b.vocab);
    return b;
}

const std::string S = "\xe2\x96\x81"; // ▁

Writer spm_writer() {
    Writer w;
    std::vector<std::string> tokens = {"<unk>", "<s>", "</s>", "<0x21>", "<0xC3>", "<0xA9>",
                                       S, "a", "b", S + "a", "ab", S + "ab", "<ctl>"};
    std::vector<float> scores = {0, 0, 0, 0, 0, 0, -1, -2, -3, -4, -5, -6, 0};
    std::vector<int32_t> types = {2, 3, 3, 6, 6, 6, 1, 1, 1, 1, 1, 1, 3};
    w.add("tokenizer.ggml.model", MetaValue::str("llama"));
    w.add("tokenizer.ggml.tokens", strings(tokens));
    w.add("tokenizer.ggml.scores", floats(scores));
    w.add("tokenizer.ggml.token_type", ints(types));
    return w;
}

} // namespace

TEST_CASE("text: SPM merges by score, adds the space prefix and falls back to bytes") {
    Writer w = spm_writer();
    Built b = build(w);
    REQUIRE(b.status.is_ok());
    const Vocab &v = *b.vocab;
    CHECK(v.type() == VocabType::Spm);
    CHECK(v.bos() == 1);
    CHECK(v.add_bos());
    CHECK(v.add_space_prefix());
    // " ab": ▁ a b -> "▁a" (-4) vs "ab" (-5): ▁a first, then "▁ab" (-6).
    CHECK(tokenize(v, "ab", false, false) == std::vector<int32_t>{11});
    CHECK(tokenize(v, "ab", true, false) == std::vector<int32_t>{1, 11});
    // "é" has no token: its bytes; "!" byte token; "c" has neither: unk.
    CHECK(tokenize(v, "a\xc3\xa9!", false, false) == std::vector<int32_t>{9, 4, 5, 3});
    CHECK(tokenize(v, "c", false, false) == std::vector<int32_t>{6, 0});
    // Control text only with parse_special; a space prefix follows it.
    CHECK(tokenize(v, "<ctl>ab", false, true) == std::vector<int32_t>{12, 11});
    CHECK(tokenize(v, "", true, false) == std::vector<int32_t>{1});
    CHECK(tokenize(v, "", false, false).empty());
    CHECK(token_to_piece(v, 11, false) == " ab");
    CHECK(token_to_piece(v, 4, false) == "\xc3");
    CHECK(token_to_piece(v, 12, false).empty());
    CHECK(token_to_piece(v, 12, true) == "<ctl>");
    CHECK(detokenize(v, {9, 4, 5, 3}, false) == " a\xc3\xa9!");
}

TEST_CASE("text: byte-level BPE applies merges by rank within pre-tokenized words") {
    Writer w;
    // Byte-level spellings: "Ġ" is the space.
    const std::string G = "\xc4\xa0";
    std::vector<std::string> tokens = {"<|endoftext|>", "a", "b", "c", G, "ab", "bc", G + "a",
                                       G + "ab", "1", "2", "<|im_start|>"};
    std::vector<int32_t> types = {3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 3};
    w.add("tokenizer.ggml.model", MetaValue::str("gpt2"));
    w.add("tokenizer.ggml.pre", MetaValue::str("smollm"));
    w.add("tokenizer.ggml.tokens", strings(tokens));
    w.add("tokenizer.ggml.token_type", ints(types));
    // "b c" ranks before "a b": "abc" -> a bc. " ab": Ġ a (rank 0) -> Ġa, then Ġa b -> Ġab.
    w.add("tokenizer.ggml.merges", strings({G + " a", "b c", "a b", G + "a b"}));
    w.add("tokenizer.ggml.bos_token_id", MetaValue::u32(0));
    w.add("tokenizer.ggml.eos_token_id", MetaValue::u32(0));
    Built b = build(w);
    REQUIRE(b.status.is_ok());
    const Vocab &v = *b.vocab;
    CHECK(v.type() == VocabType::Bpe);
    CHECK(v.merge_rank("b", "c") == 1);
    CHECK(v.merge_rank("c", "b") == -1);
    CHECK(tokenize(v, "abc", false, false) == std::vector<int32_t>{1, 6});
    CHECK(tokenize(v, "ab ab", false, false) == std::vector<int32_t>{5, 8});
    // smollm splits digits one by one.
    CHECK(tokenize(v, "12", false, false) == std::vector<int32_t>{9, 10});
    CHECK(tokenize(v, "<|im_start|>ab", false, true) == std::vector<int32_t>{11, 5});
    CHECK(token_to_piece(v, 8, false) == " ab");
    CHECK(token_to_piece(v, 11, false).empty());
    CHECK(token_to_piece(v, 11, true) == "<|im_start|>");
    CHECK(v.eot() == 0); // found by its text
}

TEST_CASE("text: vocabulary validation names what is wrong") {
    {
        Writer w = spm_writer();
        w.add("tokenizer.ggml.bos_token_id", MetaValue::u32(99));
        Built b = build(w);
        CHECK(b.status.code() == INFER_ERR_MODEL_BAD_VOCAB);
        CHECK(b.status.message().find("bos_token_id") != std::string::npos);
    }
    {
        Writer w;
        w.add("tokenizer.ggml.model", MetaValue::str("bert"));
        w.add("tokenizer.ggml.tokens", strings({"a"}));
        Built b = build(w);
        CHECK(b.status.code() == INFER_ERR_MODEL_BAD_VOCAB);
        CHECK(b.status.message().find("'bert'") != std::string::npos);
    }
    {
        Writer w;
        w.add("tokenizer.ggml.model", MetaValue::str("gpt2"));
        w.add("tokenizer.ggml.pre", MetaValue::str("mystery"));
        w.add("tokenizer.ggml.tokens", strings({"a"}));
        Built b = build(w);
        CHECK(b.status.code() == INFER_ERR_MODEL_BAD_VOCAB);
        CHECK(b.status.message().find("'mystery'") != std::string::npos);
    }
    {
        Writer w;
        w.add("tokenizer.ggml.model", MetaValue::str("llama"));
        w.add("tokenizer.ggml.tokens", strings({"a", "b", "c"}));
        w.add("tokenizer.ggml.scores", floats({0, 0}));
        Built b = build(w);
        CHECK(b.status.code() == INFER_ERR_MODEL_BAD_VOCAB);
        CHECK(b.status.message().find("scores") != std::string::npos);
    }
    {
        Writer w;
        w.add("tokenizer.ggml.model", MetaValue::str("llama"));
        w.add("tokenizer.ggml.tokens", strings({"a", "b", "a"}));
        Built b = build(w);
        CHECK(b.status.code() == INFER_ERR_MODEL_BAD_VOCAB);
        CHECK(b.status.message().find("twice") != std::string::npos);
    }
}
