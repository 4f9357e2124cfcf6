// Mixture-of-experts kernels: routing against its sorting reference (exactly, ties included), the
// grouped expert FFN against the token-by-token reference for several weight types, odd sizes,
// 1-3 threads and every ISA, with tokens that share experts, and the selection counts; expert
// subsets (per-expert offload): fast against reference, and the two complementary halves adding
// up to the whole.
#include "cpu/cpu_moe.h"
#include "cpu/cpu_ops.h"
#include "cpu/cpu_repack.h"
#include "cpu_test_data.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <set>
#include <vector>

using namespace infer;
using namespace infer::cpu;
using namespace infer::test;

namespace {

struct Routed {
    std::vector<int32_t> ids;
    std::vector<float> weights;
};

// moe_route split across nth "threads" called one after another (valid: slices are disjoint).
Routed route_fast(const std::vector<float> &logits, int64_t t, int n_expert, int k, bool norm,
                  int nth, RouteFn fn = RouteFn::softmax, const RouteOptions &opt = {}) {
    Routed r{std::vector<int32_t>(static_cast<size_t>(t * k), -1),
             std::vector<float>(static_cast<size_t>(t * k), NAN)};
    for (int ith = 0; ith < nth; ++ith)
        moe_route(logits.data(), t, n_expert, k, norm, r.ids.data(), r.weights.data(), ith, nth, fn,
                  opt);
    return r;
}

Routed route_ref(const std::vector<float> &logits, int64_t t, int n_expert, int k, bool norm,
                 RouteFn fn = RouteFn::softmax, const RouteOptions &opt = {}) {
    Routed r{std::vector<int32_t>(static_cast<size_t>(t * k)),
             std::vector<float>(static_cast<size_t>(t * k))};
    moe_route_ref(logits.data(), t, n_expert, k, norm, r.ids.data(), r.weights.data(), fn, opt);
    return r;
}

// Stacked random experts of one type: n_expert matrices of n rows x k.
struct Experts {
    std::vector<uint8_t> bytes;
    ExpertWeights view;
};

Experts random_experts(TypeId type, int64_t k, int64_t n, int64_t n_expert, std::mt19937 &rng) {
    const TypeCase *tc = nullptr;
    for (const TypeCase &c : kTypes)
        if (c.type == type) tc = &c;
    REQUIRE(tc);
    Experts e;
    e.bytes = random_weights(*tc, k, n * n_expert, rng);
    const auto row_bytes = static_cast<uint64_t>(k / tc->block_elems * tc->block_bytes);
    e.view = {static_cast<uint32_t>(type), k, n, n_expert, e.bytes.data(), row_bytes,
              row_bytes * static_cast<uint64_t>(n)};
    return e;
}

// Runs the cooperative moe_ffn on `pool` with 64-byte aligned scratch.
std::vector<float> ffn_fast(const MoeFfn &f, const std::vector<float> &x, const Routed &r,
                            int64_t t, int k, ThreadPool &pool, CpuIsa isa,
                            std::vector<uint64_t> *counts) {
    std::vector<uint8_t> scratch(moe_ffn_scratch_bytes(f, t, k, pool.size()) + 64);
    void *aligned = scratch.data() + (64 - reinterpret_cast<uintptr_t>(scratch.data()) % 64);
    std::vector<float> y(static_cast<size_t>(t * f.down.n), NAN);
    struct Ctx {
        const MoeFfn *f;
        const float *x;
        const Routed *r;
        int64_t t;
        int k;
        float *y;
        void *scratch;
        uint64_t *counts;
        ThreadPool *pool;
        CpuIsa isa;
    } ctx{&f, x.data(), &r, t, k, y.data(), aligned, counts ? counts->data() : nullptr, &pool, isa};
    pool.run(
        [](void *p, int ith, int nth) {
            auto *c = static_cast<Ctx *>(p);
            moe_ffn(*c->f, c->x, c->r->ids.data(), c->r->weights.data(), c->t, c->k, c->y,
                    c->scratch, c->counts, ith, nth, *c->pool, c->isa);
        },
        &ctx);
    return y;
}

// Elements of got that differ from want by more than the SIMD tolerance (exact for Scalar, whose
// path runs the reference's own functions). SIMD dot products round differently, which can move
// an intermediate value across an 8-bit quantization step before down: the bound is relative to
// the token's largest output.
int count_mismatches(const std::vector<float> &got, const std::vector<float> &want, int64_t t,
                     int64_t n_embd, CpuIsa isa) {
    int bad = 0;
    for (int64_t tok = 0; tok < t; ++tok) {
        const float *a = got.data() + tok * n_embd;
        const float *b = want.data() + tok * n_embd;
        float scale = 0;
        for (int64_t i = 0; i < n_embd; ++i) scale = std::max(scale, std::fabs(b[i]));
        for (int64_t i = 0; i < n_embd; ++i)
            if (isa == CpuIsa::Scalar ? a[i] != b[i] : !(std::fabs(a[i] - b[i]) <= 2e-2f * scale))
                ++bad;
    }
    return bad;
}

// The counts moe_ffn must keep: one per (token, slot) whose expert f computes.
std::vector<uint64_t> want_counts(const MoeFfn &f, const Routed &r, int n_expert) {
    std::vector<uint64_t> c(static_cast<size_t>(n_expert), 0);
    for (int32_t id : r.ids)
        if (f.computes(id)) ++c[static_cast<size_t>(id)];
    return c;
}

// moe_ffn at every ISA on every pool against want (moe_ffn_ref's output), and its counts.
template <size_t N>
void check_fast(const MoeFfn &f, const std::vector<float> &x, const Routed &r, int64_t t, int k,
                const std::vector<float> &want, const std::vector<CpuIsa> &isas,
                ThreadPool (&pools)[N]) {
    const auto n_expert = static_cast<int>(f.gate.n_expert);
    for (CpuIsa isa : isas) {
        for (ThreadPool &pool : pools) {
            CAPTURE(std::string(cpu_isa_name(isa)));
            CAPTURE(pool.size());
            std::vector<uint64_t> counts(static_cast<size_t>(n_expert), 0);
            const std::vector<float> got = ffn_fast(f, x, r, t, k, pool, isa, &counts);
            CHECK(count_mismatches(got, want, t, f.down.n, isa) == 0);
            CHECK(counts == want_counts(f, r, n_expert));
        }
    }
}

struct FfnCase {
    TypeId gate, up, down;
    int64_t n_embd, n_ff;
};

// e's stack in the CPU's interleaved layout for its type (as the model repacks it, expert by
// expert), or a copy of it when the type has none.
Experts repacked_experts(const Experts &e) {
    const ExpertWeights &v = e.view;
    const WeightLayout layout = test_layout(static_cast<TypeId>(v.type));
    if (layout == WeightLayout::Rows) return e;
    Experts out;
    const uint64_t matrix = layout_matrix_bytes(v.type, layout, v.k, v.n);
    out.bytes.resize(matrix * static_cast<uint64_t>(v.n_expert));
    for (int64_t x = 0; x < v.n_expert; ++x)
        repack_matrix(v.type, layout, v.k, v.n, e.bytes.data() + x * v.expert_stride, v.row_bytes,
                      out.bytes.data() + x * matrix);
    out.view = v;
    out.view.data = out.bytes.data();
    out.view.expert_stride = matrix;
    out.view.layout = layout;
    return out;
}

} // namespace

