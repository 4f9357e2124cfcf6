// The doubly linked list of symbols that both tokenizers merge pairwise (SentencePiece by score,
// BPE by merge rank): each symbol is a byte span of the text, starting as one UTF-8 character;
// and the queue of adjacent pairs that decides which merges next. Scratch is 16 bytes of Symbol
// and 12 of queue per character, reused from word to word.
#pragma once

#include "text/utf8.h"

#include <algorithm>
#include <cstdint>
#include <new>
#include <string_view>
#include <vector>

namespace infer::text {

struct Symbol {
    int32_t prev;   // -1: first
    int32_t next;   // -1: last
    uint32_t begin; // into the text
    uint32_t n;     // bytes; 0: merged into its left neighbour
};

// One symbol per UTF-8 character of text (a truncated final sequence is one symbol).
inline void split_into_characters(std::string_view text, std::vector<Symbol> *out) {
    // 32-bit offsets and indices: a piece this large could not get the scratch memory anyway.
    if (text.size() >= INT32_MAX) throw std::bad_alloc();
    out->clear();
    // At most one symbol per byte; pages reserved but never written cost no memory, while
    // doubling a vector of 10 million symbols would copy it and hold both copies.
    out->reserve(text.size());
    for (size_t offs = 0; offs < text.size();) {
        const size_t len =
            std::min(utf8_seq_len(static_cast<uint8_t>(text[offs])), text.size() - offs);
        const auto index = static_cast<int32_t>(out->size());
        offs += len;
        out->push_back({index - 1, offs == text.size() ? -1 : index + 1,
                        static_cast<uint32_t>(offs - len), static_cast<uint32_t>(len)});
    }
}

// Merges symbol `left` with its right neighbour, relinking the list.
inline void merge_with_next(std::vector<Symbol> &symbols, int32_t left) {
    Symbol &l = symbols[left];
    Symbol &r = symbols[l.next];
    l.n += r.n;
    r.n = 0;
    l.next = r.next;
    if (r.next >= 0) symbols[r.next].prev = left;
}

// The pairs (symbol, its next) that can merge, as a 4-ary heap (half the levels of a binary one,
// and the four children share a cache line) with the pair to merge first on top. A pair's 64-bit key is its priority (smaller first) over its left symbol's index, so ties
// go to the leftmost pair, as in llama.cpp's queues, and a comparison never leaves the heap
// array (keys kept beside the heap, not in it, made each level of a sift a cache miss).
// Unlike llama.cpp's queue, which keeps stale pairs and skips them when popped, each symbol has
// at most one slot, found through pos_, and a merge re-keys or drops the pairs it changes: memory
// stays 12 bytes per symbol, and the order of merges is the same, since the pairs present are
// exactly llama.cpp's non-stale ones.
class PairQueue {
public:
    void reset(size_t n_symbols) {
        heap_.clear();
        heap_.reserve(n_symbols);
        pos_.assign(n_symbols, -1);
    }
    // Adds without ordering, for the initial pairs; heapify() orders them all in O(n).
    void add_unordered(int32_t left, uint32_t priority) {
        pos_[left] = static_cast<int32_t>(heap_.size());
        heap_.push_back(key(left, priority));
    }
    void heapify() {
        for (size_t i = heap_.size() / kArity + 1; i-- > 0;)
            if (i < heap_.size()) sift_down(i, heap_[i]);
    }
    bool empty() const { return heap_.empty(); }
    int32_t top() const { return static_cast<int32_t>(heap_[0] & 0xFFFFFFFFu); }

    // The pair at `left` now has `priority`, or cannot merge at all (remove).
    void update(int32_t left, uint32_t priority) {
        const uint64_t k = key(left, priority);
        const int32_t i = pos_[left];
        if (i < 0) {
            heap_.push_back(k);
            sift_up(heap_.size() - 1, k);
        } else if (k < heap_[static_cast<size_t>(i)]) {
            sift_up(static_cast<size_t>(i), k);
        } else {
            sift_down(static_cast<size_t>(i), k);
        }
    }
    void remove(int32_t left) {
        const int32_t i = pos_[left];
        if (i < 0) return;
        pos_[left] = -1;
        const uint64_t last = heap_.back();
        heap_.pop_back();
        if (static_cast<size_t>(i) == heap_.size()) return;
        if (last < heap_[static_cast<size_t>(i)]) sift_up(static_cast<size_t>(i), last);
        else sift_down(static_cast<size_t>(i), last);
    }

private:
    static constexpr size_t kArity = 4;

    static uint64_t key(int32_t left, uint32_t priority) {
        return (uint64_t{priority} << 32) | static_cast<uint32_t>(left);
    }
    void place(size_t i, uint64_t k) {
        heap_[i] = k;
        pos_[k & 0xFFFFFFFFu] = static_cast<int32_t>(i);
    }
    // Moves key k, to be stored at slot i, up or down to where it belongs.
    void sift_up(size_t i, uint64_t k) {
        while (i > 0) {
            const size_t parent = (i - 1) / kArity;
            if (heap_[parent] <= k) break;
            place(i, heap_[parent]);
            i = parent;
        }
        place(i, k);
    }
    void sift_down(size_t i, uint64_t k) {
        const size_t n = heap_.size();
        for (;;) {
            const size_t first = kArity * i + 1;
            if (first >= n) break;
            size_t child = first;
            for (size_t c = first + 1; c < std::min(first + kArity, n); ++c)
                if (heap_[c] < heap_[child]) child = c;
            if (k <= heap_[child]) break;
            place(i, heap_[child]);
            i = child;
        }
        place(i, k);
    }

    std::vector<uint64_t> heap_; // priority << 32 | left symbol
    std::vector<int32_t> pos_;   // per symbol: its slot in heap_, or -1
};

// Merges until no pair can: each time the queue's first pair, after which the two pairs the merge
// changed, (left, its new next) and (its previous, left), are re-keyed by rekey(their left).
template <class Rekey>
void merge_queued_pairs(std::vector<Symbol> &symbols, PairQueue &queue, Rekey &&rekey) {
    while (!queue.empty()) {
        const int32_t left = queue.top();
        queue.remove(symbols[left].next); // (right, its next) is gone with right
        merge_with_next(symbols, left);
        rekey(left);
        if (symbols[left].prev >= 0) rekey(symbols[left].prev);
    }
}

} // namespace infer::text
