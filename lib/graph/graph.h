// The op graph: what a forward pass computes, in execution order, with every activation's size
// and lifetime known before the first token runs.
//
// Architecture files in models/ build it through GraphBuilder, reading like a forward pass; the
// memory planner turns the activation sizes and lifetimes into arena offsets; a backend walks the
// nodes. Shapes are static maxima: a graph built for `max_tokens` runs any batch of
// 1..max_tokens tokens, kernels reading the actual count at run time, so memory never depends on
// the batch.
//
// Activations are row-major f32 [rows][n]: one row per token (or a single row after
// select_last). Weights are views into the model file; the KV cache lives outside the graph and
// is addressed by layer.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

namespace infer::graph {

using TensorId = int32_t;
inline constexpr TensorId kNoTensor = -1;

// A weight tensor as stored in the file: ggml type, dims (ne[0] contiguous), bytes in place.
struct WeightRef {
    std::string_view name;
    uint32_t type = 0;
    int64_t ne[4] = {1, 1, 1, 1};
    const void *data = nullptr;
    uint64_t row_bytes = 0; // bytes of one ne[0] row
    uint64_t n_bytes = 0;
    // The CPU backend's own copy, when it re-laid the weight out at load for its kernels
    // (backends/cpu/cpu_repack.h), and that layout's id; null: the CPU reads `data`. `data` stays
    // the file's bytes: the weight's identity (placement keys weights by it) and what a device
    // uploads.
    const void *cpu_data = nullptr;
    uint8_t cpu_layout = 0;
};

enum class DType : uint8_t { F32, I32, Raw };

struct TensorDesc {
    DType dtype = DType::F32;
    int64_t n = 0;            // elements per row (F32/I32)
    bool per_token = true;    // rows = tokens in the batch; false: a single row
    uint64_t raw_bytes = 0;   // DType::Raw: fixed byte size (kernel scratch)
    TensorId alias_of = kNoTensor; // shares the bytes of an earlier tensor (in-place ops, views)
    uint64_t alias_offset = 0;     // where in alias_of's bytes this one starts (views)
    const char *label = "";   // for printed plans
    int32_t layer = -1;
    // Filled by GraphBuilder::finish(): first and last node that touch the tensor's bytes.
    int32_t first_use = -1;
    int32_t last_use = -1;
};

enum class Op : uint8_t {
    Embed,      // out[t] = dequant(w row tokens[t]) * scale
    RmsNorm,    // out = rms_norm(in0 over groups of `group` elements) * w
    MatMul,     // out[t] = W in0[t] (+ bias w2)
    Add,        // out = in0 + in1
    Scale,      // out = in0 * scale
    Rope,       // out = rope(in0, positions in1), heads of head_dim; in place (out aliases in0)
    KvStore,    // cache[layer] at positions in2 <- k in0, v in1
    Attention,  // out = softmax(q in0 . K^T * scale) V over the layer's cache, positions in1
                // (with sinks: a per-head logit in the softmax's denominator only)
    Glu,        // out = act(in0) * in1
    SelectLast, // out (one row) = last row of in0
    // Mixture of experts (ggml's mul_mat_id semantics, experts stacked along the weight's ne[2]):
    MoeRoute,    // in0 router logits [t][n_expert] -> out: the n_expert_used selected expert ids
                 // [t][k] (I32, best first), out2: their weights [t][k] (F32), by route_fn
    MoeFfn,      // out[t] = sum_j weight in2[t][j] * down_e(act(gate_e x) * up_e x), e = in1[t][j],
                 // x = in0[t]; w gate, w2 up, w3 down: [n_embd, n_ff, n_expert] / [n_ff, ...];
                 // with expert_bias, each of the three products adds its expert's bias row
    SigmoidGate, // out[t] = in0[t] * sigmoid(in1[t][0]) (qwen2moe's shared-expert gate)
    // Views of head-structured rows, as copies (DeepSeek's multi-head latent attention splits and
    // joins the parts of its heads):
    Slice,  // out[t][g][i] = in0[t][g * stride + offset + i], g < n_head, i < head_dim
    Concat, // out[t][g] = in0[t][g] then in1[t][g]: n_head groups of each input's width / n_head
    HeadMatMul, // out[t][h] = W_h in0[t][h * stride ..][0, k): one matrix per head, w [k, n,
                // n_head]
};

// The op's name as written above ("MatMul", "MoeFfn"), for messages; "unknown" past the list.
const char *op_name(Op op);

// SwigluOai: gpt-oss's clamped SwiGLU, min(g, 7) * sigmoid(1.702 min(g, 7)) * (clamp(u, -7, 7) + 1)
// (llama.cpp's ggml_swiglu_oai with the alpha and limit its gpt-oss graph passes).
enum class Activation : uint8_t { Silu, GeluTanh, SwigluOai };
enum class RopeMode : uint8_t { Normal, Neox };

// How MoeRoute turns router logits into k experts and their weights.
//   Softmax:     p = softmax(logits) over every expert, the k largest p (qwen, olmoe, Mixtral)
//   SoftmaxTopK: the k largest logits, their weights softmax over those k alone (gpt-oss;
//                llama.cpp's LLAMA_EXPERT_GATING_FUNC_TYPE_SOFTMAX_WEIGHT)
//   Sigmoid:     p = sigmoid(logits), the k largest p (DeepSeek-V3)
// A selection bias (MoeRoute's w) is added to p for choosing only, and with n_group groups of
// experts only the n_group_used groups with the largest sums of their two best biased scores
// compete (DeepSeek's group-limited routing, as llama.cpp's build_moe_ffn). The weights are the
// unbiased p, renormalized to sum 1 when norm_weights, then times route_scale.
enum class RouteFn : uint8_t { Softmax, SoftmaxTopK, Sigmoid };

// YaRN's frequency blend and magnitude scale (llama.cpp's rope_yarn), on top of freq_scale.
// ext_factor 0 and attn_factor 1: plain (or linear) RoPE.
struct RopeYarn {
    float ext_factor = 0;    // 0: no blend; 1: YaRN
    float attn_factor = 1;   // multiplies cos and sin
    float corr_dims[2] = {}; // the dims where the blend ramps from extrapolation to interpolation
};

// YaRN for a rope of n_rot dims at base freq_base trained on n_ctx_orig positions: ext_factor 1
// and the ramp of llama.cpp's ggml_rope_yarn_corr_dims, from the first dimension whose wavelength
// makes beta_fast turns over n_ctx_orig to the last that makes beta_slow (llama.cpp's defaults:
// 32 and 1), clamped to [0, n_rot - 1]. attn_factor as the model computes it.
RopeYarn rope_yarn(int32_t n_rot, int64_t n_ctx_orig, float freq_base, float attn_factor,
                   float beta_fast = 32.0f, float beta_slow = 1.0f);

// How a model stretches RoPE past the context it was trained on (GGUF rope.scaling.*):
//   None:   plain RoPE
//   Linear: positions divided by factor (freq_scale = 1 / factor)
//   Yarn:   linear, blended with the unscaled frequencies over the dims between beta_fast and
//           beta_slow turns in orig_ctx positions (rope_yarn)
// attn_factor multiplies cos and sin for every kind (YaRN's magnitude scale, as the family's
// llama.cpp graph computes it).
enum class RopeScalingKind : uint8_t { None, Linear, Yarn };
struct RopeScaling {
    RopeScalingKind kind = RopeScalingKind::None;
    float factor = 1;
    int64_t orig_ctx = 0; // Yarn
    float attn_factor = 1;
    float beta_fast = 32, beta_slow = 1; // Yarn (llama.cpp's defaults; GGUF has no keys for them)