TEST_CASE("moe_route matches its reference exactly, and ties go to the lower expert id") {
    std::mt19937 rng(7);
    for (RouteFn fn : {RouteFn::softmax, RouteFn::softmax_topk})
        for (int n_expert : {1, 5, 64}) {
            for (int k : {1, 3, n_expert}) {
                if (k > n_expert) continue;
                for (bool norm : {false, true}) {
                    const int64_t t = 9;
                    std::vector<float> logits = random_floats(t * n_expert, rng);
                    // Token 0: all equal; token 1: a tie in the middle of the order.
                    std::fill(logits.begin(), logits.begin() + n_expert, 0.25f);
                    if (n_expert >= 5)
                        for (int e : {1, 3, 4})
                            logits[static_cast<size_t>(n_expert + e)] = 8.0f;
                    const Routed want = route_ref(logits, t, n_expert, k, norm, fn);
                    for (int nth : {1, 2, 3}) {
                        CAPTURE(static_cast<int>(fn));
                        CAPTURE(n_expert);
                        CAPTURE(k);
                        CAPTURE(nth);
                        const Routed got = route_fast(logits, t, n_expert, k, norm, nth, fn);
                        CHECK(got.ids == want.ids);
                        CHECK(std::equal(got.weights.begin(), got.weights.end(),
                                         want.weights.begin()));
                    }
                    for (int j = 0; j < k; ++j)
                        CHECK(want.ids[static_cast<size_t>(j)] == j);
                    if (n_expert >= 5 && k >= 3) {
                        CHECK(want.ids[static_cast<size_t>(k)] == 1);
                        CHECK(want.ids[static_cast<size_t>(k + 1)] == 3);
                        CHECK(want.ids[static_cast<size_t>(k + 2)] == 4);
                    }
                    for (int64_t tok = 0; tok < t; ++tok) {
                        const float *w = want.weights.data() + tok * k;
                        const double sum = std::accumulate(w, w + k, 0.0);
                        // softmax_topk's weights are a softmax over the k: they sum to 1 as well.
                        if (norm || fn == RouteFn::softmax_topk)
                            CHECK(sum == doctest::Approx(1.0).epsilon(1e-6));
                        else
                            CHECK(sum <= 1.0 + 1e-6);
                        for (int j = 1; j < k; ++j)
                            CHECK(w[j] <= w[j - 1]);
                    }
                }
            }
        }
}

