// Tokenizer goldens: llama.cpp's ids for every string of tests/data/tokenizer/corpus.json on both
// real models (scripts/make_tokenizer_goldens.py), through the C API, plus detokenization,
// streaming UTF-8 hold-back, special tokens and tokenizing from several threads at once.
#include "gguf/gguf.h"
#include "infer.h"
#include "model/model_files.h"
#include "text/utf8.h"

#include <doctest/doctest.h>

#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace {

struct Golden {
    std::vector<std::string> strings;
    std::map<std::tuple<int, int, int>, std::vector<int32_t>> ids; // (index, add, parse)
    std::map<std::pair<int, int>, std::string> detok;             // (index, special)
};

std::string unhex(const std::string &hex) {
    std::string out;
    if (hex == "-") return out;
    for (size_t i = 0; i + 1 < hex.size(); i += 2)
        out += static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16));
    return out;
}

Golden read_golden(const std::string &model) {
    Golden g;
    std::ifstream in(std::string(INFER_TEST_DATA_DIR) + "/tokenizer/" + model + ".golden");
    REQUIRE(in.good());
    std::string line;
    while (std::getline(in, line)) {
        std::istringstream ls(line);
        std::string kind;
        ls >> kind;
        int index = 0;
        ls >> index;
        if (kind == "S") {
            std::string hex;
            ls >> hex;
            g.strings.resize(static_cast<size_t>(index) + 1);
            g.strings[static_cast<size_t>(index)] = unhex(hex);
        } else if (kind == "T") {
            int add = 0, parse = 0;
            ls >> add >> parse;
            std::vector<int32_t> ids;
            for (int32_t id; ls >> id;) ids.push_back(id);
            g.ids[{index, add, parse}] = ids;
        } else if (kind == "D") {
            int special = 0;
            std::string hex;
            ls >> special >> hex;
            g.detok[{index, special}] = unhex(hex);
        }
    }
    return g;
}

// The GGUF image with its tokenizer.ggml.pre value replaced by `pre`, of any length: the header
// grows or shrinks by the difference and the padding before the data section is redone (tensor
// offsets are relative to that section, so they stay).
std::string with_pre(const std::string &image, std::string_view pre) {
    const auto *base = reinterpret_cast<const uint8_t *>(image.data());
    std::unique_ptr<infer::gguf::File> file;
    REQUIRE(infer::gguf::File::parse({base, image.size()}, nullptr, &file).is_ok());
    std::string_view old;
    REQUIRE(file->find("tokenizer.ggml.pre"));
    REQUIRE(file->find("tokenizer.ggml.pre")->get_string(&old));
    REQUIRE(!file->tensors().empty());
    // The parsed strings point into the image: the value's bytes (after its u64 length), and the
    // last tensor info's name, which its n_dims, dims, type and offset follow to the header's end.
    const size_t value = static_cast<size_t>(reinterpret_cast<const uint8_t *>(old.data()) - base);
    const infer::gguf::TensorInfo &last = file->tensors().back();
    const size_t header_end =
        static_cast<size_t>(reinterpret_cast<const uint8_t *>(last.name.data()) - base) +
        last.name.size() + 4 + 8 * last.n_dims + 4 + 8;
    const uint64_t length = pre.size();
    std::string out = image.substr(0, value - sizeof length);
    out.append(reinterpret_cast<const char *>(&length), sizeof length);
    out += pre;
    out += image.substr(value + old.size(), header_end - value - old.size());
    const size_t align = file->alignment();
    out.resize((out.size() + align - 1) / align * align, '\0');
    out += image.substr(file->data_offset());
    return out;
}

struct ModelHandle {
    infer_model *model = nullptr;
    std::string bytes; // a derived model's image (outlives the model loaded from it)
    explicit ModelHandle(const std::string &file) {
        REQUIRE(infer_model_load_file(infer::test::real_model(file).c_str(), nullptr, &model) ==
                INFER_OK);
    }
    // The model with its tokenizer.ggml.pre replaced by `pre`, loaded from memory: a
    // pre-tokenizer that no fetched model uses, over a real byte-level BPE vocabulary
    // (scripts/make_tokenizer_goldens.py derives the same file).
    ModelHandle(const std::string &file, const std::string &pre) {
        std::ifstream in(infer::test::real_model(file), std::ios::binary);
        bytes = with_pre(std::string(std::istreambuf_iterator<char>(in), {}), pre);
        REQUIRE(infer_model_load_memory(bytes.data(), bytes.size(), nullptr, &model) == INFER_OK);
    }
    ~ModelHandle() { infer_model_free(model); }
};

