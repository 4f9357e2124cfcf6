// Special-token partition (llama.cpp's tokenizer_st_partition): every special token, longest
// first, splits each remaining raw fragment at all its non-overlapping leftmost occurrences.
#include "text/tokenize.h"

namespace infer::text {

std::vector<Fragment> partition_special(const Vocab &vocab, std::string_view text,
                                        bool parse_special) {
    std::vector<Fragment> fragments;
    if (text.empty()) return fragments;
    fragments.push_back({-1, 0, text.size()});
    std::vector<Fragment> next;
    for (int32_t id : vocab.special_tokens()) {
        const TokenData &data = vocab.token(id);
        if (!parse_special && (data.attr & (kAttrControl | kAttrUnknown))) continue;
        const std::string_view needle = data.text;
        bool found_any = false;
        next.clear();
        for (const Fragment &f : fragments) {
            if (f.token >= 0) {
                next.push_back(f);
                continue;
            }
            size_t pos = f.begin;
            while (pos < f.end) {
                const size_t match = text.substr(0, f.end).find(needle, pos);
                if (match == std::string_view::npos) break;
                found_any = true;
                if (match > pos) next.push_back({-1, pos, match});
                next.push_back({id, 0, 0});
                pos = match + needle.size();
            }
            if (pos < f.end) next.push_back({-1, pos, f.end});
        }
        if (found_any) fragments.swap(next);
    }
    return fragments;
}

} // namespace infer::text