    float freq_scale() const { return kind == RopeScalingKind::None ? 1.0f : 1.0f / factor; }
};

// A rope as a model describes it: which pairs rotate, over how many dims, at what base, scaled
// how; GraphBuilder::rope derives the kernel's frequency scale and YaRN parameters from it.
struct Rope {
    RopeMode mode = RopeMode::Normal;
    int32_t n_rot = 0;
    float base = 10000;
    RopeScaling scaling;
    const float *freq_factors = nullptr; // llama3's rope_freqs (n_rot / 2 F32), or null

    RopeYarn yarn() const;
};

struct Node {
    Op op = Op::Add;
    TensorId out = kNoTensor;
    TensorId in[3] = {kNoTensor, kNoTensor, kNoTensor};
    TensorId scratch = kNoTensor; // MatMul/Rope/Attention kernel scratch: a Raw tensor whose size
                                  // the backend sets before planning, live during this node only
                                  // (MatMuls of one input share theirs: act_shared)
    // MatMul: an earlier MatMul on the same input holds this node's scratch, and the nodes
    // between them do not touch it. A backend whose previous writer of the scratch (the nearest
    // earlier node with it) ran in the same run, on the same input, in the same activation
    // format, may use the activations it left there instead of converting the input again.
    bool act_shared = false;
    const WeightRef *w = nullptr;  // Embed, RmsNorm, MatMul weight
    const WeightRef *w2 = nullptr; // MatMul bias; MoeFfn up experts
    const WeightRef *w3 = nullptr; // MoeFfn down experts
    TensorId out2 = kNoTensor;     // MoeRoute: the expert weights
    int32_t layer = -1;

