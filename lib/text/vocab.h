// A model's vocabulary, built once at load from the tokenizer.ggml.* metadata and immutable after:
// token texts, scores and attributes, BPE merge ranks, special ids and the tokenizer flags. It
// holds no mutable state, so any number of threads may tokenize with one Vocab at once.
#pragma once

#include "core/status.h"
#include "gguf/gguf.h"
#include "text/pretokenize.h"

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace infer::text {

enum class VocabType { Spm, Bpe }; // tokenizer.ggml.model "llama" and "gpt2"

// Token attributes as llama.cpp derives them from tokenizer.ggml.token_type (bit flags).
enum TokenAttr : uint32_t {
    kAttrUndefined = 0,
    kAttrUnknown = 1u << 0,
    kAttrUnused = 1u << 1,
    kAttrNormal = 1u << 2,
    kAttrControl = 1u << 3,
    kAttrUserDefined = 1u << 4,
    kAttrByte = 1u << 5,
};

struct TokenData {
    std::string text;
    float score = 0;
    uint32_t attr = kAttrNormal;
};

class Vocab {
public:
    // INFER_ERR_MODEL_BAD_VOCAB (naming the key) for missing, mistyped or inconsistent metadata
    // and for an unknown tokenizer model or pre-tokenizer.
    static Status build(const gguf::File &file, std::unique_ptr<Vocab> *out);

    VocabType type() const { return type_; }
    int32_t n_tokens() const { return static_cast<int32_t>(tokens_.size()); }
    const TokenData &token(int32_t id) const { return tokens_[static_cast<size_t>(id)]; }
    // The id of the token spelled exactly `text`, or -1.
    int32_t find(std::string_view text) const;
    // BPE merge rank of the pair (lower merges first), or -1 when the pair never merges.
    int32_t merge_rank(std::string_view left, std::string_view right) const;
    // The same, building the lookup key in `scratch`: reused across calls, it spares an
    // allocation per lookup on long words.
    int32_t merge_rank(std::string_view left, std::string_view right, std::string *scratch) const;
    // SPM byte-fallback token "<0xXX>" (or the byte itself as a token), or unk when neither exists.
    int32_t byte_token(uint8_t byte) const;

    // -1 when the model has none.
    int32_t bos() const { return bos_; }
    int32_t eos() const { return eos_; }
    int32_t eot() const { return eot_; }
    int32_t unk() const { return unk_; }
    int32_t pad() const { return pad_; }
    bool add_bos() const { return add_bos_; }
    bool add_eos() const { return add_eos_; }
    bool add_space_prefix() const { return add_space_prefix_; }
    bool ignore_merges() const { return ignore_merges_; }
    const PreTokenizer *pre_tokenizer() const { return pre_.get(); } // BPE only

    // Control, user-defined and unknown tokens, longest text first: the order in which special
    // text is cut out of the input before tokenizing.
    const std::vector<int32_t> &special_tokens() const { return special_; }

private:
    struct Hash {
        using is_transparent = void;
        size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
    };
    Status read_tokens(const gguf::File &file);
    Status read_merges(const gguf::File &file);
    Status read_special_ids(const gguf::File &file);
    void mark_control_tokens();

    VocabType type_ = VocabType::Spm;
    std::vector<TokenData> tokens_;
    std::unordered_map<std::string, int32_t, Hash, std::equal_to<>> ids_;
    // Merge pairs keyed by (4-byte length of left) + left + right, which no two pairs share.
    std::unordered_map<std::string, int32_t, Hash, std::equal_to<>> ranks_;
    std::unique_ptr<PreTokenizer> pre_;
    std::vector<int32_t> special_;
    int32_t bos_ = -1, eos_ = -1, eot_ = -1, unk_ = -1, pad_ = -1;
    bool add_bos_ = false, add_eos_ = false, add_space_prefix_ = false, ignore_merges_ = false;
};

} // namespace infer::text
