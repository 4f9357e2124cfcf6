// format_plan: a human-readable dump of a plan, for debugging and test failure messages.
#include "graph/planner.h"

#include <cinttypes>
#include <cstdio>

namespace infer {

std::string format_plan(std::span<const BufferRequest> buffers, const Plan &plan) {
    std::string text;
    char line[256];
    std::snprintf(line, sizeof line, "%6s  %-28s %-21s %14s %14s\n", "index", "tag", "steps",
                  "offset", "size");
    text += line;
    const uint64_t align_mask = plan.alignment > 0 ? plan.alignment - 1 : 0;
    for (size_t i = 0; i < buffers.size(); ++i) {
        const BufferRequest &b = buffers[i];
        // The aligned size is what the buffer occupies; the request may be a few bytes less.
        // Saturates instead of wrapping for a size the planner would have rejected anyway.
        const uint64_t size =
            b.size > UINT64_MAX - align_mask ? UINT64_MAX : (b.size + align_mask) & ~align_mask;
        const uint64_t offset = i < plan.offsets.size() ? plan.offsets[i] : 0;
        char steps[32];
        std::snprintf(steps, sizeof steps, "[%" PRIu32 ", %" PRIu32 "]", b.first_use, b.last_use);
        std::snprintf(line, sizeof line, "%6zu  %-28s %-21s %14" PRIu64 " %14" PRIu64 "\n", i,
                      b.tag.empty() ? "-" : b.tag.c_str(), steps, offset, size);
        text += line;
    }
    const double ratio = plan.lower_bound > 0 ? static_cast<double>(plan.arena_size) /
                                                    static_cast<double>(plan.lower_bound)
                                              : 1.0;
    std::snprintf(line, sizeof line,
                  "arena %" PRIu64 " B (%.2f MiB), lower bound %" PRIu64
                  " B, ratio %.4f, heuristic %s, %zu buffers, alignment %" PRIu64 "\n",
                  plan.arena_size, static_cast<double>(plan.arena_size) / (1024.0 * 1024.0),
                  plan.lower_bound, ratio, plan_heuristic_name(plan.heuristic), buffers.size(),
                  plan.alignment);
    text += line;
    return text;
}

} // namespace infer
