// Each op's cases, with the tolerance each is held to and why. Sizes are odd where the op allows
// (widths 67, 45; 37 output rows; head_dim 24 and 40) and whole blocks where a weight type needs
// them; every op runs at each token shape of kTokenShapes.
#include "op_cases.h"

#include "core/random.h"
#include "core/types.h"
#include "runtime/backend_registry.h"

#include <cstring>

namespace infer::conformance {
namespace {

using graph::Op;
using graph::TensorId;

// (graph max_tokens, tokens run): decode; a small batch (a device's matrix-vector kernels take
// up to 8 tokens); a prefill graph run with fewer tokens than it was built for (a device's GEMM
// path, chosen by the graph's size); a long odd prefill.
struct Tokens {
    int64_t max, n;
};
constexpr Tokens kTokenShapes[] = {{1, 1}, {3, 3}, {17, 10}, {65, 65}};

// One token shape's part of a label: "1 token", "10 of 17 tokens".
std::string tokens_label(const Tokens &tk) {
    if (tk.n == tk.max) return std::to_string(tk.n) + (tk.n == 1 ? " token" : " tokens");
    return std::to_string(tk.n) + " of " + std::to_string(tk.max) + " tokens";
}

const char *type_name(uint32_t type) { return type_traits(type)->name; }

// A row of a few blocks: 67 elements of a plain type (a multiple of nothing), three blocks of
// 32, two super-blocks of 256.
int64_t odd_row(uint32_t type) {
    switch (type_traits(type)->block_elems) {
    case 1:
        return 67;
    case 32:
        return 96;
    default:
        return 2 * static_cast<int64_t>(type_traits(type)->block_elems);
    }
}

// Random token ids in [0, n_vocab), repeats allowed.
std::vector<int32_t> random_ids(CaseBuilder &b, int64_t n, uint32_t n_vocab) {
    std::vector<int32_t> ids(static_cast<size_t>(n));
    for (int32_t &id : ids)
        id = static_cast<int32_t>(b.below(n_vocab));
    return ids;
}

// Each case's seed: its op and its index within the op, so a failing case reruns alone the same.
class CaseList {
public:
    CaseList(Op op, Cases &out) : op_(op), out_(out) {}
    CaseBuilder builder(const std::string &what, const Tokens &tk) {
        const uint64_t seed = mix64(static_cast<uint64_t>(op_) << 32 | out_.size());
        return CaseBuilder(what + ", " + tokens_label(tk), tk.max, tk.n, seed);
    }
    void add(CaseBuilder &b, TensorId out, Tolerance tol) { out_.push_back(b.finish(out, tol)); }

private:
    Op op_;
    Cases &out_;
};

// ---- Weights -------------------------------------------------------------------------------

void embed_cases(CaseList &list) {
    constexpr uint32_t kVocab = 37;
    for (uint32_t type : reference_weight_types(Op::Embed))
        for (const Tokens &tk : kTokenShapes) {
            const int64_t width = odd_row(type);
            const float scale = tk.n == 1 ? 1.0f : 0.37f; // 1 is the CPU's no-multiply path
            CaseBuilder b =
                list.builder(std::string(type_name(type)) + " [" + std::to_string(width) +
                                 " x 37] scale " + std::to_string(scale).substr(0, 4),
                             tk);
            b.tokens(random_ids(b, tk.n, kVocab));
            const TensorId out = b.graph().embed(b.weight(type, width, kVocab), scale);
            // Dequantizing is d * q (+ m) and the scale, each rounded once; a device may fuse
            // those into FMAs (one rounding fewer), so 1e-6 of the largest value, not equality.
            list.add(b, out, {1e-6});
        }
}

void matmul_cases(CaseList &list) {
    constexpr int64_t kRows = 37;
    for (uint32_t type : reference_weight_types(Op::MatMul))
        for (size_t s = 0; s < std::size(kTokenShapes); ++s) {
            const Tokens &tk = kTokenShapes[s];
            const int64_t k = odd_row(type);
            const bool bias = s % 2 == 1;
            CaseBuilder b = list.builder(std::string(type_name(type)) + " [" + std::to_string(k) +
                                             " x 37]" + (bias ? " + bias" : ""),
                                         tk);
            const graph::WeightRef &w = b.weight(type, k, kRows);
            const graph::WeightRef *bias_ref = bias ? &b.f32_vector(kRows) : nullptr;
            const TensorId out = b.graph().matmul(w, b.int8_exact_input(k), bias_ref);
            // The input is exact in every 8-bit activation format (int8_exact_input), so what
            // remains is summation order (~1e-6) and, on a device's prefill GEMM, each weight
            // rounded to fp16 (2^-11 relative, a random walk over k terms: ~1e-4 of the largest
            // output). 1e-3 holds both with margin; a wrong block, scale or row is >= 1e-2.
            list.add(b, out, {1e-3});
        }
}

const char *act_name(graph::Activation act) {
    switch (act) {
    case graph::Activation::Silu:
        return "silu";
    case graph::Activation::GeluTanh:
        return "gelu_tanh";
    case graph::Activation::SwigluOai:
        return "swiglu_oai";
    }
    return "?";
}

// One MoeFfn case: 5 experts of `type`, 3 per token on random routes; biases: each product adds
// its expert's F32 bias row (gpt-oss).
void moe_ffn_case(CaseList &list, uint32_t type, const Tokens &tk, graph::Activation act,
                  bool biases) {
    constexpr int32_t kExperts = 5, kUsed = 3;
    const bool plain = type_traits(type)->block_elems == 1;
    const bool k256 = type_traits(type)->block_elems == 256;
    const int64_t n_embd = plain ? 67 : k256 ? 256 : 64;
    const int64_t n_ff = plain ? 45 : k256 ? 256 : 96;
    CaseBuilder b = list.builder(std::string(type_name(type)) + " " + std::to_string(kExperts) +
                                     " experts of [" + std::to_string(n_embd) + " -> " +
                                     std::to_string(n_ff) + "], k " + std::to_string(kUsed) + ", " +
                                     act_name(act) + (biases ? ", expert biases" : ""),
                                 tk);
    graph::GraphBuilder &g = b.graph();
    g.set_layer(0);
    const TensorId x = b.int8_exact_input(n_embd);
    const graph::GraphBuilder::Route route = g.moe_route(b.placeholder(kExperts), kUsed, false);
    // Each token's k distinct experts, in random order, with random positive weights.
    std::vector<int32_t> ids;
    std::vector<float> weights;
    for (int64_t t = 0; t < tk.n; ++t) {
        int32_t order[kExperts] = {0, 1, 2, 3, 4};
        for (int32_t j = 0; j < kUsed; ++j) {
            std::swap(order[j], order[j + b.below(kExperts - j)]);
            ids.push_back(order[j]);
            weights.push_back(0.2f + 0.1f * std::abs(b.normal()));
        }
    }
    b.set_rows(route.ids, ids);
    b.set_rows(route.weights, weights);
    const graph::WeightRef &gate = b.weight(type, n_embd, n_ff, kExperts);
    const graph::WeightRef &up = b.weight(type, n_embd, n_ff, kExperts);
    const graph::WeightRef &down = b.weight(type, n_ff, n_embd, kExperts);
    const graph::WeightRef *bias[3] = {};
    if (biases) { // [n][n_expert] each
        const auto f32 = static_cast<uint32_t>(TypeId::F32);
        bias[0] = &b.weight(f32, n_ff, kExperts);
        bias[1] = &b.weight(f32, n_ff, kExperts);
        bias[2] = &b.weight(f32, n_embd, kExperts);
    }
    const TensorId out = g.moe_ffn(x, route, gate, up, down, act, biases ? bias : nullptr);
    // Like MatMul for the gate and up products, but the down product's input,
    // act(gate x) * up x, is not exact in 8 bits: the CPU quantizes it (Q8_0 per 32,
    // Q8_K per 256), which alone puts its output up to 1.7% (of the largest output) from
    // exact float math on these cases, and a backend that keeps it in float or picks
    // another 8-bit format differs from the CPU by that much or ~1.4x more. Hence 5%;
    // a wrong expert, weight or row is off by the output's own size. Float weights
    // keep float activations: the MatMul bound.
    list.add(b, out, {plain ? 1e-3 : 5e-2});
}

void moe_ffn_cases(CaseList &list) {
    for (uint32_t type : reference_weight_types(Op::MoeFfn))
        for (const Tokens &tk : kTokenShapes)
            moe_ffn_case(list, type, tk,
                         tk.n % 2 ? graph::Activation::Silu : graph::Activation::GeluTanh, false);
    // gpt-oss: its MXFP4 experts, and others, with biases and the clamped SwiGLU.
    for (const TypeId type : {TypeId::MXFP4, TypeId::Q8_0, TypeId::F16})
        for (const Tokens &tk : kTokenShapes)
            moe_ffn_case(list, static_cast<uint32_t>(type), tk, graph::Activation::SwigluOai, true);
}

// ---- Normalization, elementwise ------------------------------------------------------------

void rms_norm_cases(CaseList &list) {
    struct Shape {
        int64_t width, group;
    };
    for (const Shape &sh : {Shape{67, 67}, Shape{120, 40}}) // whole rows; 3 heads of 40
        for (bool weighted : {true, false})
            for (const Tokens &tk : kTokenShapes) {
                CaseBuilder b = list.builder("width " + std::to_string(sh.width) + " groups of " +
                                                 std::to_string(sh.group) +
                                                 (weighted ? ", weight" : ", no weight"),
                                             tk);
                const TensorId x = b.input(sh.width, 3.0f);
                const graph::WeightRef *w = weighted ? &b.f32_vector(sh.group) : nullptr;
                const TensorId out = b.graph().rms_norm(x, w, 1e-6f, sh.group);
                // A sum of squares over <= 67 floats in any order, then 1/sqrt: a few ulp.
                list.add(b, out, {1e-5});
            }
}

void add_cases(CaseList &list) {
    for (const Tokens &tk : kTokenShapes) {
        CaseBuilder b = list.builder("width 67", tk);
        const TensorId out = b.graph().add(b.input(67), b.input(67));
        list.add(b, out, {0}); // one IEEE rounding per element: the same bits everywhere
    }
}

void scale_cases(CaseList &list) {
    for (const Tokens &tk : kTokenShapes) {
        CaseBuilder b = list.builder("width 67 by 0.3", tk);
        const TensorId out = b.graph().scale(b.input(67), 0.3f);
        list.add(b, out, {0}); // one IEEE rounding per element
    }
}

void glu_cases(CaseList &list) {
    for (graph::Activation act :
         {graph::Activation::Silu, graph::Activation::GeluTanh, graph::Activation::SwigluOai})
        for (const Tokens &tk : kTokenShapes) {
            CaseBuilder b = list.builder(std::string(act_name(act)) + " width 67", tk);
            // Gates up to ~10 in size reach both tails of the activation; the clamped SwiGLU's
            // ups as large reach its clamp (7) too.
            const float up_scale = act == graph::Activation::SwigluOai ? 3.0f : 1.0f;
            const TensorId out = b.graph().glu(b.input(67, 3.0f), b.input(67, up_scale), act);
            // One exp or tanh per element from another math library (a GPU's are within 2 ulp)
            // and a few multiplies: a few ulp of the largest value.
            list.add(b, out, {1e-5});
        }
}

void select_last_cases(CaseList &list) {
    for (const Tokens &tk : kTokenShapes) {
        CaseBuilder b = list.builder("width 67", tk);
        const TensorId out = b.graph().select_last(b.input(67));
        list.add(b, out, {0}); // a copy
    }
}

void sigmoid_gate_cases(CaseList &list) {
    for (const Tokens &tk : kTokenShapes) {
        CaseBuilder b = list.builder("width 67", tk);
        const TensorId out = b.graph().sigmoid_gate(b.input(67), b.input(1, 3.0f));
        // One exp per row and a multiply: a few ulp of each value.
        list.add(b, out, {1e-5});
    }
}

// ---- Positions and the KV cache ------------------------------------------------------------

void rope_cases(CaseList &list) {
    struct Shape {
        int32_t n_head, head_dim, n_rot;
        graph::RopeMode mode;
        float base, freq_scale;
        bool factors;
        bool yarn = false;
    };
    const Shape shapes[] = {
        {3, 24, 24, graph::RopeMode::Normal, 10000.0f, 1.0f, false},
        {2, 40, 16, graph::RopeMode::Neox, 1e6f, 0.25f, true}, // partial rotation, llama3 factors
        {5, 64, 64, graph::RopeMode::Neox, 10000.0f, 1.0f, false},
        {4, 64, 64, graph::RopeMode::Neox, 150000.0f, 1.0f / 32, false, true}, // gpt-oss's YaRN
    };
    for (const Shape &sh : shapes)
        for (const Tokens &tk : kTokenShapes) {
            CaseBuilder b = list.builder(
                std::string(sh.mode == graph::RopeMode::Neox ? "neox" : "normal") + " " +
                    std::to_string(sh.n_head) + " heads of " + std::to_string(sh.head_dim) +
                    ", n_rot " + std::to_string(sh.n_rot) + (sh.factors ? ", freq factors" : "") +
                    (sh.yarn ? ", YaRN" : ""),
                tk);
            const float *factors = nullptr;
            if (sh.factors) {
                std::vector<float> &f = b.data().freq_factors;
                for (int32_t i = 0; i < sh.n_rot / 2; ++i)
                    f.push_back(1.0f + 3.0f * (b.below(100) / 100.0f));
                factors = f.data();
            }
            const TensorId x = b.input(int64_t{sh.n_head} * sh.head_dim);
            b.positions_from(static_cast<int32_t>(b.below(2000)));
            const graph::RopeYarn yarn =
                sh.yarn ? graph::rope_yarn(sh.n_rot, 4096, sh.base, 0.78f) : graph::RopeYarn{};
            const TensorId out = b.graph().rope(x, sh.n_head, sh.head_dim, sh.n_rot, sh.mode,
                                                sh.base, sh.freq_scale, factors, yarn);
            // Angles up to ~2000 rad: one ulp of theta (or of the pos * theta product) is
            // ~1e-4 rad there, and sin/cos come from different libraries: 1e-3.
            list.add(b, out, {1e-3});
        }
}

void kv_store_cases(CaseList &list) {
    constexpr int32_t kHeads = 3, kHeadDim = 40, kCtx = 100;
    for (uint32_t kv_type : {1u, 0u})
        for (const Tokens &tk : kTokenShapes) {
            CaseBuilder b = list.builder(std::string(kv_type ? "F16" : "F32") + " cache, " +
                                             std::to_string(kHeads) + " heads of " +
                                             std::to_string(kHeadDim) + ", n_ctx 100",
                                         tk);
            b.graph().set_layer(0);
            b.kv_cache(kv_type, kCtx, kHeads, kHeadDim);
            const TensorId k = b.input(kHeads * kHeadDim), v = b.input(kHeads * kHeadDim);
            b.positions_from(static_cast<int32_t>(b.below(static_cast<uint32_t>(kCtx - tk.n + 1))));
            b.graph().kv_store(0, k, v, kHeads, kHeadDim);
            // The whole cache is compared: written rows are copies (F16: round to nearest even,
            // defined bit for bit), the others must not change.
            list.add(b, graph::kNoTensor, {0});
        }
    // Values of their own size in their own plane.
    for (const Tokens &tk : kTokenShapes) {
        CaseBuilder b = list.builder("F32 cache, 3 heads of 40, values of 24, n_ctx 100", tk);
        b.graph().set_layer(0);
        b.kv_cache(0, kCtx, kHeads, kHeadDim, 24, false);
        const TensorId k = b.input(kHeads * kHeadDim), v = b.input(kHeads * 24);
        b.positions_from(static_cast<int32_t>(b.below(static_cast<uint32_t>(kCtx - tk.n + 1))));
        b.graph().kv_store(0, k, v, kHeads, kHeadDim);
        list.add(b, graph::kNoTensor, {0});
    }
    // Keys alone (MLA: one row of latent and rope key per position, no V plane).
    for (const Tokens &tk : kTokenShapes) {
        CaseBuilder b = list.builder("F16 cache of keys alone, 1 head of 72, n_ctx 100", tk);
        b.graph().set_layer(0);
        b.kv_cache(1, kCtx, 1, 72, 56, true);
        const TensorId k = b.input(72);
        b.positions_from(static_cast<int32_t>(b.below(static_cast<uint32_t>(kCtx - tk.n + 1))));
        b.graph().kv_store(0, k, graph::kNoTensor, 1, 72);
        list.add(b, graph::kNoTensor, {0});
    }
}

void attention_cases(CaseList &list) {
    struct Shape {
        int32_t n_head, n_head_kv, head_dim;
        float scale, softcap;
        int32_t window;
        int32_t head_dim_v = 0; // the values' size, inside the keys (MLA's latent)
        // Sink logits (gpt-oss), mean + spread * normal per head; spread 0: none. The logits
        // here are about 2 in size (q 2, keys 1, scaled), so a sink of 14 outweighs every key.
        float sink_mean = 0.0f, sink_spread = 0.0f;
        bool v_in_k = true; // false: head_dim_v-sized values in their own plane
    };
    const Shape shapes[] = {
        {4, 2, 40, 0.158f, 0.0f, 0},       // grouped-query
        {3, 3, 64, 0.125f, 0.0f, 7},       // sliding window
        {6, 1, 24, 0.204f, 30.0f, 0},      // one kv head, soft-capped logits
        {5, 1, 72, 0.117f, 0.0f, 0, 56},   // multi-head latent attention: values in the keys
        {4, 1, 576, 0.072f, 0.0f, 0, 512}, // DeepSeek-V3's: latent 512 and rope key 64
        {4, 2, 40, 0.158f, 0.0f, 5, 24, 0.0f, 0.0f, false}, // values smaller than the keys
        {4, 2, 40, 0.158f, 0.0f, 0, 0, 0.0f, 2.0f},         // sinks among the keys' logits
        {4, 4, 64, 0.125f, 0.0f, 7, 0, 14.0f, 1.0f},        // window with dominant sinks
    };
    for (uint32_t kv_type : {1u, 0u})
        for (const Shape &sh : shapes)
            for (const Tokens &tk : kTokenShapes) {
                CaseBuilder b = list.builder(
                    std::string(kv_type ? "F16" : "F32") + " cache, " + std::to_string(sh.n_head) +
                        "/" + std::to_string(sh.n_head_kv) + " heads of " +
                        std::to_string(sh.head_dim) +
                        (sh.window ? ", window " + std::to_string(sh.window) : "") +
                        (sh.softcap > 0 ? ", softcap" : "") +
                        (sh.head_dim_v ? (sh.v_in_k ? ", values in keys " : ", values of ") +
                                             std::to_string(sh.head_dim_v)
                                       : "") +
                        (sh.sink_spread > 0 ? sh.sink_mean > 0 ? ", dominant sinks" : ", sinks"
                                            : ""),
                    tk);
                // n_ctx 300 gives a device's one-token graph several flash-decoding splits; the
                // batches see up to 96 keys (the emulator runs every key of every (token, head)).
                const int64_t n_ctx = tk.max == 1 ? 300 : 96;
                b.graph().set_layer(0);
                const bool mla = sh.head_dim_v > 0 && sh.v_in_k;
                b.kv_cache(kv_type, n_ctx, sh.n_head_kv, sh.head_dim, sh.head_dim_v, mla);
                const TensorId q = b.input(int64_t{sh.n_head} * sh.head_dim, 2.0f);
                // Late positions: a decode step then sees nearly the whole cache.
                b.positions_from(static_cast<int32_t>(n_ctx - tk.n - b.below(16)));
                const graph::GraphBuilder::KvDims dims{
                    sh.head_dim, sh.head_dim_v ? sh.head_dim_v : sh.head_dim, mla};
                const float *sinks =
                    sh.sink_spread > 0
                        ? static_cast<const float *>(
                              b.f32_vector(sh.n_head, sh.sink_mean, sh.sink_spread).data)
                        : nullptr;
                const TensorId out = b.graph().attention(0, q, sh.n_head, sh.n_head_kv, dims,
                                                         sh.scale, sh.softcap, sh.window, sinks);
                // Softmax-weighted sums of up to 300 rows in another order (online softmax,
                // split partials merged): a few float roundings per key, ~1.5e-6 measured on
                // the CPU and the emulator; 1e-5. One key too many or too few moves the output
                // by ~1/300 of its size or more.
                list.add(b, out, {1e-5});
            }
}

// ---- Mixture of experts routing -------------------------------------------------------------

void moe_route_cases(CaseList &list) {
    struct Shape {
        int32_t n_expert, k;
        bool norm;
        graph::RouteFn fn = graph::RouteFn::Softmax;
        bool bias = false;
        int32_t n_group = 0, n_group_used = 0;
        float scale = 1.0f;
    };
    using graph::RouteFn;
    for (const Shape &sh :
         {Shape{7, 3, false}, Shape{13, 4, true}, Shape{5, 1, false}, Shape{61, 7, true},
          Shape{9, 3, false, RouteFn::SoftmaxTopK},
          // DeepSeek-V3: sigmoid, a selection bias, 4 of 8 groups, normalized and scaled
          Shape{64, 8, true, RouteFn::Sigmoid, true, 8, 4, 2.5f},
          // DeepSeek-V2: softmax in groups, scaled
          Shape{24, 6, false, RouteFn::Softmax, false, 6, 3, 16.0f}})
        for (const Tokens &tk : kTokenShapes) {
            const char *fn = sh.fn == RouteFn::Sigmoid       ? ", sigmoid"
                             : sh.fn == RouteFn::SoftmaxTopK ? ", top-k softmax"
                                                             : "";
            CaseBuilder b =
                list.builder(std::to_string(sh.n_expert) + " experts, k " + std::to_string(sh.k) +
                                 (sh.norm ? ", normalized" : "") + fn + (sh.bias ? ", bias" : "") +
                                 (sh.n_group ? ", groups " + std::to_string(sh.n_group_used) + "/" +
                                                   std::to_string(sh.n_group)
                                             : "") +
                                 (sh.scale != 1.0f ? ", scaled" : ""),
                             tk);
            graph::GraphBuilder::Routing routing;
            routing.fn = sh.fn;
            routing.norm_weights = sh.norm;
            routing.scale = sh.scale;
            routing.bias = sh.bias ? &b.f32_vector(sh.n_expert) : nullptr;
            routing.n_group = sh.n_group;
            routing.n_group_used = sh.n_group_used;
            const graph::GraphBuilder::Route r =
                b.graph().moe_route(b.input(sh.n_expert, 2.0f), sh.k, routing);
            // The ids compare exactly; the weights are softmax values: exp from different
            // libraries and sums in another order, a few ulp: 1e-5.
            list.add(b, r.ids, {1e-5});
        }
}

// ---- Views of head-structured rows (multi-head latent attention) ----------------------------

void slice_cases(CaseList &list) {
    for (const Tokens &tk : kTokenShapes) {
        CaseBuilder b = list.builder("5 groups of 9 from 24 at 13", tk);
        const TensorId out = b.graph().slice(b.input(5 * 24 + 3), 5, 9, 24, 13);
        list.add(b, out, {0}); // a copy
    }
}

void concat_cases(CaseList &list) {
    for (const Tokens &tk : kTokenShapes) {
        CaseBuilder b = list.builder("3 groups of 11 then 5", tk);
        const TensorId out = b.graph().concat(b.input(3 * 11), b.input(3 * 5), 3);
        list.add(b, out, {0}); // a copy
    }
}

void head_matmul_cases(CaseList &list) {
    constexpr int64_t kHeads = 3, kRows = 37;
    for (uint32_t type : reference_weight_types(Op::HeadMatMul))
        for (const Tokens &tk : kTokenShapes) {
            // Each head's input, then more: 32 more keeps the 8-bit blocks whole (the input is
            // exact in them, as for MatMul); float weights take an odd 5.
            const int64_t k = odd_row(type);
            const int64_t stride = k + (type_traits(type)->block_elems == 1 ? 5 : 32);
            CaseBuilder b = list.builder(
                std::string(type_name(type)) + " 3 heads of [" + std::to_string(k) + " x 37]", tk);
            const graph::WeightRef &w = b.weight(type, k, kRows, kHeads);
            const TensorId out =
                b.graph().head_matmul(w, b.int8_exact_input(kHeads * stride), stride);
            list.add(b, out, {1e-3}); // MatMul's bound, per head
        }
}

} // namespace

std::vector<Op> all_ops() {
    // op_name's answer for a value past the enum, whatever its wording.
    const char *unknown = graph::op_name(static_cast<Op>(UINT8_MAX));
    std::vector<Op> ops;
    for (int i = 0; i < UINT8_MAX && std::strcmp(graph::op_name(static_cast<Op>(i)), unknown) != 0;
         ++i)
        ops.push_back(static_cast<Op>(i));
    return ops;
}

std::vector<uint32_t> reference_weight_types(Op op) {
    if (op != Op::Embed && op != Op::MatMul && op != Op::MoeFfn && op != Op::HeadMatMul) return {};
    std::vector<uint32_t> types;
    for (uint32_t type = 0; type < 256; ++type) {
        if (!type_traits(type)) continue;
        graph::WeightRef w;
        w.name = "probe";
        w.type = type;
        graph::Node n;
        n.op = op;
        n.w = n.w2 = n.w3 = &w; // MatMul's w2 is its bias: left out below
        if (op == Op::MatMul) n.w2 = nullptr;
        if (cpu_backend_entry().supports(n, graph::Graph{}).is_ok()) types.push_back(type);
    }
    return types;
}

Cases make_cases(Op op) {
    Cases cases;
    CaseList list(op, cases);
    switch (op) {
    case Op::Embed:
        embed_cases(list);
        break;
    case Op::RmsNorm:
        rms_norm_cases(list);
        break;
    case Op::MatMul:
        matmul_cases(list);
        break;
    case Op::Add:
        add_cases(list);
        break;
    case Op::Scale:
        scale_cases(list);
        break;
    case Op::Rope:
        rope_cases(list);
        break;
    case Op::KvStore:
        kv_store_cases(list);
        break;
    case Op::Attention:
        attention_cases(list);
        break;
    case Op::Glu:
        glu_cases(list);
        break;
    case Op::SelectLast:
        select_last_cases(list);
        break;
    case Op::MoeRoute:
        moe_route_cases(list);
        break;
    case Op::MoeFfn:
        moe_ffn_cases(list);
        break;
    case Op::SigmoidGate:
        sigmoid_gate_cases(list);
        break;
    case Op::Slice:
        slice_cases(list);
        break;
    case Op::Concat:
        concat_cases(list);
        break;
    case Op::HeadMatMul:
        head_matmul_cases(list);
        break;
    }
    return cases;
}

} // namespace infer::conformance