TEST_CASE("moe_route known values: softmax probabilities, renormalized or not") {
    const std::vector<float> logits = {0.0f, std::log(2.0f), std::log(4.0f), std::log(1.0f)};
    // p = {1, 2, 4, 1} / 8; top 2 = experts 2 and 1.
    Routed r = route_ref(logits, 1, 4, 2, false);
    CHECK(r.ids == std::vector<int32_t>{2, 1});
    CHECK(r.weights[0] == doctest::Approx(0.5));
    CHECK(r.weights[1] == doctest::Approx(0.25));
    r = route_ref(logits, 1, 4, 2, true); // Mixtral: softmax over the two selected logits
    CHECK(r.weights[0] == doctest::Approx(2.0 / 3));
    CHECK(r.weights[1] == doctest::Approx(1.0 / 3));
    // gpt-oss: the top 2 logits, then a softmax over those two alone: the same weights.
    for (int nth : {1, 2}) {
        r = nth == 1 ? route_ref(logits, 1, 4, 2, false, RouteFn::softmax_topk)
                     : route_fast(logits, 1, 4, 2, false, 1, RouteFn::softmax_topk);
        CHECK(r.ids == std::vector<int32_t>{2, 1});
        CHECK(r.weights[0] == doctest::Approx(2.0 / 3));
        CHECK(r.weights[1] == doctest::Approx(1.0 / 3));
    }
    // The ranking is by logit: a logit of 3 beats two of 2.9 whatever the others are.
    const std::vector<float> l2 = {2.9f, 3.0f, 2.9f, -1.0f};
    r = route_ref(l2, 1, 4, 3, false, RouteFn::softmax_topk);
    CHECK(r.ids == std::vector<int32_t>{1, 0, 2});
    const double e = std::exp(-0.1);
    CHECK(r.weights[0] == doctest::Approx(1.0 / (1 + 2 * e)));
    CHECK(r.weights[1] == doctest::Approx(e / (1 + 2 * e)));
}

