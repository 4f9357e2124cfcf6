// Prefill streaming of a split model's non-resident experts: in a run of many tokens, an expert
// that many of them select is cheaper to copy to the device and compute there than to compute on
// the CPU (its bytes cross the bus once, and the device's arithmetic is far faster). Per run and
// per expert the choice is the offload cost model's (offload_cost.h, expert_prefill_cost), from
// the expected token count n k w(l, e) of the expert's popularity w, this machine's measured CPU
// expert costs (cpu_costs.h, cached) and the device backend's measured copy rate. The device's
// own compute of a streamed expert is taken as free: it runs while the next expert is copied.
//
// The graph side: the context's multi-token graph has a device MoeFfn node in every device layer
// with experts off the device (expert_split.h, device_node_always), which computes the resident
// experts and those streamed in the run; the CPU twin leaves the streamed ones out. Decode
// (one token) never streams: its graph is the one without those nodes.
#pragma once

#include "runtime/backend.h"
#include "runtime/cpu_costs.h"
#include "runtime/device_profile.h"
#include "runtime/expert_policy.h"

#include <cstdint>
#include <vector>

namespace infer {

// infer.h: INFER_EXPERT_PREFILL_*.
enum class ExpertPrefill : int32_t {
    Auto = 0,   // per expert and run, by the cost model
    Cpu = 1,    // never stream: non-resident experts are computed on the CPU
    Stream = 2, // stream every non-resident expert in every multi-token run
};

// What the choice needs per layer of the model.
struct StreamingLayer {
    uint64_t expert_bytes = 0;    // one expert's gate, up and down
    uint64_t expert_elements = 0; // their weights
    CpuExpertCost cpu;            // the CPU MoeFfn node's measured cost at this layer's shape
};

struct StreamingModel {
    int32_t n_expert = 0, n_expert_used = 0;
    std::vector<StreamingLayer> layers;
    std::vector<double> share; // [layer * n_expert + e]: its share of the layer's selections
    DeviceProfile device;      // streaming_device_profile() of the measured copy rate
};

// From the popularity (normalized per layer here) and the per-layer costs.
StreamingModel make_streaming_model(const ExpertPopularity &popularity, int32_t n_expert_used,
                                    std::vector<StreamingLayer> layers, double h2d_bytes_per_s);

// Fills `out` ([n_layer][n_expert], sized here) with the experts the device streams in a run of
// n_tokens: none for Cpu or n_tokens < 2; every non-resident expert of a layer with a device
// node for Stream (layer_on_device[l]); for Auto those whose streaming the cost model predicts
// faster than the CPU. Returns the expected expert bytes streamed (Auto: each expert's bytes
// times its chance of being selected; Stream: all of them).
// Allocates nothing when `out` already has the model's shape.
double choose_streamed_experts(ExpertPrefill mode, const ExpertResidency &residency,
                               const StreamingModel &model,
                               const std::vector<uint8_t> &layer_on_device, int64_t n_tokens,
                               StreamedExperts *out);

// The profile of the present device that the choice reads: the measured copy rate, and the
// device's compute taken as free (see above).
DeviceProfile streaming_device_profile(double h2d_bytes_per_s);

} // namespace infer
