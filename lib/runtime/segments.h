// Segments: a graph whose nodes run on two sides (the CPU and a device) as runs of consecutive
// nodes on one side, and the activations that cross between them. A pure function of the graph
// and the node sides (placement.h), tested on its own (tests/unit/test_segments.cpp).
//
// A tensor touched on both sides has storage on both: the device's copy in the device arena, the
// host's in pinned transfer memory, so a copy between them is one DMA. After each segment, every
// two-sided tensor it wrote that a later node of the other side reads is copied across. A device
// segment ends after the node that writes such a tensor, so the copy is not held up behind
// device work the host does not need (which then overlaps the host's next segment).
#pragma once

#include "graph/graph.h"
#include "runtime/backend.h"

#include <cstdint>
#include <span>
#include <vector>

namespace infer {

// Tensor sides, as bits.
inline constexpr uint8_t kOnHost = 1, kOnDevice = 2;

struct SegmentCopy {
    graph::TensorId tensor = graph::kNoTensor; // a storage root
    bool to_device = false;                    // else device -> host
};

struct Segment {
    NodeRange nodes;
    bool on_device = false;
    std::vector<SegmentCopy> copies_after; // in tensor order
};

struct SegmentPlan {
    std::vector<Segment> segments;
    std::vector<uint8_t> sides; // per tensor, by its storage root: kOnHost | kOnDevice, 0 unused
    bool logits_on_device = false; // where the output's last writer runs
};

// `on_device` has one entry per node (1: the device).
SegmentPlan plan_segments(const graph::Graph &g, std::span<const uint8_t> on_device);

// Bytes of tensor `id` with n_tokens rows (per-token tensors) or one row.
uint64_t tensor_bytes(const graph::Graph &g, graph::TensorId id, int64_t n_tokens);

} // namespace infer