TEST_CASE("moe_route, DeepSeek's way: sigmoid scores, selection bias, groups, scaled weights") {
    // 8 experts in 4 groups of 2. Sigmoid scores s; the bias lifts experts 6 and 7.
    const std::vector<float> logits = {2.0f, -1.0f, 1.0f, 1.5f, 0.5f, -2.0f, -0.5f, -3.0f};
    const std::vector<float> bias = {0, 0, 0, 0, 0, 0, 1.0f, 1.0f};
    auto sigmoid = [](float x) { return 1.0 / (1.0 + std::exp(-double(x))); };
    // Group sums of the biased scores: g0 0.88+0.27, g1 0.73+0.82, g2 0.62+0.12, g3 1.38+1.05.
    // The best 2 groups: 3 and 1; k 3 from {2, 3, 6, 7} by biased score: 6 (1.38), 7 (1.05),
    // 3 (0.82). Expert 0 (the best unbiased score) is in a group left out.
    RouteOptions opt{bias.data(), 4, 2, 2.5f};
    for (int nth : {0, 1, 2}) { // 0: the reference
        const Routed r = nth == 0 ? route_ref(logits, 1, 8, 3, true, RouteFn::sigmoid, opt)
                                  : route_fast(logits, 1, 8, 3, true, nth, RouteFn::sigmoid, opt);
        CAPTURE(nth);
        CHECK(r.ids == std::vector<int32_t>{6, 7, 3});
        // Weights: the unbiased scores, normalized, times 2.5.
        const double sum = sigmoid(-0.5f) + sigmoid(-3.0f) + sigmoid(1.5f);
        CHECK(r.weights[0] == doctest::Approx(2.5 * sigmoid(-0.5f) / sum));
        CHECK(r.weights[1] == doctest::Approx(2.5 * sigmoid(-3.0f) / sum));
        CHECK(r.weights[2] == doctest::Approx(2.5 * sigmoid(1.5f) / sum));
    }
    // Without the bias and groups: the three best sigmoid scores, unnormalized.
    const Routed plain = route_fast(logits, 1, 8, 3, false, 1, RouteFn::sigmoid);
    CHECK(plain.ids == std::vector<int32_t>{0, 3, 2});
    CHECK(plain.weights[0] == doctest::Approx(sigmoid(2.0f)));

    // Random logits and biases: fast equals the reference bit for bit, for every function.
    std::mt19937 rng(11);
    for (RouteFn fn : {RouteFn::softmax, RouteFn::softmax_topk, RouteFn::sigmoid})
        for (int groups : {0, 4, 8}) {
            const int n_expert = 64, k = 6, t = 7;
            const std::vector<float> l = random_floats(t * n_expert, rng);
            const std::vector<float> b = random_floats(n_expert, rng);
            const RouteOptions o{b.data(), groups, groups ? groups / 2 : 0, 1.5f};
            const Routed want = route_ref(l, t, n_expert, k, true, fn, o);
            for (int nth : {1, 3}) {
                const Routed got = route_fast(l, t, n_expert, k, true, nth, fn, o);
                CAPTURE(static_cast<int>(fn));
                CAPTURE(groups);
                CHECK(got.ids == want.ids);
                CHECK(std::equal(got.weights.begin(), got.weights.end(), want.weights.begin()));
            }
            if (groups) // every chosen expert lies in one of the groups_used best groups
                for (int tok = 0; tok < t; ++tok) {
                    std::set<int> seen;
                    for (int j = 0; j < k; ++j)
                        seen.insert(want.ids[tok * k + j] / (n_expert / groups));
                    CHECK(static_cast<int>(seen.size()) <= groups / 2);
                }
        }
}