std::vector<int32_t> tokenize(const infer_model *model, const std::string &text, bool add,
                              bool parse) {
    size_t count = 0;
    infer_status s = infer_tokenize(model, text.data(), text.size(), add, parse, nullptr, 0, &count);
    if (s == INFER_OK) return {};
    REQUIRE(s == INFER_ERR_BUFFER_TOO_SMALL);
    std::vector<int32_t> ids(count);
    REQUIRE(infer_tokenize(model, text.data(), text.size(), add, parse, ids.data(), ids.size(),
                           &count) == INFER_OK);
    REQUIRE(count == ids.size());
    return ids;
}

std::string piece(const infer_model *model, int32_t token, bool skip_special) {
    char buf[8];
    size_t length = 0;
    REQUIRE(infer_token_to_piece(model, token, skip_special, buf, sizeof buf, &length) == INFER_OK);
    if (length < sizeof buf) return std::string(buf, length);
    std::string big(length + 1, '\0');
    REQUIRE(infer_token_to_piece(model, token, skip_special, big.data(), big.size(), &length) ==
            INFER_OK);
    big.resize(length);
    return big;
}

std::string show(const std::vector<int32_t> &ids) {
    std::string s;
    for (int32_t id : ids) s += std::to_string(id) + " ";
    return s;
}

const char *const kModels[] = {"SmolLM2-135M-Instruct.Q4_1", "gemma-3-270m-q4_k_m"};

// Goldens of SmolLM2's vocabulary under another pre-tokenizer: golden name, the new
// tokenizer.ggml.pre (replacing "smollm").
struct DerivedModel {
    const char *golden, *pre;
};
const DerivedModel kDerived[] = {{"SmolLM2-135M-Instruct.Q4_1+gpt-4o", "gpt-4o"},
                                 {"SmolLM2-135M-Instruct.Q4_1+deepseek-v3", "deepseek-v3"}};

void check_tokenizer_golden(const std::string &model_name, const ModelHandle &m) {
    CAPTURE(model_name);
    const Golden g = read_golden(model_name);
    REQUIRE(g.strings.size() >= 200);
    {
        size_t compared = 0, differing = 0, detok_differing = 0, round_trips = 0;
        for (size_t i = 0; i < g.strings.size(); ++i) {
            const int idx = static_cast<int>(i);
            for (int add = 0; add < 2; ++add)
                for (int parse = 0; parse < 2; ++parse) {
                    const std::vector<int32_t> &want = g.ids.at({idx, add, parse});
                    const std::vector<int32_t> got = tokenize(m.model, g.strings[i], add, parse);
                    ++compared;
                    if (got != want) {
                        ++differing;
                        MESSAGE("string " << i << " add=" << add << " parse=" << parse
                                          << "\n  llama.cpp: " << show(want)
                                          << "\n  libinfer:  " << show(got));
                    }
                }
            for (int special = 0; special < 2; ++special) {
                const std::vector<int32_t> &ids = g.ids.at({idx, special, special});
                std::string text;
                for (int32_t id : ids) text += piece(m.model, id, special == 0);
                const std::string &want = g.detok.at({idx, special});
                if (text != want) {
                    ++detok_differing;
                    MESSAGE("detokenized string " << i << " special=" << special << " differs");
                }
                if (special == 0 && want == g.strings[i] && text == g.strings[i]) ++round_trips;
            }
        }
        MESSAGE(model_name << ": " << compared << " tokenizations compared, " << differing
                     << " differ; detokenization differs for " << detok_differing << "; "
                     << round_trips << " strings round-trip exactly");
        CHECK(differing == 0);
        CHECK(detok_differing == 0);
    }
}

} // namespace

TEST_CASE("tokenizer goldens: exact ids and detokenization against llama.cpp") {
    for (const char *name : kModels)
        check_tokenizer_golden(name, ModelHandle(std::string(name) + ".gguf"));
}

TEST_CASE("tokenizer goldens: the gpt-4o (o200k) and deepseek-v3 pre-tokenizers over SmolLM2's "
          "vocabulary") {
    for (const DerivedModel &d : kDerived)
        check_tokenizer_golden(d.golden, ModelHandle("SmolLM2-135M-Instruct.Q4_1.gguf", d.pre));
}

