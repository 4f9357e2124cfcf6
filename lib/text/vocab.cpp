#include "text/vocab.h"

#include <algorithm>
#include <climits>
#include <cstring>

namespace infer::text {
namespace {

// tokenizer.ggml.token_type values (gguf-py's TokenType).
enum TokenType : int64_t {
    kTypeUndefined = 0, kTypeNormal = 1, kTypeUnknown = 2, kTypeControl = 3,
    kTypeUserDefined = 4, kTypeUnused = 5, kTypeByte = 6,
};

uint32_t attr_of_type(int64_t type) {
    switch (type) {
    case kTypeNormal: return kAttrNormal;
    case kTypeUnknown: return kAttrUnknown;
    case kTypeControl: return kAttrControl;
    case kTypeUserDefined: return kAttrUserDefined;
    case kTypeUnused: return kAttrUnused;
    case kTypeByte: return kAttrByte;
    default: return kAttrUndefined;
    }
}

Status bad(const char *key, const char *what) {
    return make_error(INFER_ERR_MODEL_BAD_VOCAB, "metadata '%s' %s", key, what);
}

// Texts llama.cpp treats as end-of-turn / end-of-generation and therefore as control tokens even
// when the converter typed them otherwise. The first list also picks the EOT id when the metadata
// names none.
constexpr const char *kEotTexts[] = {"<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>",
                                     "<|endoftext|>", "<|end_of_text|>", "<EOT>", "_<EOT>",
                                     "[EOT]", "<\xef\xbd\x9c" "end\xe2\x96\x81of\xe2\x96\x81sentence\xef\xbd\x9c>",
                                     "<end_of_utterance>"};
constexpr const char *kEogTexts[] = {"<|eot_id|>", "<|im_end|>", "<|end|>", "<|return|>", "<|call|>",
                                     "<|flush|>", "<|calls|>", "<end_of_turn>", "<|endoftext|>",
                                     "</s>", "<|eom_id|>", "<EOT>", "_<EOT>", "[EOT]", "[EOS]",
                                     "<|end_of_text|>", "<end_of_utterance>", "<eos>", "<turn|>",
                                     "<|tool_response>", "[e~["};

} // namespace

int32_t Vocab::find(std::string_view text) const {
    const auto it = ids_.find(text);
    return it == ids_.end() ? -1 : it->second;
}

int32_t Vocab::merge_rank(std::string_view left, std::string_view right) const {
    std::string key;
    return merge_rank(left, right, &key);
}

int32_t Vocab::merge_rank(std::string_view left, std::string_view right, std::string *scratch) const {
    std::string &key = *scratch;
    key.resize(4 + left.size() + right.size());
    const uint32_t n = static_cast<uint32_t>(left.size());
    std::memcpy(key.data(), &n, 4);
    std::memcpy(key.data() + 4, left.data(), left.size());
    std::memcpy(key.data() + 4 + left.size(), right.data(), right.size());
    const auto it = ranks_.find(std::string_view(key));
    return it == ranks_.end() ? -1 : it->second;
}

int32_t Vocab::byte_token(uint8_t byte) const {
    static const char *hex = "0123456789ABCDEF";
    const char name[6] = {'<', '0', 'x', hex[byte >> 4], hex[byte & 15], '>'};
    int32_t id = find(std::string_view(name, 6));
    if (id < 0) id = find(std::string_view(reinterpret_cast<const char *>(&byte), 1));
    return id < 0 ? unk_ : id;
}

Status Vocab::read_tokens(const gguf::File &file) {
    const char *key = "tokenizer.ggml.tokens";
    const gguf::Value *list = file.find(key);
    if (!list) return bad(key, "is missing");
    if (list->type() != gguf::ValueType::ARRAY || list->elem_type() != gguf::ValueType::STRING)
        return bad(key, "is not an array of strings");
    const uint64_t n = list->array_size();
    if (n == 0 || n > INT32_MAX) return bad(key, "has no tokens or more than 2^31-1");

    const gguf::Value *scores = file.find("tokenizer.ggml.scores");
    if (scores && (scores->type() != gguf::ValueType::ARRAY ||
                   (scores->elem_type() != gguf::ValueType::F32 &&
                    scores->elem_type() != gguf::ValueType::I32) ||
                   scores->array_size() != n))
        return make_error(INFER_ERR_MODEL_BAD_VOCAB,
                          "metadata 'tokenizer.ggml.scores' must be an f32 or i32 array of %llu "
                          "elements, one per token",
                          static_cast<unsigned long long>(n));
    const gguf::Value *types = file.find("tokenizer.ggml.token_type");
    if (types && (types->type() != gguf::ValueType::ARRAY ||
                  types->elem_type() != gguf::ValueType::I32 || types->array_size() != n))
        return make_error(INFER_ERR_MODEL_BAD_VOCAB,
                          "metadata 'tokenizer.ggml.token_type' must be an i32 array of %llu "
                          "elements, one per token",
                          static_cast<unsigned long long>(n));

    tokens_.resize(n);
    ids_.reserve(n);
    for (uint64_t i = 0; i < n; ++i) {
        TokenData &t = tokens_[i];
        std::string_view text;
        if (!list->array_string(i, &text)) return bad(key, "has an unreadable element");
        // llama.cpp names empty tokens this way so that every token has a distinct text.
        t.text = text.empty() ? "[EMPTY_" + std::to_string(i) + "]" : std::string(text);
        double score = 0;
        if (scores && !scores->array_float(i, &score)) return bad("tokenizer.ggml.scores", "unreadable");
        t.score = static_cast<float>(score);
        int64_t type = kTypeNormal;
        if (types && !types->array_int(i, &type)) return bad("tokenizer.ggml.token_type", "unreadable");
        t.attr = attr_of_type(type);
        if (!ids_.emplace(t.text, static_cast<int32_t>(i)).second)
            return make_error(INFER_ERR_MODEL_BAD_VOCAB,
                              "metadata '%s': token '%s' appears twice (ids %d and %llu)", key,
                              excerpt(t.text).c_str(), ids_.find(t.text)->second,
                              static_cast<unsigned long long>(i));
    }
    return Status::ok();
}

Status Vocab::read_merges(const gguf::File &file) {
    const char *key = "tokenizer.ggml.merges";
    const gguf::Value *merges = file.find(key);
    if (!merges) return bad(key, "is missing (a gpt2 tokenizer needs its merges)");
    if (merges->type() != gguf::ValueType::ARRAY || merges->elem_type() != gguf::ValueType::STRING)
        return bad(key, "is not an array of strings");
    if (merges->array_size() > INT32_MAX) return bad(key, "has more than 2^31-1 merges");
    ranks_.reserve(merges->array_size());
    for (uint64_t i = 0; i < merges->array_size(); ++i) {
        std::string_view merge;
        if (!merges->array_string(i, &merge)) return bad(key, "has an unreadable element");
        // "left right", split at the first space after the first byte (a left part may be a
        // space itself); a merge without one pairs "" with "" as in llama.cpp, harmlessly.
        const size_t pos = merge.size() > 1 ? merge.find(' ', 1) : std::string_view::npos;
        std::string_view left, right;
        if (pos != std::string_view::npos) left = merge.substr(0, pos), right = merge.substr(pos + 1);
        std::string k(4, '\0');
        const uint32_t n = static_cast<uint32_t>(left.size());
        std::memcpy(k.data(), &n, 4);
        k.append(left).append(right);
        ranks_.emplace(std::move(k), static_cast<int32_t>(i)); // the first rank of a pair wins
    }
    return Status::ok();
}

Status Vocab::read_special_ids(const gguf::File &file) {
    struct Slot {
        const char *key;
        int32_t *id;
    };
    const Slot slots[] = {{"tokenizer.ggml.bos_token_id", &bos_},
                          {"tokenizer.ggml.eos_token_id", &eos_},
                          {"tokenizer.ggml.eot_token_id", &eot_},
                          {"tokenizer.ggml.unknown_token_id", &unk_},
                          {"tokenizer.ggml.padding_token_id", &pad_}};
    for (const Slot &slot : slots) {
        // llama.cpp's built-in defaults apply only when they name a token of this vocabulary.
        if (*slot.id >= n_tokens()) *slot.id = -1;
        const gguf::Value *value = file.find(slot.key);
        if (!value) continue;
        int64_t id = 0;
        if (!value->get_int(&id)) return bad(slot.key, "is not an integer");
        if (id < 0 || id >= n_tokens())
            return make_error(INFER_ERR_MODEL_BAD_VOCAB,
                              "metadata '%s' = %lld is outside the vocabulary [0, %d)", slot.key,
                              static_cast<long long>(id), n_tokens());
        *slot.id = static_cast<int32_t>(id);
    }
    struct Flag {
        const char *key;
        bool *flag;
    };
    const Flag flags[] = {{"tokenizer.ggml.add_bos_token", &add_bos_},
                          {"tokenizer.ggml.add_eos_token", &add_eos_},
                          {"tokenizer.ggml.add_space_prefix", &add_space_prefix_}};
    for (const Flag &f : flags) {
        const gguf::Value *value = file.find(f.key);
        if (!value) continue;
        int64_t v = 0;
        if (value->type() != gguf::ValueType::BOOL || !value->get_int(&v))
            return bad(f.key, "is not a bool");
        *f.flag = v != 0;
    }
    if (add_bos_ && bos_ < 0)
        return bad("tokenizer.ggml.add_bos_token", "is true but the model has no BOS token");
    if (add_eos_ && eos_ < 0)
        return bad("tokenizer.ggml.add_eos_token", "is true but the model has no EOS token");
    return Status::ok();
}

void Vocab::mark_control_tokens() {
    // The metadata's EOT id, else the lowest id whose text llama.cpp recognizes as end of turn
    // (llama.cpp takes the first in hash order; the lowest agrees on the models we test).
    for (const char *text : kEotTexts) {
        const int32_t id = find(text);
        if (id < 0) continue;
        tokens_[static_cast<size_t>(id)].attr |= kAttrControl;
    }
    if (eot_ < 0)
        for (const char *text : kEotTexts) {
            const int32_t id = find(text);
            if (id >= 0 && (eot_ < 0 || id < eot_)) eot_ = id;
        }
    for (const char *text : kEogTexts) {
        const int32_t id = find(text);
        if (id >= 0) tokens_[static_cast<size_t>(id)].attr |= kAttrControl;
    }
    // gpt-oss's message framing tokens are always rendered (llama.cpp forces them user-defined).
    for (const char *text : {"<|channel|>", "<|message|>", "<|start|>", "<|constrain|>"}) {
        const int32_t id = find(text);
        if (id >= 0) tokens_[static_cast<size_t>(id)].attr = kAttrUserDefined;
    }
}

Status Vocab::build(const gguf::File &file, std::unique_ptr<Vocab> *out) {
    auto vocab = std::unique_ptr<Vocab>(new Vocab());
    Vocab &v = *vocab;
    const char *model_key = "tokenizer.ggml.model";
    const gguf::Value *model = file.find(model_key);
    std::string_view name;
    if (!model) return bad(model_key, "is missing: the file has no tokenizer");
    if (!model->get_string(&name)) return bad(model_key, "is not a string");

    if (name == "llama") {
        v.type_ = VocabType::Spm;
        v.bos_ = 1, v.eos_ = 2, v.unk_ = 0;
        v.add_space_prefix_ = true, v.add_bos_ = true;
    } else if (name == "gpt2") {
        v.type_ = VocabType::Bpe;
        v.bos_ = 11, v.eos_ = 11; // llama.cpp's defaults for gpt2 vocabularies
        std::string_view pre_name = "default"; // llama.cpp's choice when the key is missing
        if (const gguf::Value *pre = file.find("tokenizer.ggml.pre"))
            if (!pre->get_string(&pre_name)) return bad("tokenizer.ggml.pre", "is not a string");
        INFER_TRY(PreTokenizer::create(pre_name, &v.pre_));
        v.ignore_merges_ = v.pre_->traits().ignore_merges;
        v.add_bos_ = v.pre_->traits().add_bos;
    } else {
        return make_error(INFER_ERR_MODEL_BAD_VOCAB,
                          "tokenizer model '%s' (tokenizer.ggml.model) is not supported; "
                          "supported: llama (SentencePiece), gpt2 (byte-level BPE)",
                          excerpt(name).c_str());
    }
    INFER_TRY(v.read_tokens(file));
    if (v.type_ == VocabType::Bpe) INFER_TRY(v.read_merges(file));
    INFER_TRY(v.read_special_ids(file));
    v.mark_control_tokens();

    for (int32_t id = 0; id < v.n_tokens(); ++id)
        if (v.token(id).attr & (kAttrControl | kAttrUserDefined | kAttrUnknown)) v.special_.push_back(id);
    std::stable_sort(v.special_.begin(), v.special_.end(), [&](int32_t a, int32_t b) {
        return v.token(a).text.size() > v.token(b).text.size();
    });
    *out = std::move(vocab);
    return Status::ok();
}

} // namespace infer::text
