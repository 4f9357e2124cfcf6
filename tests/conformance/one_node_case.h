// One conformance case: a graph whose last node is the op under test, with everything a run of
// that node needs (its weights, its input rows, the KV cache before the run) and the tolerance
// its outputs are held to.
//
// The node's input tensors are made by placeholder Embed nodes that never run: only the last
// node runs (NodeRange {n - 1, n}), over input rows the case writes directly. So the graph is
// an ordinary GraphBuilder graph, planned and bound as a context would, with one compute node.
#pragma once

#include "core/random.h"
#include "graph/graph.h"
#include "runtime/kv_cache.h"

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <vector>

namespace infer::conformance {

// How close a backend's output must be to the reference's: max |a - b| / max |ref| over a
// tensor (I32 tensors always compare exactly). Each case builder says why its value holds.
struct Tolerance {
    double max_rel = 0;
};

// A weight tensor the case owns; `ref.data` points into `bytes`.
struct Weight {
    graph::WeightRef ref;
    std::vector<uint8_t> bytes;
};

// Rows written into a graph input before the run: n_tokens rows (one for a single-row tensor).
struct Input {
    graph::TensorId id = graph::kNoTensor;
    std::vector<uint8_t> bytes;
};

struct OpCase {
    std::string label; // what varies: type, sizes, tokens, mode
    graph::Graph graph;
    int64_t n_tokens = 1;
    std::vector<Input> inputs;
    KvCacheLayout kv;             // no layers: the node reads no cache
    std::vector<uint8_t> kv_init; // kv.total_bytes(): the cache before the run
    Tolerance tol;
    // Owned data the graph points at (deque: adding one never moves the others).
    std::deque<Weight> weights;
    std::vector<float> freq_factors;

    const graph::Node &node() const { return graph.nodes.back(); }
    // The weight type the case exercises (the node's w), or UINT32_MAX for an op without one.
    uint32_t weight_type() const;
};

using Cases = std::vector<std::unique_ptr<OpCase>>;

// Builds one case: a GraphBuilder over max_tokens plus the case's data, drawn from one seed.
class CaseBuilder {
public:
    CaseBuilder(std::string label, int64_t max_tokens, int64_t n_tokens, uint64_t seed);

    graph::GraphBuilder &graph() { return builder_; }
    OpCase &data() { return *case_; }

    // A per-token F32 input of width n with n_tokens rows of values: standard normal * scale.
    graph::TensorId input(int64_t n, float scale = 1.0f);
    // The same with values every 8-bit activation format holds exactly (see one_node_case.cpp).
    graph::TensorId int8_exact_input(int64_t n);
    // A per-token F32 tensor of width n made by an Embed node that never runs, with no rows
    // written: for a tensor only an earlier node reads (a MoE route's logits).
    graph::TensorId placeholder(int64_t n);
    // Stores the rows of a tensor the node reads that no running node writes (the graph's tokens
    // or positions, a MoE route): n_tokens rows of its width.
    void set_rows(graph::TensorId id, const std::vector<int32_t> &values);
    void set_rows(graph::TensorId id, const std::vector<float> &values);

    // A weight of `type` with dims [ne0, ne1, ne2], random valid blocks of that type.
    const graph::WeightRef &weight(uint32_t type, int64_t ne0, int64_t ne1, int64_t ne2 = 1);
    // An F32 vector of n values: mean + spread * normal (by default norm weights and biases,
    // about 1).
    const graph::WeightRef &f32_vector(int64_t n, float mean = 1.0f, float spread = 0.5f);

    // The KV cache of one layer: random values in every row (rows a run does not write must
    // come out unchanged), of type 1 (F16) or 0 (F32).
    // head_dim_v 0: head_dim; v_in_k: no V plane, the values are the keys' first head_dim_v.
    void kv_cache(uint32_t type, int64_t n_ctx, int64_t n_head_kv, int64_t head_dim,
                  int64_t head_dim_v = 0, bool v_in_k = false);

    // The graph's inputs: token ids, and positions p0, p0 + 1, ... for the n_tokens tokens.
    void tokens(std::vector<int32_t> ids) { tokens_ = std::move(ids); }
    void positions_from(int32_t p0);

    uint32_t below(uint32_t n); // a random integer in [0, n)
    float normal();

    // Finishes the graph with `out` as its output.
    std::unique_ptr<OpCase> finish(graph::TensorId out, Tolerance tol);

private:
    std::unique_ptr<OpCase> case_;
    graph::GraphBuilder builder_;
    Rng rng_;
    std::vector<int32_t> tokens_, positions_;
};

// Valid random bytes of n_blocks blocks of `type` (a plain type's block is one element): values
// about `scale` in size. False for a type this suite cannot make data of.
bool random_weight_bytes(uint32_t type, uint64_t seed, float scale, void *dst, int64_t n_blocks);

} // namespace infer::conformance