    // Op parameters; each op reads the ones it needs.
    float eps = 0;            // RmsNorm
    int64_t group = 0;        // RmsNorm: normalized span (n, or head_dim for per-head norms)
    float scale = 1;          // Embed, Scale, Attention
    float softcap = 0;        // Attention: 0 = none
    int32_t n_head = 0, n_head_kv = 0, head_dim = 0; // Rope, Attention, KvStore, Slice
    int32_t head_dim_v = 0; // Attention, KvStore: value head size (0: head_dim)
    bool v_in_k = false;    // Attention, KvStore: the values are the first head_dim_v floats of
                            // each key row, and no V is stored (MLA's latent)
    int64_t stride = 0, offset = 0; // Slice; HeadMatMul's input stride between heads
    int32_t n_rot = 0;        // Rope
    RopeMode rope_mode = RopeMode::Normal;
    float freq_base = 10000, freq_scale = 1;
    const float *freq_factors = nullptr; // Rope (llama3 rope_freqs), or null
    RopeYarn yarn;                       // Rope
    int32_t window = 0;       // Attention: sliding window, 0 = full causal
    const float *sinks = nullptr; // Attention: n_head logits (F32) joining each softmax, or null
    Activation act = Activation::Silu; // Glu, MoeFfn
    int32_t n_expert = 0;      // MoeRoute, MoeFfn: experts in the layer
    int32_t n_expert_used = 0; // MoeRoute, MoeFfn: k, experts per token
    bool norm_weights = false; // MoeRoute: renormalize the k weights to sum to 1
    RouteFn route_fn = RouteFn::Softmax; // MoeRoute (w: an F32 [n_expert] selection bias, or null)
    float route_scale = 1;               // MoeRoute: multiplies the weights
    int32_t n_group = 0, n_group_used = 0; // MoeRoute: group-limited selection (0: none)
    // MoeFfn: F32 biases of gate, up and down, [n_ff][n_expert] / [n_embd][n_expert]; each null
    // or all three (gpt-oss).
    const WeightRef *expert_bias[3] = {nullptr, nullptr, nullptr};
    // MoeFfn over a subset of the experts (CPU-GPU expert offload, runtime/expert_split.h):
    // expert_slot[e] is expert e's slot in the device's compact copy of the layer's resident
    // experts, or -1 where only the CPU has it. The node computes the experts e with
    // (expert_slot[e] >= 0) == experts_resident; the other selected experts contribute nothing
    // (and are not counted). Null: every expert.
    const int32_t *expert_slot = nullptr;
    bool experts_resident = false;
};

struct Graph {
    std::vector<TensorDesc> tensors;
    std::vector<Node> nodes;
    int64_t max_tokens = 0;
    TensorId tokens = kNoTensor;    // I32 input
    TensorId positions = kNoTensor; // I32 input
    TensorId logits = kNoTensor;    // the output

    // Bytes of a tensor at the graph's maximum shape, before alignment.
    uint64_t max_bytes(TensorId id) const;
    // The tensor whose bytes `id` uses (itself unless it is an alias).
    TensorId storage_of(TensorId id) const;
    // Where in storage_of(id)'s bytes id's start.
    uint64_t storage_offset(TensorId id) const;
};

// Sets every tensor's first_use and last_use from the nodes (GraphBuilder::finish does; a pass
// that rewrites a finished graph calls it again).
void compute_lifetimes(Graph &g);

// Expert-selection counter slots a graph's MoeFfn nodes add to, [layer][n_expert] as
// BoundGraph::expert_counts holds them: (last MoE layer + 1) * n_expert, 0 without experts.
uint64_t expert_counter_slots(const Graph &g);

// Scratch sizing (Backend::size_scratch): zero every node's scratch size, then grow each to the
// largest any of its nodes asks for (MatMuls of one input share a scratch tensor).
void clear_scratch_sizes(Graph &g);
void grow_scratch(Graph &g, const Node &n, uint64_t bytes);

// Builds a graph op by op. Every method returns the new output tensor.
class GraphBuilder {
public:
    explicit GraphBuilder(int64_t max_tokens);