TEST_CASE("moe_ffn matches moe_ffn_ref: weight types, odd sizes, shared experts, 1-3 threads") {
    std::mt19937 rng(42);
    std::vector<CpuIsa> isas = simd_isas();
    isas.insert(isas.begin(), CpuIsa::Scalar);
    ThreadPool pools[3] = {ThreadPool(1), ThreadPool(2), ThreadPool(3)};

    std::vector<FfnCase> cases;
    // Every type as gate/up (n_ff 45: a partial row block and odd rows), down in F16 (any k).
    for (const TypeCase &tc : kTypes) cases.push_back({tc.type, tc.type, TypeId::F16, test_k(tc), 45});
    // Q4_K_M-like: K-quants with Q6_K down; gate and up in different activation formats.
    cases.push_back({TypeId::Q4_K, TypeId::Q4_K, TypeId::Q6_K, 256, 256 + 32 * 3});
    cases.push_back({TypeId::Q4_K, TypeId::Q8_0, TypeId::Q5_0, 256, 96});
    // One token's run over an expert's n_ff rows is longer than the up buffer (2048 rows).
    cases.push_back({TypeId::Q4_0, TypeId::Q4_0, TypeId::Q8_0, 64, 2048 + 256 + 32});

    const int n_expert = 6, k = 3;
    for (const FfnCase &c : cases) {
        CAPTURE(static_cast<int>(c.gate));
        CAPTURE(static_cast<int>(c.up));
        CAPTURE(static_cast<int>(c.down));
        const Experts gate = random_experts(c.gate, c.n_embd, c.n_ff, n_expert, rng);
        const Experts up = random_experts(c.up, c.n_embd, c.n_ff, n_expert, rng);
        const Experts down = random_experts(c.down, c.n_ff, c.n_embd, n_expert, rng);
        const MoeFfn f{gate.view, up.view, down.view, GluAct::silu};
        // 70 tokens: groups larger than one 64-token chunk.
        for (int64_t t : {1, 4, 70}) {
            for (bool shared : {false, true}) {
                CAPTURE(t);
                CAPTURE(shared);
                const std::vector<float> x = random_floats(t * c.n_embd, rng);
                std::vector<float> logits = random_floats(t * n_expert, rng);
                if (shared) // every token picks experts 4, 0, 2 in that order
                    for (int64_t tok = 0; tok < t; ++tok) {
                        float *l = logits.data() + tok * n_expert;
                        std::fill(l, l + n_expert, -5.0f);
                        l[4] = 2.0f, l[0] = 1.0f, l[2] = 0.5f;
                    }
                const Routed r = route_ref(logits, t, n_expert, k, true);
                std::vector<float> want(static_cast<size_t>(t * c.n_embd));
                moe_ffn_ref(f, x.data(), r.ids.data(), r.weights.data(), t, k, want.data());
                check_fast(f, x, r, t, k, want, isas, pools);
                if (shared) CHECK(want_counts(f, r, n_expert)[4] == static_cast<uint64_t>(t));
            }
        }
    }
}

