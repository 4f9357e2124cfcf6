#include "sample/penalty_window.h"

#include <algorithm>

namespace infer {

PenaltyWindow::PenaltyWindow(int32_t n_vocab, int32_t window)
    : ring_(static_cast<size_t>(std::max(window, 0))), counts_(static_cast<size_t>(n_vocab), 0) {}

void PenaltyWindow::push(int32_t token) {
    if (ring_.empty()) return;
    const auto capacity = static_cast<int32_t>(ring_.size());
    int32_t &slot = ring_[static_cast<size_t>(head_)];
    if (size_ == capacity) {
        --counts_[static_cast<size_t>(slot)]; // the oldest token leaves the window
    } else {
        ++size_;
    }
    slot = token;
    ++counts_[static_cast<size_t>(token)];
    head_ = (head_ + 1) % capacity;
}

void PenaltyWindow::clear() {
    // Only the tokens in the window have nonzero counts: undo them instead of clearing n_vocab.
    for (int32_t i = 0; i < size_; ++i)
        counts_[static_cast<size_t>(ring_[static_cast<size_t>(i)])] = 0;
    head_ = 0;
    size_ = 0;
}

} // namespace infer
