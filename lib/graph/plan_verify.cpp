#include "graph/plan_verify.h"

#include "core/checked_math.h"

#include <algorithm>
#include <bit>
#include <cinttypes>
#include <string>
#include <vector>

namespace infer {

namespace {

std::string label(std::span<const BufferRequest> buffers, size_t i) {
    std::string text = "buffer " + std::to_string(i);
    if (!buffers[i].tag.empty()) text += " (" + buffers[i].tag + ")";
    return text;
}

} // namespace

Status verify_plan(std::span<const BufferRequest> buffers, const Plan &plan) {
    const uint64_t alignment = plan.alignment;
    if (!std::has_single_bit(alignment))
        return make_error(INFER_ERR_INVALID_ARGUMENT,
                          "plan alignment %" PRIu64 " is not a power of two", alignment);
    if (plan.offsets.size() != buffers.size())
        return make_error(INFER_ERR_INVALID_ARGUMENT, "plan has %zu offsets for %zu buffers",
                          plan.offsets.size(), buffers.size());

    std::vector<uint64_t> size(buffers.size());
    for (size_t i = 0; i < buffers.size(); ++i) {
        const BufferRequest &b = buffers[i];
        const uint64_t offset = plan.offsets[i];
        uint64_t end = 0;
        if (b.first_use > b.last_use)
            return make_error(INFER_ERR_INVALID_ARGUMENT, "%s: first use after last use",
                              label(buffers, i).c_str());
        if (!checked_align_up(b.size, alignment, &size[i]) || !checked_add(offset, size[i], &end))
            return make_error(INFER_ERR_INVALID_ARGUMENT, "%s: offset + size overflows",
                              label(buffers, i).c_str());
        if (size[i] == 0 && offset != 0)
            return make_error(INFER_ERR_INVALID_ARGUMENT,
                              "%s: zero-size buffer at offset %" PRIu64 " instead of 0",
                              label(buffers, i).c_str(), offset);
        if (offset % alignment != 0)
            return make_error(INFER_ERR_INVALID_ARGUMENT,
                              "%s: offset %" PRIu64 " is not a multiple of %" PRIu64,
                              label(buffers, i).c_str(), offset, alignment);
        if (end > plan.arena_size)
            return make_error(INFER_ERR_INVALID_ARGUMENT,
                              "%s: ends at %" PRIu64 ", past the arena of %" PRIu64 " bytes",
                              label(buffers, i).c_str(), end, plan.arena_size);
    }

    // Every pair alive at the same time must sit in disjoint byte ranges. Alongside, the live
    // bytes at each buffer's first use (the peak over all steps is reached at some first use):
    // of two overlapping buffers, the one born no later is live where the other is born.
    // Compact copies sorted by birth keep the loop in cache and let it stop at the first buffer
    // born after `a` dies; still O(n^2) when everything overlaps. Zero-size buffers conflict
    // with nothing.
    struct Span {
        uint32_t first, last;
        uint64_t offset, size;
        size_t index;
    };
    std::vector<Span> spans;
    for (size_t i = 0; i < buffers.size(); ++i)
        if (size[i] > 0)
            spans.push_back(
                {buffers[i].first_use, buffers[i].last_use, plan.offsets[i], size[i], i});
    std::sort(spans.begin(), spans.end(),
              [](const Span &a, const Span &b) { return a.first < b.first; });
    std::vector<uint64_t> live_at_first_use(spans.size());
    for (size_t i = 0; i < spans.size(); ++i)
        live_at_first_use[i] = spans[i].size;
    for (size_t i = 0; i < spans.size(); ++i) {
        const Span &a = spans[i];
        for (size_t j = i + 1; j < spans.size(); ++j) {
            const Span &b = spans[j];
            if (b.first > a.last) break; // and so are all later ones
            // Here a.first <= b.first <= a.last: both are live at b's birth.
            if (a.offset < b.offset + b.size && b.offset < a.offset + a.size)
                return make_error(INFER_ERR_INVALID_ARGUMENT,
                                  "%s [%" PRIu64 ", +%" PRIu64 ") and %s [%" PRIu64 ", +%" PRIu64
                                  ") overlap in bytes while both are live",
                                  label(buffers, a.index).c_str(), a.offset, a.size,
                                  label(buffers, b.index).c_str(), b.offset, b.size);
            // Disjoint buffers live together fit in the arena, so these sums cannot overflow
            // once the check above has passed for every pair; checked anyway, as it has not yet.
            if ((b.first == a.first &&
                 !checked_add(live_at_first_use[i], b.size, &live_at_first_use[i])) ||
                !checked_add(live_at_first_use[j], a.size, &live_at_first_use[j]))
                return make_error(INFER_ERR_INVALID_ARGUMENT,
                                  "live bytes overflow around step %" PRIu32 ": buffers overlap",
                                  std::max(a.first, b.first));
        }
    }
    uint64_t peak = 0;
    for (uint64_t live : live_at_first_use)
        peak = std::max(peak, live);
    if (peak != plan.lower_bound)
        return make_error(INFER_ERR_INVALID_ARGUMENT,
                          "plan lower bound %" PRIu64 " differs from the live-bytes peak %" PRIu64,
                          plan.lower_bound, peak);
    if (plan.arena_size < plan.lower_bound)
        return make_error(INFER_ERR_INVALID_ARGUMENT,
                          "arena of %" PRIu64 " bytes is below the lower bound of %" PRIu64,
                          plan.arena_size, plan.lower_bound);
    if (plan.arena_size % alignment != 0)
        return make_error(INFER_ERR_INVALID_ARGUMENT,
                          "arena of %" PRIu64 " bytes is not a multiple of %" PRIu64,
                          plan.arena_size, alignment);
    return Status::ok();
}

} // namespace infer