TEST_CASE("moe_ffn with expert biases and the clamped SwiGLU (gpt-oss) matches moe_ffn_ref") {
    std::mt19937 rng(17);
    std::vector<CpuIsa> isas = simd_isas();
    isas.insert(isas.begin(), CpuIsa::Scalar);
    ThreadPool pools[3] = {ThreadPool(1), ThreadPool(2), ThreadPool(3)};
    const int n_expert = 8, k = 4;
    // n_ff 96: three row blocks, the last partial.
    const int64_t n_embd = 256, n_ff = 96;
    const Experts gate = random_experts(TypeId::MXFP4, n_embd, n_ff, n_expert, rng);
    const Experts up = random_experts(TypeId::MXFP4, n_embd, n_ff, n_expert, rng);
    const Experts down = random_experts(TypeId::MXFP4, n_ff, n_embd, n_expert, rng);
    // Biases large enough that the clamp at +-7 bites on some elements.
    auto scaled = [&](int64_t n, float by) {
        std::vector<float> v = random_floats(n, rng);
        for (float &e : v)
            e *= by;
        return v;
    };
    const std::vector<float> bg = scaled(n_expert * n_ff, 4.0f);
    const std::vector<float> bu = scaled(n_expert * n_ff, 4.0f);
    const std::vector<float> bd = random_floats(n_expert * n_embd, rng);
    MoeFfn f{gate.view, up.view, down.view, GluAct::swiglu_oai};
    f.gate_bias = bg.data(), f.up_bias = bu.data(), f.down_bias = bd.data();
    MoeFfn unbiased = f;
    unbiased.gate_bias = unbiased.up_bias = unbiased.down_bias = nullptr;
    for (int64_t t : {1, 4, 70}) {
        CAPTURE(t);
        const std::vector<float> x = random_floats(t * n_embd, rng);
        const Routed r = route_ref(random_floats(t * n_expert, rng), t, n_expert, k, false,
                                   RouteFn::softmax_topk);
        std::vector<float> want(static_cast<size_t>(t * n_embd)), plain(want.size());
        moe_ffn_ref(f, x.data(), r.ids.data(), r.weights.data(), t, k, want.data());
        check_fast(f, x, r, t, k, want, isas, pools);
        moe_ffn_ref(unbiased, x.data(), r.ids.data(), r.weights.data(), t, k, plain.data());
        CHECK(count_mismatches(plain, want, t, n_embd, CpuIsa::Avx2) > 0); // the biases count
    }
    // All-zero weights: gate and up are their biases, and each token's output is the weighted
    // sum of its experts' down biases.
    std::vector<uint8_t> zeros(std::max(gate.bytes.size(), down.bytes.size()), 0);
    MoeFfn zero = f;
    zero.gate.data = zero.up.data = zero.down.data = zeros.data();
    const std::vector<float> x = random_floats(2 * n_embd, rng);
    const Routed r =
        route_ref(random_floats(2 * n_expert, rng), 2, n_expert, k, false, RouteFn::softmax_topk);
    const std::vector<float> y = ffn_fast(zero, x, r, 2, k, pools[1], cpu_isa_best(), nullptr);
    for (int64_t tok = 0; tok < 2; ++tok)
        for (int64_t i = 0; i < n_embd; i += 37) {
            double want = 0;
            for (int j = 0; j < k; ++j) {
                const int32_t e = r.ids[static_cast<size_t>(tok * k + j)];
                want += r.weights[static_cast<size_t>(tok * k + j)] *
                        bd[static_cast<size_t>(e * n_embd + i)];
            }
            CHECK(y[static_cast<size_t>(tok * n_embd + i)] == doctest::Approx(want).epsilon(1e-5));
        }
}

TEST_CASE("moe_ffn results do not depend on the thread count") {
    std::mt19937 rng(5);
    const int n_expert = 8, k = 2;
    const int64_t n_embd = 256, n_ff = 160;
    const Experts gate = random_experts(TypeId::Q4_K, n_embd, n_ff, n_expert, rng);
    const Experts up = random_experts(TypeId::Q4_K, n_embd, n_ff, n_expert, rng);
    const Experts down = random_experts(TypeId::Q8_0, n_ff, n_embd, n_expert, rng);
    const MoeFfn f{gate.view, up.view, down.view, GluAct::silu};
    ThreadPool one(1), three(3);
    // Decode has its own path, where down waits for each expert's gate/up items instead of a
    // barrier: many steps (TSan runs this test) with fresh routes.
    for (int64_t t : {1, 33}) {
        for (int step = 0; step < (t == 1 ? 40 : 1); ++step) {
            CAPTURE(t);
            CAPTURE(step);
            const std::vector<float> x = random_floats(t * n_embd, rng);
            const Routed r = route_ref(random_floats(t * n_expert, rng), t, n_expert, k, false);
            const std::vector<float> a = ffn_fast(f, x, r, t, k, one, cpu_isa_best(), nullptr);
            const std::vector<float> b = ffn_fast(f, x, r, t, k, three, cpu_isa_best(), nullptr);
            CHECK(std::equal(a.begin(), a.end(), b.begin()));
        }
    }
}

