// Greedy offset assignment for the static memory planner (see planner.h for the contract).
//
// Every heuristic is "pick an order, then place each buffer against the buffers already placed
// whose lifetimes overlap it"; the heuristics differ only in the order and in which free gap is
// taken. Placed buffers are kept sorted by offset, so finding a gap is one pass over them without
// a sort per buffer: O(n) per buffer, O(n^2) per heuristic in the worst case, with an early exit
// for lowest-offset placement.
//
// Arithmetic bound used throughout: every placed offset is 0 or the end of a buffer placed before
// it, so by induction each end is at most the sum of the aligned sizes placed so far. That sum is
// checked for overflow up front, so offsets and ends below cannot overflow.
#include "graph/planner.h"

#include "core/checked_math.h"
#include "graph/plan_verify.h"

#include <algorithm>
#include <bit>
#include <cinttypes>
#include <limits>

namespace infer {

const char *plan_heuristic_name(PlanHeuristic heuristic) {
    switch (heuristic) {
    case PlanHeuristic::greedy_by_size:
        return "greedy_by_size";
    case PlanHeuristic::greedy_by_size_best_fit:
        return "greedy_by_size_best_fit";
    case PlanHeuristic::greedy_by_breadth:
        return "greedy_by_breadth";
    }
    return "unknown";
}

namespace {

// What every heuristic needs, computed once per plan_memory call.
struct Prepared {
    std::vector<uint64_t> size;     // aligned size per request
    std::vector<uint32_t> placed;   // indices of the requests with size > 0
    std::vector<uint32_t> point_lo; // per request: first compact step of its lifetime
    std::vector<uint32_t> point_hi; // per request: last compact step of its lifetime
    std::vector<uint64_t> breadth;  // live aligned bytes per compact step
    uint64_t lower_bound = 0;
};

Status validate_and_align(std::span<const BufferRequest> buffers, uint64_t alignment,
                          Prepared *prep) {
    if (!std::has_single_bit(alignment))
        return make_error(INFER_ERR_INVALID_ARGUMENT,
                          "plan alignment %" PRIu64 " is not a power of two", alignment);
    if (buffers.size() > std::numeric_limits<uint32_t>::max())
        return make_error(INFER_ERR_INVALID_ARGUMENT, "too many buffers to plan: %zu",
                          buffers.size());
    prep->size.resize(buffers.size());
    uint64_t total = 0;
    for (size_t i = 0; i < buffers.size(); ++i) {
        const BufferRequest &b = buffers[i];
        if (b.first_use > b.last_use)
            return make_error(INFER_ERR_INVALID_ARGUMENT,
                              "buffer %zu (%s) is used first at step %" PRIu32
                              " after its last use at step %" PRIu32,
                              i, b.tag.c_str(), b.first_use, b.last_use);
        if (!checked_align_up(b.size, alignment, &prep->size[i]) ||
            !checked_add(total, prep->size[i], &total))
            return make_error(INFER_ERR_INVALID_ARGUMENT,
                              "buffer %zu (%s): size %" PRIu64
                              " overflows the arena when aligned to %" PRIu64 " and summed",
                              i, b.tag.c_str(), b.size, alignment);
        if (prep->size[i] > 0) prep->placed.push_back(static_cast<uint32_t>(i));
    }
    return Status::ok();
}

// Maps lifetimes onto compact step indices and computes the live bytes per step with a
// difference array. Steps are op indices, so they are normally dense (O(n + steps) directly);
// when they are sparse (far more steps than buffers) only first-use steps are kept, which is
// exact: live bytes rise only where some buffer starts, so every peak sits on a first use.
void compute_live_profile(std::span<const BufferRequest> buffers, Prepared *prep) {
    prep->point_lo.assign(buffers.size(), 0);
    prep->point_hi.assign(buffers.size(), 0);
    if (prep->placed.empty()) return;

    uint32_t min_first = std::numeric_limits<uint32_t>::max();
    uint32_t max_last = 0;
    for (uint32_t i : prep->placed) {
        min_first = std::min(min_first, buffers[i].first_use);
        max_last = std::max(max_last, buffers[i].last_use);
    }
    const uint64_t step_range = uint64_t{max_last} - min_first + 1;
    const bool dense = step_range <= 4 * uint64_t{prep->placed.size()} + 1024;

    size_t n_points = 0;
    if (dense) {
        n_points = static_cast<size_t>(step_range);
        for (uint32_t i : prep->placed) {
            prep->point_lo[i] = buffers[i].first_use - min_first;
            prep->point_hi[i] = buffers[i].last_use - min_first;
        }
    } else {
        std::vector<uint32_t> starts;
        starts.reserve(prep->placed.size());
        for (uint32_t i : prep->placed)
            starts.push_back(buffers[i].first_use);
        std::sort(starts.begin(), starts.end());
        starts.erase(std::unique(starts.begin(), starts.end()), starts.end());
        n_points = starts.size();
        for (uint32_t i : prep->placed) {
            auto lo = std::lower_bound(starts.begin(), starts.end(), buffers[i].first_use);
            auto hi = std::upper_bound(lo, starts.end(), buffers[i].last_use);
            prep->point_lo[i] = static_cast<uint32_t>(lo - starts.begin());
            prep->point_hi[i] = static_cast<uint32_t>(hi - starts.begin()) - 1;
        }
    }

    // Unsigned wrap-around is intended: the partial sums are true live byte counts, which are at
    // most the (overflow-checked) total, even where a single entry reads as "negative".
    std::vector<uint64_t> diff(n_points + 1, 0);
    for (uint32_t i : prep->placed) {
        diff[prep->point_lo[i]] += prep->size[i];
        diff[prep->point_hi[i] + 1] -= prep->size[i];
    }
    prep->breadth.resize(n_points);
    uint64_t live = 0;
    for (size_t p = 0; p < n_points; ++p) {
        live += diff[p];
        prep->breadth[p] = live;
        prep->lower_bound = std::max(prep->lower_bound, live);
    }
}

// ---- Orders -------------------------------------------------------------------------------

// Largest first; among equals the longer-lived first (it constrains more buffers), then by
// first use and index so that the plan is deterministic.
std::vector<uint32_t> order_by_size(std::span<const BufferRequest> buffers, const Prepared &prep) {
    std::vector<uint32_t> order = prep.placed;
    std::sort(order.begin(), order.end(), [&](uint32_t a, uint32_t b) {
        if (prep.size[a] != prep.size[b]) return prep.size[a] > prep.size[b];
        const uint32_t len_a = buffers[a].last_use - buffers[a].first_use;
        const uint32_t len_b = buffers[b].last_use - buffers[b].first_use;
        if (len_a != len_b) return len_a > len_b;
        if (buffers[a].first_use != buffers[b].first_use)
            return buffers[a].first_use < buffers[b].first_use;
        return a < b;
    });
    return order;
}

// For each buffer, the most crowded compact step inside its lifetime (ties: the earliest), by a
// sparse table of argmax: O(P log P) to build, O(1) per query.
std::vector<uint32_t> peak_step_per_buffer(const Prepared &prep) {
    const std::vector<uint64_t> &breadth = prep.breadth;
    const size_t n_points = breadth.size();
    auto better = [&](uint32_t a, uint32_t b) {
        return breadth[a] > breadth[b] || (breadth[a] == breadth[b] && a < b) ? a : b;
    };
    std::vector<std::vector<uint32_t>> table(1, std::vector<uint32_t>(n_points));
    for (size_t p = 0; p < n_points; ++p)
        table[0][p] = static_cast<uint32_t>(p);
    for (size_t width = 2; width <= n_points; width *= 2) {
        const std::vector<uint32_t> &prev = table.back();
        std::vector<uint32_t> level(n_points - width + 1);
        for (size_t p = 0; p + width <= n_points; ++p)
            level[p] = better(prev[p], prev[p + width / 2]);
        table.push_back(std::move(level));
    }
    std::vector<uint32_t> peak(prep.size.size(), 0);
    for (uint32_t i : prep.placed) {
        const uint32_t lo = prep.point_lo[i];
        const uint32_t hi = prep.point_hi[i];
        const unsigned k = std::bit_width(uint32_t{hi - lo + 1}) - 1;
        peak[i] = better(table[k][lo], table[k][hi + 1 - (1u << k)]);
    }
    return peak;
}

// Steps in decreasing live bytes, and within a step its buffers largest first: the buffers of
// the step that sets the lower bound are packed before anything can fragment them.
std::vector<uint32_t> order_by_breadth(std::span<const BufferRequest> buffers,
                                       const Prepared &prep) {
    const std::vector<uint32_t> peak = peak_step_per_buffer(prep);
    std::vector<uint32_t> order = prep.placed;
    std::sort(order.begin(), order.end(), [&](uint32_t a, uint32_t b) {
        const uint64_t breadth_a = prep.breadth[peak[a]];
        const uint64_t breadth_b = prep.breadth[peak[b]];
        if (breadth_a != breadth_b) return breadth_a > breadth_b;
        if (peak[a] != peak[b]) return peak[a] < peak[b];
        if (prep.size[a] != prep.size[b]) return prep.size[a] > prep.size[b];
        if (buffers[a].first_use != buffers[b].first_use)
            return buffers[a].first_use < buffers[b].first_use;
        return a < b;
    });
    return order;
}

// ---- Placement ----------------------------------------------------------------------------

enum class Fit { lowest, best };

// Places buffers in `order`; returns the arena size and fills offsets (zero-size ones stay 0).
uint64_t place(std::span<const BufferRequest> buffers, const Prepared &prep,
               std::span<const uint32_t> order, Fit fit, std::vector<uint64_t> *offsets) {
    // Placed buffers by ascending offset, copied compactly: the scan below touches every one.
    struct Placed {
        uint64_t offset, end;
        uint32_t first, last;
    };
    std::vector<Placed> by_offset;
    by_offset.reserve(order.size());
    offsets->assign(buffers.size(), 0);
    uint64_t arena = 0;
    for (uint32_t b : order) {
        const uint64_t size = prep.size[b];
        const uint32_t first = buffers[b].first_use;
        const uint32_t last = buffers[b].last_use;
        // `top` is the highest end among the conflicting buffers seen so far in offset order;
        // the gap [top, next conflicting offset) is free for b.
        uint64_t top = 0;
        uint64_t best_offset = 0;
        uint64_t best_gap = std::numeric_limits<uint64_t>::max();
        bool found = false;
        for (const Placed &c : by_offset) {
            if (c.first > last || first > c.last) continue; // not live at the same time
            if (c.offset >= top + size) {
                const uint64_t gap = c.offset - top;
                if (fit == Fit::lowest) {
                    best_offset = top;
                    found = true;
                    break;
                }
                if (gap < best_gap) {
                    best_gap = gap;
                    best_offset = top;
                    found = true;
                }
            }
            top = std::max(top, c.end);
        }
        if (!found) best_offset = top;
        (*offsets)[b] = best_offset;
        auto at = std::upper_bound(by_offset.begin(), by_offset.end(), best_offset,
                                   [](uint64_t off, const Placed &c) { return off < c.offset; });
        by_offset.insert(at, Placed{best_offset, best_offset + size, first, last});
        arena = std::max(arena, best_offset + size);
    }
    return arena;
}

void run_heuristic(std::span<const BufferRequest> buffers, const Prepared &prep,
                   PlanHeuristic heuristic, std::vector<uint64_t> *offsets, uint64_t *arena) {
    switch (heuristic) {
    case PlanHeuristic::greedy_by_size:
        *arena = place(buffers, prep, order_by_size(buffers, prep), Fit::lowest, offsets);
        return;
    case PlanHeuristic::greedy_by_size_best_fit:
        *arena = place(buffers, prep, order_by_size(buffers, prep), Fit::best, offsets);
        return;
    case PlanHeuristic::greedy_by_breadth:
        *arena = place(buffers, prep, order_by_breadth(buffers, prep), Fit::lowest, offsets);
        return;
    }
}

Status plan_with(std::span<const BufferRequest> buffers, uint64_t alignment,
                 std::span<const PlanHeuristic> heuristics, Plan *out) {
    if (out == nullptr) return make_error(INFER_ERR_INVALID_ARGUMENT, "plan output is null");
    Prepared prep;
    INFER_TRY(validate_and_align(buffers, alignment, &prep));
    compute_live_profile(buffers, &prep);

    // UINT64_MAX is a valid arena size (one maximal buffer), so "no plan yet" is its own flag.
    Plan best;
    bool have_best = false;
    std::vector<uint64_t> offsets;
    for (PlanHeuristic heuristic : heuristics) {
        uint64_t arena = 0;
        run_heuristic(buffers, prep, heuristic, &offsets, &arena);
        if (!have_best || arena < best.arena_size) {
            have_best = true;
            best.arena_size = arena;
            best.heuristic = heuristic;
            best.offsets.swap(offsets);
        }
        if (best.arena_size == prep.lower_bound) break; // optimal; the rest cannot beat it
    }
    best.lower_bound = prep.lower_bound;
    best.alignment = alignment;

    // Cheap at the sizes we plan (a few thousand buffers), and it is the only thing that turns a
    // planner bug into an error at context creation rather than silently corrupted activations.
    const Status verified = verify_plan(buffers, best);
    if (!verified.is_ok())
        return make_error(INFER_ERR_INTERNAL, "memory plan (%s) failed verification: %s",
                          plan_heuristic_name(best.heuristic), verified.message().c_str());
    *out = std::move(best);
    return Status::ok();
}

} // namespace

Status plan_memory(std::span<const BufferRequest> buffers, uint64_t alignment, Plan *out) {
    return plan_with(buffers, alignment, kAllPlanHeuristics, out);
}

Status plan_memory_with(std::span<const BufferRequest> buffers, uint64_t alignment,
                        PlanHeuristic heuristic, Plan *out) {
    return plan_with(buffers, alignment, std::span<const PlanHeuristic>(&heuristic, 1), out);
}

} // namespace infer
