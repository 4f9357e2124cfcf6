// Independent check of a memory plan: every pair of buffers live at the same time (O(n^2) in the
// worst case), sharing no logic with the planner it checks, so that a bug in the planner's gap
// search or live-bytes profile cannot hide itself here.
#pragma once

#include "core/status.h"
#include "graph/planner.h"

#include <span>

namespace infer {

// OK when: the alignment is a power of two; there is one offset per buffer; every offset is a
// multiple of the alignment; every (aligned) buffer ends within arena_size; zero-size buffers sit
// at offset 0; no two buffers whose lifetimes overlap share a byte; lower_bound equals the peak of
// live aligned bytes recomputed step by step; and arena_size >= lower_bound.
// Otherwise INFER_ERR_INVALID_ARGUMENT naming the first offending buffer(s).
Status verify_plan(std::span<const BufferRequest> buffers, const Plan &plan);

} // namespace infer