TEST_CASE("sigmoid_gate matches its reference and known values") {
    std::mt19937 rng(3);
    const int64_t rows = 7;
    const int n = 13;
    const std::vector<float> x = random_floats(rows * n, rng), g = random_floats(rows, rng);
    std::vector<float> want(x.size()), got(x.size(), NAN);
    sigmoid_gate_ref(want.data(), x.data(), g.data(), rows, n);
    for (int ith = 0; ith < 3; ++ith) sigmoid_gate(got.data(), x.data(), g.data(), rows, n, ith, 3);
    CHECK(got == want);
    const float one = 1.0f, zero = 0.0f;
    float y = 0;
    sigmoid_gate_ref(&y, &one, &zero, 1, 1);
    CHECK(y == 0.5f);
}

TEST_CASE("moe_ffn over expert subsets: fast matches reference; the two halves add up to the whole") {
    std::mt19937 rng(11);
    std::vector<CpuIsa> isas = simd_isas();
    isas.insert(isas.begin(), CpuIsa::Scalar);
    ThreadPool pools[3] = {ThreadPool(1), ThreadPool(2), ThreadPool(3)};
    const int n_expert = 7, k = 3; // odd: subsets of every parity
    const int64_t n_embd = 256, n_ff = 256 + 32 * 3;
    const Experts gate = random_experts(TypeId::Q4_K, n_embd, n_ff, n_expert, rng);
    const Experts up = random_experts(TypeId::Q4_K, n_embd, n_ff, n_expert, rng);
    const Experts down = random_experts(TypeId::Q6_K, n_ff, n_embd, n_expert, rng);
    const MoeFfn all{gate.view, up.view, down.view, GluAct::silu};

    // Slot maps: none resident (the resident subset is empty), all resident, and random ones.
    std::vector<std::vector<int32_t>> slot_maps = {std::vector<int32_t>(n_expert, -1),
                                                   std::vector<int32_t>(n_expert, 0)};
    for (int m = 0; m < 4; ++m) {
        std::vector<int32_t> slots(n_expert);
        int32_t next = 0;
        for (int32_t &s : slots) s = rng() % 2 ? next++ : -1;
        slot_maps.push_back(slots);
    }
    for (const std::vector<int32_t> &slots : slot_maps) {
        MoeFfn res = all, cpu = all;
        res.expert_slot = cpu.expert_slot = slots.data();
        res.resident = true;
        cpu.resident = false;
        for (int64_t t : {1, 5, 70}) {
            CAPTURE(t);
            const std::vector<float> x = random_floats(t * n_embd, rng);
            const Routed r = route_ref(random_floats(t * n_expert, rng), t, n_expert, k, true);
            std::vector<float> full(static_cast<size_t>(t * n_embd));
            moe_ffn_ref(all, x.data(), r.ids.data(), r.weights.data(), t, k, full.data());
            std::vector<float> half[2];
            const MoeFfn *halves[2] = {&res, &cpu};
            for (int hf = 0; hf < 2; ++hf) {
                const MoeFfn &f = *halves[hf];
                CAPTURE(f.resident);
                half[hf].resize(full.size());
                moe_ffn_ref(f, x.data(), r.ids.data(), r.weights.data(), t, k, half[hf].data());
                // A token none of whose experts is computed here gets exactly 0.
                for (int64_t tok = 0; tok < t; ++tok) {
                    bool any = false;
                    for (int j = 0; j < k; ++j) any = any || f.computes(r.ids[tok * k + j]);
                    if (any) continue;
                    for (int64_t i = 0; i < n_embd; ++i)
                        CHECK(half[hf][static_cast<size_t>(tok * n_embd + i)] == 0.0f);
                }
                check_fast(f, x, r, t, k, half[hf], isas, pools);
            }
            // Each pair lands in exactly one half; the sums differ from the whole only in the
            // order of the float additions (rounding relative to the token's scale: terms cancel).
            int bad = 0;
            for (int64_t tok = 0; tok < t; ++tok) {
                const size_t row = static_cast<size_t>(tok * n_embd);
                float scale = 0;
                for (int64_t i = 0; i < n_embd; ++i) scale = std::max(scale, std::fabs(full[row + i]));
                for (size_t i = row; i < row + static_cast<size_t>(n_embd); ++i)
                    if (!(std::fabs(half[0][i] + half[1][i] - full[i]) <= 1e-5f * scale)) ++bad;
            }
            CHECK(bad == 0);
            // Prefill streaming: the CPU's subset leaves out the experts the device streams.
            std::vector<uint8_t> streamed(static_cast<size_t>(n_expert));
            for (uint8_t &m : streamed) m = rng() % 2;
            MoeFfn rest = cpu;
            rest.streamed = streamed.data();
            for (int e = 0; e < n_expert; ++e)
                CHECK(rest.computes(e) == (slots[static_cast<size_t>(e)] < 0 && !streamed[static_cast<size_t>(e)]));
            std::vector<float> rest_y(full.size());
            moe_ffn_ref(rest, x.data(), r.ids.data(), r.weights.data(), t, k, rest_y.data());
            check_fast(rest, x, r, t, k, rest_y, isas, pools);
            const std::vector<uint64_t> cr = want_counts(res, r, n_expert),
                                        cc = want_counts(cpu, r, n_expert),
                                        ca = want_counts(all, r, n_expert);
            for (int e = 0; e < n_expert; ++e) CHECK(cr[e] + cc[e] == ca[e]);
        }
    }
}