    TensorId embed(const WeightRef &table, float scale);
    TensorId rms_norm(TensorId x, const WeightRef *w, float eps, int64_t group = 0);
    TensorId matmul(const WeightRef &w, TensorId x, const WeightRef *bias = nullptr);
    TensorId add(TensorId a, TensorId b);
    TensorId scale(TensorId x, float s);
    TensorId rope(TensorId x, int32_t n_head, int32_t head_dim, int32_t n_rot, RopeMode mode,
                  float freq_base, float freq_scale, const float *freq_factors,
                  const RopeYarn &yarn = {});
    TensorId rope(TensorId x, int32_t n_head, int32_t head_dim, const Rope &rope);
    // The node's head_dim_v is v's width per KV head; v == kNoTensor: the values live in the
    // keys' first head_dim_v floats (KvDims::v_in_k), a size the attentions give.
    void kv_store(int32_t layer, TensorId k, TensorId v, int32_t n_head_kv, int32_t head_dim);
    // q [t][n_head][dims.k] over the cache; out [t][n_head][dims.v].
    struct KvDims {
        int32_t k = 0, v = 0; // key (and query) and value head sizes
        bool v_in_k = false;  // values: the first `v` floats of each key row
    };
    TensorId attention(int32_t layer, TensorId q, int32_t n_head, int32_t n_head_kv,
                       int32_t head_dim, float scale, float softcap, int32_t window,
                       const float *sinks = nullptr);
    TensorId attention(int32_t layer, TensorId q, int32_t n_head, int32_t n_head_kv, KvDims dims,
                       float scale, float softcap, int32_t window, const float *sinks = nullptr);
    // Each of n_groups groups of x's rows (stride floats apart) gives width floats from offset.
    // Where that is one contiguous range of x's bytes (x has one row: a decode graph's, and the
    // groups touch) at a multiple of kViewAlignment, the slice is a view: an alias of x at an
    // offset, no node, no copy; an in-place op on it writes x. Otherwise a Slice node copies.
    static constexpr uint64_t kViewAlignment = 256; // every backend's tensor alignment
    TensorId slice(TensorId x, int32_t n_groups, int32_t width, int64_t stride, int64_t offset);
    // Per group, a's part then b's (each input's width divides into n_groups equal parts).
    TensorId concat(TensorId a, TensorId b, int32_t n_groups);
    // Per head h of w's ne[2] heads: w_h [k x n] times x's head h (k floats at h * stride).
    TensorId head_matmul(const WeightRef &w, TensorId x, int64_t stride);
    TensorId glu(TensorId gate, TensorId up, Activation act);
    TensorId select_last(TensorId x);

    // The top n_expert_used experts per token by `fn` (ties: the lower expert id first);
    // norm_weights rescales the k weights to sum to 1.
    struct Route {
        TensorId ids;     // I32 [t][k]
        TensorId weights; // F32 [t][k]
    };
    Route moe_route(TensorId logits, int32_t n_expert_used, bool norm_weights,
                    RouteFn fn = RouteFn::Softmax);
    // With DeepSeek's selection bias, groups and weight scale (RouteFn's comment).
    struct Routing {
        RouteFn fn = RouteFn::Softmax;
        bool norm_weights = false;
        float scale = 1;
        const WeightRef *bias = nullptr; // F32 [n_expert], or null
        int32_t n_group = 0, n_group_used = 0;
    };
    Route moe_route(TensorId logits, int32_t n_expert_used, const Routing &routing);
    // The routed experts' gated FFN on x [t][n_embd], summed with the route's weights. Its
    // scratch (sized by the backend for max_tokens x k rows) holds the per-expert token groups.
    // biases: null, or the gate, up and down experts' F32 bias rows.
    TensorId moe_ffn(TensorId x, const Route &route, const WeightRef &gate_exps,
                     const WeightRef &up_exps, const WeightRef &down_exps, Activation act,
                     const WeightRef *const *biases = nullptr);
    TensorId sigmoid_gate(TensorId x, TensorId gate);

    // Marks `logits` as the output, computes lifetimes and returns the graph.
    Graph finish(TensorId logits);

    int64_t width(TensorId id) const { return graph_.tensors[id].n; }
    void set_layer(int32_t layer) { layer_ = layer; }

private:
    TensorId new_tensor(DType dtype, int64_t n, bool per_token, const char *label);
    Node &push(Op op, TensorId out);
    // A node of two inputs whose output has the first one's shape.
    TensorId binary(Op op, TensorId a, TensorId b, const char *label);

    Graph graph_;
    int32_t layer_ = -1;
    // Per tensor: the scratch of the last MatMul that read it (kNoTensor: none yet).
    std::vector<TensorId> matmul_scratch_;
};

} // namespace infer::graph
