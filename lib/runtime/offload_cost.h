// The offload cost model: predicted decode and prefill speed of a mixture-of-experts model whose
// routed experts are split between a device (the resident ones, runtime/expert_policy.h) and the
// CPU (the rest, computed from the mapped file), from measured constants (cpu_costs.h) and a
// device profile (device_profile.h). Pure functions: every number comes from the arguments.
//
// Notation, per layer l: w(l,e) the popularity of expert e normalized to sum 1 over the layer,
// k experts per token, B(l) one expert's bytes (gate + up + down), s(l) = sum of w(l,e) over the
// resident experts: the share of selections the device serves.
//
// Decode, one token:
//   device(l) = (dense_bytes(l) + k s(l) B(l)) / device_bw + device_layer_overhead
//   cpu(l)    = k (1 - s(l)) T(l) + p(l) N(l)
//       T(l), N(l): the CPU MoeFfn node's measured cost per computed expert and per node at
//       layer l's expert shape (cpu_costs.h: CpuExpertCost; the probe fits node time against
//       the number of experts it computes, so a split's partial node is on the same line)
//       p(l) = 1 - s(l)^k: the chance that a token selects at least one CPU expert
//   step      = sum_l [ max(device(l), cpu(l)) + p(l) handoff ] + other_bytes / device_bw
//   (the lanes overlap within a layer; the device waits for the CPU's result before the next)
// All on the CPU: step = sum_l [ dense(l) on the CPU + k T(l) + N(l) ]
//   + other bytes on the CPU, each weight type at its probe shape's rate (the DRAM read rate for
//   a type not measured). The CPU lane of that step is sum_l [ k T(l) + N(l) ].
// Ceiling of a placement: DRAM read bandwidth / CPU expert bytes per token, k (1 - s(l)) B(l)
//   summed over the layers (no kernel, no barrier: what the memory could give).
//
// Prefill, a batch of n tokens: expert e gets tau = n k w(l,e) tokens in expectation and is
// selected at all with q = 1 - (1 - min(1, k w(l,e)))^n.
//   on the CPU:     cpu(e)    = max(q T(l), 2 E tau / cpu_flops(l))   (E: its elements)
//   on the device:  dev(e)    = max(q B / device_bw, 2 E tau / device_flops)
//   streamed:       stream(e) = B / h2d_bw (0 with unified memory): decided before the router
//                   runs, so the whole expert is copied whether or not a token selects it
//   a resident expert runs on the device; another is streamed when stream(e) + dev(e) < cpu(e),
//   else runs on the CPU. The dense part runs on the device: max(dense bytes / device_bw,
//   2 dense elements n / device_flops).
//   device(l) = max(device compute, stream copies) + device_layer_overhead;  cpu(l) = sum of
//   its experts + N(l) when it has any;  layer = max(device, cpu) + handoff when
//   the CPU has experts;  tokens/s = n / (sum_l layer + other_bytes / device_bw).
// Attention's own compute is left out (short contexts: it is small next to the weights).
#pragma once

#include "runtime/cpu_costs.h"
#include "runtime/device_profile.h"
#include "runtime/expert_policy.h"

#include <cstdint>
#include <vector>

namespace infer {

// Weight bytes and elements of one ggml type.
struct TypedWeights {
    uint32_t type = 0;
    uint64_t bytes = 0;
    uint64_t elements = 0;
};

struct LayerCostShape {
    std::vector<TypedWeights> dense;  // what one token reads besides the routed experts
    std::vector<TypedWeights> expert; // one routed expert (gate + up + down)
    ExpertShape expert_shape;         // the same expert, as the CPU cost is keyed
    uint64_t dense_bytes() const;
    uint64_t expert_bytes() const;
};

struct ModelCostShape {
    int32_t n_expert = 0, n_expert_used = 0;
    std::vector<LayerCostShape> layers;
    std::vector<TypedWeights> other; // outside the layers: output norm and matrix, an embedding row
    int32_t n_layer() const { return static_cast<int32_t>(layers.size()); }
};

struct PlacementPrediction {
    double resident_share = 0;           // of selected expert bytes, by the popularity
    double decode_tokens_per_s = 0;
    double prefill_tokens_per_s = 0;
    double cpu_lane_seconds_per_step = 0; // the decode step's CPU expert lane
    double cpu_expert_bytes_per_token = 0;
    double ceiling_tokens_per_s = 0;     // DRAM bandwidth / CPU expert bytes (inf: none)
    int32_t prefill_streamed_experts = 0; // non-resident experts streamed per batch
};

inline constexpr int64_t kPlanPrefillTokens = 512;

// A split of the experts: `residency` on the device, the rest on the CPU.
PlacementPrediction predict_split(const ModelCostShape &shape, const ExpertResidency &residency,
                                  const ExpertPopularity &popularity, const CpuCosts &cpu,
                                  const DeviceProfile &device,
                                  int64_t prefill_tokens = kPlanPrefillTokens);
// Everything on the CPU, no device.
PlacementPrediction predict_all_cpu(const ModelCostShape &shape, const ExpertPopularity &popularity,
                                    const CpuCosts &cpu,
                                    int64_t prefill_tokens = kPlanPrefillTokens);

// Expert e of a layer in a prefill batch of n tokens, k experts per token, w its share of the
// layer's selections, B its bytes and E its weights: the prefill formulas above.
struct ExpertPrefillCost {
    double on_cpu = 0, on_device = 0, stream = 0;
    double selected = 0; // q: the chance that some token selects it
    bool streams() const { return stream + on_device < on_cpu; }
};
ExpertPrefillCost expert_prefill_cost(double w, double n, double k, double B, double E,
                                      const CpuExpertCost &cpu, const DeviceProfile &device);

// Seconds the CPU takes to read (decode) `w` at its type's measured rate.
double cpu_read_seconds(const std::vector<TypedWeights> &w, const CpuCosts &cpu);

// Layer l's CPU expert costs: those measured at its expert shape, else (a shape nobody measured,
// such as a hand-made one) its weights at their types' rates with no fixed cost per node.
CpuExpertCost layer_cpu_cost(const LayerCostShape &layer, const CpuCosts &cpu);

} // namespace infer
