// Static memory planner: a pure function from activation sizes and lifetimes to offsets in one
// arena, so that a context allocates its arena once and decoding allocates nothing.
//
// Steps are op indices in topological order. A buffer is live on [first_use, last_use], both
// inclusive; two buffers whose intervals intersect never share a byte. Every offset and every
// size is rounded up to the backend's alignment (64 B CPU, 256 B CUDA, the device's
// minStorageBufferOffsetAlignment on Vulkan).
//
// The lower bound is the peak over steps of the live (aligned) bytes: no placement can beat it.
// Several greedy heuristics run and the smallest arena wins; the winner is checked by
// verify_plan (plan_verify.h) in every build type, and a failed check is INFER_ERR_INTERNAL.
#pragma once

#include "core/status.h"

#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace infer {

struct BufferRequest {
    uint64_t size = 0;      // bytes before alignment; 0 = takes no space, gets offset 0
    uint32_t first_use = 0; // step that writes it
    uint32_t last_use = 0;  // last step that reads it (inclusive), >= first_use
    std::string tag;        // optional name, only for format_plan and error messages
};

enum class PlanHeuristic : uint8_t {
    // Largest first; each at the lowest offset clear of every placed buffer it overlaps in time.
    greedy_by_size,
    // Largest first; each in the smallest gap that holds it (top of the conflicts if none does).
    greedy_by_size_best_fit,
    // Buffers alive at the most crowded step first (then largest first), lowest offset.
    // Packs the peak step tightly first, which helps where one step alone sets the bound.
    greedy_by_breadth,
};
inline constexpr PlanHeuristic kAllPlanHeuristics[] = {
    PlanHeuristic::greedy_by_size,
    PlanHeuristic::greedy_by_size_best_fit,
    PlanHeuristic::greedy_by_breadth,
};
const char *plan_heuristic_name(PlanHeuristic heuristic);

struct Plan {
    std::vector<uint64_t> offsets; // one per request, in request order, multiples of alignment
    uint64_t arena_size = 0;       // bytes; a multiple of alignment
    uint64_t lower_bound = 0;      // peak live aligned bytes over all steps; arena_size >= this
    uint64_t alignment = 1;
    PlanHeuristic heuristic = PlanHeuristic::greedy_by_size; // the one that produced offsets
};

// Runs every heuristic and keeps the smallest arena (the earliest heuristic on ties).
// Errors: INFER_ERR_INVALID_ARGUMENT for a null out, an alignment that is not a power of two,
// first_use > last_use, or sizes whose aligned sum does not fit in 64 bits;
// INFER_ERR_INTERNAL when the chosen plan fails verification. *out is written only on success.
Status plan_memory(std::span<const BufferRequest> buffers, uint64_t alignment, Plan *out);

// The same with one heuristic only: for tests and for comparing heuristics on real graphs.
Status plan_memory_with(std::span<const BufferRequest> buffers, uint64_t alignment,
                        PlanHeuristic heuristic, Plan *out);

// One line per buffer (index, tag, [first,last], offset, aligned size) and a summary line with
// arena, lower bound and their ratio. For debugging; the format is not stable. (plan_format.cpp)
std::string format_plan(std::span<const BufferRequest> buffers, const Plan &plan);

} // namespace infer