TEST_CASE("moe_ffn over repacked expert stacks matches the file layout's reference") {
    std::mt19937 rng(5);
    std::vector<CpuIsa> isas = simd_isas();
    isas.insert(isas.begin(), CpuIsa::Scalar);
    ThreadPool pools[2] = {ThreadPool(1), ThreadPool(3)};
    // n_ff 268: 33 tiles and 4 rows after the last; all-Q4_K with down's 512 rows in 64 tiles.
    const FfnCase cases[] = {{TypeId::Q4_K, TypeId::Q4_K, TypeId::F16, 256, 268},
                             {TypeId::Q4_K, TypeId::Q4_K, TypeId::Q4_K, 512, 256},
                             {TypeId::Q4_K, TypeId::Q8_0, TypeId::Q6_K, 256, 256 + 32},
                             {TypeId::IQ4_XS, TypeId::IQ4_XS, TypeId::IQ4_XS, 256, 512}};
    const int n_expert = 5, k = 2;
    for (const FfnCase &c : cases) {
        CAPTURE(static_cast<int>(c.down));
        const Experts gate = random_experts(c.gate, c.n_embd, c.n_ff, n_expert, rng);
        const Experts up = random_experts(c.up, c.n_embd, c.n_ff, n_expert, rng);
        const Experts down = random_experts(c.down, c.n_ff, c.n_embd, n_expert, rng);
        const Experts gate_r = repacked_experts(gate), up_r = repacked_experts(up),
                      down_r = repacked_experts(down);
        REQUIRE(gate_r.view.layout != WeightLayout::Rows);
        const MoeFfn rows{gate.view, up.view, down.view, GluAct::silu};
        const MoeFfn tiles{gate_r.view, up_r.view, down_r.view, GluAct::silu};
        for (int64_t t : {1, 6, 70}) {
            CAPTURE(t);
            const std::vector<float> x = random_floats(t * c.n_embd, rng);
            const Routed r = route_ref(random_floats(t * n_expert, rng), t, n_expert, k, true);
            std::vector<float> want(static_cast<size_t>(t * c.n_embd)), got(want.size());
            moe_ffn_ref(rows, x.data(), r.ids.data(), r.weights.data(), t, k, want.data());
            moe_ffn_ref(tiles, x.data(), r.ids.data(), r.weights.data(), t, k, got.data());
            CHECK(got == want);
            check_fast(tiles, x, r, t, k, want, isas, pools);
        }
    }
}