TEST_CASE("tokenizer: special tokens, ids and buffer rules") {
    ModelHandle smol("SmolLM2-135M-Instruct.Q4_1.gguf");
    CHECK(infer_model_n_vocab(smol.model) == 49152);
    CHECK(infer_model_special_token(smol.model, INFER_TOKEN_BOS) == 1);
    CHECK(infer_model_special_token(smol.model, INFER_TOKEN_EOS) == 2);
    CHECK(infer_model_special_token(smol.model, INFER_TOKEN_EOT) == 0); // as llama.cpp picks it
    CHECK(infer_model_special_token(smol.model, INFER_TOKEN_PAD) == 2);
    CHECK(infer_model_special_token(smol.model, 99) == -1);
    const std::string chat = "<|im_start|>user";
    const std::vector<int32_t> parsed = tokenize(smol.model, chat, false, true);
    REQUIRE(!parsed.empty());
    CHECK(parsed[0] == 1); // <|im_start|>
    CHECK(tokenize(smol.model, chat, false, false).size() > parsed.size());
    CHECK(piece(smol.model, 1, false) == "<|im_start|>");
    CHECK(piece(smol.model, 1, true).empty());

    // Too small a buffer: the count is stored, nothing is written.
    int32_t few[2] = {-7, -7};
    size_t count = 0;
    CHECK(infer_tokenize(smol.model, "hello there world", 17, 0, 0, few, 2, &count) ==
          INFER_ERR_BUFFER_TOO_SMALL);
    CHECK(count == 3);
    CHECK(few[0] == -7);
    size_t length = 0;
    char buf[4];
    CHECK(infer_token_to_piece(smol.model, -1, 0, buf, sizeof buf, &length) == INFER_ERR_BAD_TOKEN);
    CHECK(infer_token_to_piece(smol.model, 49152, 0, buf, sizeof buf, &length) == INFER_ERR_BAD_TOKEN);

    ModelHandle gemma("gemma-3-270m-q4_k_m.gguf");
    CHECK(infer_model_special_token(gemma.model, INFER_TOKEN_BOS) == 2);
    CHECK(infer_model_special_token(gemma.model, INFER_TOKEN_EOT) == 106);
    const std::vector<int32_t> with_bos = tokenize(gemma.model, "<end_of_turn>", true, true);
    CHECK(with_bos == std::vector<int32_t>{2, 106});
}

TEST_CASE("tokenizer: streaming detokenization holds back incomplete UTF-8") {
    ModelHandle gemma("gemma-3-270m-q4_k_m.gguf");
    // Rare characters fall back to byte tokens, one byte per token.
    const std::string text = "a\xf0\x9f\xab\xa0 \xe4\xb8\xad\xd0\x96\xf0\x9d\x94\xa2!";
    const std::vector<int32_t> ids = tokenize(gemma.model, text, false, false);
    infer::text::Utf8Stream stream;
    std::string out;
    size_t held_back = 0;
    for (int32_t id : ids) {
        const std::string ready = stream.push(piece(gemma.model, id, true));
        CHECK(infer::text::incomplete_utf8_tail(ready) == 0);
        held_back += stream.pending() > 0;
        out += ready;
    }
    out += stream.flush();
    CHECK(out == text);
    CHECK(held_back > 0); // at least one piece ended inside a character
}

TEST_CASE("tokenizer: four threads on one shared model give identical ids") {
    for (const char *name : kModels) {
        const std::string model_name = name;
        CAPTURE(model_name);
        const Golden g = read_golden(name);
        ModelHandle m(std::string(name) + ".gguf");
        std::vector<std::vector<int32_t>> expected;
        for (const std::string &s : g.strings) expected.push_back(tokenize(m.model, s, true, true));
        std::vector<int> mismatches(4, 0);
        std::vector<std::thread> threads;
        for (int t = 0; t < 4; ++t)
            threads.emplace_back([&, t] {
                for (int round = 0; round < 3; ++round)
                    for (size_t i = 0; i < g.strings.size(); ++i) {
                        const std::string &s = g.strings[(i + static_cast<size_t>(t) * 37) % g.strings.size()];
                        size_t count = 0;
                        std::vector<int32_t> ids(4096);
                        if (infer_tokenize(m.model, s.data(), s.size(), 1, 1, ids.data(), ids.size(),
                                           &count) != INFER_OK) {
                            ++mismatches[static_cast<size_t>(t)];
                            continue;
                        }
                        ids.resize(count);
                        if (ids != expected[(i + static_cast<size_t>(t) * 37) % g.strings.size()])
                            ++mismatches[static_cast<size_t>(t)];
                    }
            });
        for (std::thread &th : threads) th.join();
        for (int t = 0; t < 4; ++t) CHECK(mismatches[static_cast<size_t>(t)] == 0);
    }
}
