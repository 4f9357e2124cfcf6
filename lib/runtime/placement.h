// Placement: which backend runs each node of a model's graphs and which weights a device holds.
// A pure function, like the memory planner: from the graph, the backends, the device memory
// budget and the user's choice to a backend per node and a residency per weight; tested on its
// own (tests/unit/test_placement.cpp). The model places once at load (and uploads what the device
// holds); each context assigns the nodes of its own graphs from that placement.
//
// Two sides: the CPU, which can run every node and reads every weight in place from the model,
// and at most one device. A node runs on the device when its layer is there (or an override puts
// its weights there) and the device supports it; otherwise on the CPU, which never gives a wrong
// answer, only a slower one (each kind of node that falls back is logged once).
#pragma once

#include "core/status.h"
#include "graph/graph.h"
#include "runtime/backend_registry.h"
#include "runtime/expert_policy.h"

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace infer {

// n_gpu_layers values besides a count (infer.h: INFER_GPU_LAYERS_ALL, INFER_GPU_LAYERS_AUTO).
inline constexpr int32_t kAllLayers = -1;
inline constexpr int32_t kAutoLayers = -2;

// Weights whose name matches `pattern` (a PCRE2 regex, searched anywhere in the name, as
// llama.cpp's --override-tensor) live on `backend` (INFER_BACKEND_*). The first match wins.
struct TensorOverride {
    std::string pattern;
    int32_t backend = 0;
};

struct PlacementRequest {
    const BackendEntry *device = nullptr; // null: everything on the CPU
    // llama.cpp -ngl: the last N repeating layers on the device, and the output layer (final
    // norm and output matrix) too when N > n_layer. The token embedding goes with layer 0.
    // kAllLayers: every node; kAutoLayers: the most layers whose weights fit the budget with
    // `reserve` bytes to spare.
    int32_t n_gpu_layers = kAllLayers;
    std::vector<TensorOverride> overrides;
    uint64_t budget = 0;  // device bytes for weights (and the reserve); 0: no limit
    uint64_t reserve = 0; // kAutoLayers: bytes of the budget kept for contexts
    uint64_t reserve_per_layer = 0; // kAutoLayers: and this much per device layer (its KV cache)
    // Per-expert offload: the routed experts of the device's layers are placed one by one, the
    // most popular first, in what the budget leaves after every other weight and the reserves;
    // the rest are computed on the CPU (expert_split.h). Otherwise experts follow their layers
    // (and the overrides), as in llama.cpp. popularity: null for the uniform prior.
    bool experts_by_popularity = false;
    const ExpertPopularity *popularity = nullptr;
};

// Node slots: 0 the input (token embedding), 1..n_layer the repeating layers, n_layer + 1 the
// output (everything after the last layer).
struct Placement {
    const BackendEntry *device = nullptr;
    int32_t n_layer = 0;
    int32_t n_gpu_layers = 0;          // resolved: repeating layers on the device (+1: output)
    std::vector<uint8_t> slot_on_device; // [n_layer + 2]
    std::vector<uint8_t> kv_on_device;   // [n_layer]: the layer's KV cache, KvStore, Attention
    std::vector<TensorOverride> overrides;
    // Weights (by host address) an override puts on a side: 0 the CPU, 1 the device.
    std::vector<std::pair<const void *, uint8_t>> forced;
    std::vector<WeightSpan> device_weights; // to upload: read by a device node, first-use order
    // device_weights is final: a node whose weights it lacks cannot run on the device.
    bool uploaded = false;
    uint64_t device_weight_bytes = 0, host_weight_bytes = 0;
    std::vector<std::string> fallbacks; // one line per kind of node the device refused
    // Per-expert offload: the device's experts (graphs point into its slot tables, so it moves
    // with the placement and is never copied); empty (n_layer 0) when experts follow layers.
    ExpertResidency experts;
    std::string expert_source; // where the popularity came from
    ExpertPopularity expert_popularity; // what placed them (prefill streaming's cost model too)
    uint64_t expert_total_bytes = 0; // every expert of the device's layers, as uploaded
    uint64_t context_reserve = 0;    // of the budget, left for contexts (per-expert offload)
};

// Rewrites a graph of the placed model for its per-expert residency (expert_split.h); nothing
// without one. Every graph a context runs passes through here before assign_nodes.
// for_streaming: a multi-token graph that may stream experts (expert_streaming.h): every device
// layer gets a device expert node, even one without resident experts.
void apply_expert_residency(graph::Graph &g, const Placement &p, bool for_streaming = false);

// Which side each node of one graph runs on. 1 = the placement's device, 0 = the CPU.
struct NodeAssignment {
    std::vector<uint8_t> on_device; // per node
    std::vector<std::string> fallbacks; // one line per kind of node the device refused
};

// Places a model whose every-weight graph (one token, all logits) is `g`. Errors: an override
// pattern that is not a regex or matches no weight (INFER_ERR_INVALID_ARGUMENT, naming it), an
// override naming a backend other than the CPU and the device, layers whose weights exceed the
// budget (INFER_ERR_OUT_OF_MEMORY: what did not fit, and how many layers would).
Status place_model(const graph::Graph &g, int32_t n_layer, const PlacementRequest &request,
                   Placement *out);

// The sides of the nodes of any graph of the placed model. Ok unless a layer's KV cache is on a
// side that cannot run its KvStore or Attention in this graph.
Status assign_nodes(const graph::Graph &g, const Placement &p, NodeAssignment *out);

// A readable plan: per slot, where its nodes run, the bytes each side holds, and the activations
// that cross between the sides in one step of `g`.
std::string format_placement(const graph::Graph &g, const Placement &p, const NodeAssignment &a);

} // namespace infer
