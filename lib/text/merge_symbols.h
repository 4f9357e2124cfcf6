// The doubly linked list of symbols that both tokenizers merge pairwise (SentencePiece by score,
// BPE by merge rank): each symbol is a byte span of the text, starting as one UTF-8 character.
#pragma once

#include "text/utf8.h"

#include <algorithm>
#include <cstdint>
#include <string_view>
#include <vector>

namespace infer::text {

struct Symbol {
    int prev;     // -1: first
    int next;     // -1: last
    size_t begin; // into the text
    size_t n;     // bytes; 0: merged into its left neighbour
};

// One symbol per UTF-8 character of text (a truncated final sequence is one symbol).
inline void split_into_characters(std::string_view text, std::vector<Symbol> *out) {
    for (size_t offs = 0; offs < text.size();) {
        const size_t len =
            std::min(utf8_seq_len(static_cast<uint8_t>(text[offs])), text.size() - offs);
        const int index = static_cast<int>(out->size());
        offs += len;
        out->push_back({index - 1, offs == text.size() ? -1 : index + 1, offs - len, len});
    }
}

// Merges symbol `left` with its right neighbour, relinking the list.
inline void merge_with_next(std::vector<Symbol> &symbols, int left) {
    Symbol &l = symbols[left];
    Symbol &r = symbols[l.next];
    l.n += r.n;
    r.n = 0;
    l.next = r.next;
    if (r.next >= 0) symbols[r.next].prev = left;
}

} // namespace infer::text
