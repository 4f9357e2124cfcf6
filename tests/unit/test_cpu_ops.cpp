// CPU kernels: each threaded/SIMD op against its scalar reference on random data with odd sizes,
// for nth = 1, 2, 3 (threads simulated by calling ith = 0..nth-1 in turn, which is valid because no
// op has a cross-thread phase), on the AVX2 path and the scalar fallback; plus known values for
// the references themselves.
//
// Tolerances: ops whose fast path does the same float operations as the reference must match
// exactly (rope, glu, add, mul_rows, scale, softcap, kv_store). rms_norm differs only in the
// order of a double sum: |fast - ref| <= 1e-6 |ref| + 1e-7. Attention sums in another order and
// with FMA: |fast - ref| <= 2e-5 * max|ref| per output row (1e-4 with logits of tens, where the
// logits' rounding is amplified by exp; observed worst cases 2e-5 there, a few 1e-6 otherwise).
#include "core/fp16.h"
#include "cpu/cpu_isa.h"
#include "cpu/cpu_ops.h"
#include "cpu/cpu_vec.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
__attribute__((target("f16c"))) static float f16c_to_float(uint16_t h) { return _cvtsh_ss(h); }
__attribute__((target("f16c"))) static uint16_t f16c_to_half(float f) {
    return _cvtss_sh(f, _MM_FROUND_TO_NEAREST_INT);
}
#endif

using namespace infer::cpu;

namespace {

std::vector<float> random_vec(size_t n, std::mt19937 &rng, float lo = -1.0f, float hi = 1.0f) {
    std::uniform_real_distribution<float> dist(lo, hi);
    std::vector<float> v(n);
    for (float &x : v)
        x = dist(rng);
    return v;
}

// Runs body(ith, nth) for ith = 0..nth-1, once with SIMD (if the CPU has it) and once scalar;
// `check` is called after each full pass.
template <class Body, class Check> void for_each_split(Body body, Check check) {
    for (int scalar = 0; scalar < 2; scalar++) {
        simd_disable_for_testing(scalar == 1);
        for (int nth = 1; nth <= 3; nth++) {
            CAPTURE(nth);
            CAPTURE(scalar);
            for (int ith = 0; ith < nth; ith++)
                body(ith, nth);
            check();
        }
    }
    simd_disable_for_testing(false);
}

void require_equal(const std::vector<float> &a, const std::vector<float> &b) {
    REQUIRE(a.size() == b.size());
    for (size_t i = 0; i < a.size(); i++) {
        if (a[i] != b[i]) {
            CAPTURE(i);
            REQUIRE(a[i] == b[i]);
        }
    }
}

} // namespace

TEST_CASE("cpu split_range covers 0..n in order with balanced slices") {
    for (int64_t n : {0, 1, 2, 7, 100}) {
        for (int nth = 1; nth <= 5; nth++) {
            int64_t next = 0;
            for (int ith = 0; ith < nth; ith++) {
                const Range r = split_range(n, ith, nth);
                CHECK(r.begin == next);
                CHECK(r.end - r.begin >= n / nth);
                CHECK(r.end - r.begin <= n / nth + 1);
                next = r.end;
            }
            CHECK(next == n);
        }
    }
}

TEST_CASE("cpu isa: this architecture's levels, lowest first, and none of another's") {
    const CpuIsa best = cpu_isa_best();
    CHECK(cpu_isa_available(best));
    CHECK(cpu_isa_available(CpuIsa::Scalar));
    const auto levels = cpu_isa_simd_levels();
    bool at_or_below_best = best == CpuIsa::Scalar;
    for (size_t i = 0; i < levels.size(); ++i) {
        CAPTURE(std::string(cpu_isa_name(levels[i])));
        if (i > 0) CHECK(static_cast<int>(levels[i - 1]) < static_cast<int>(levels[i]));
        // every level up to the best is available, none above it
        CHECK(cpu_isa_available(levels[i]) ==
              (static_cast<int>(levels[i]) <= static_cast<int>(best)));
        at_or_below_best = at_or_below_best || levels[i] == best;
    }
    CHECK(at_or_below_best); // the best level is one of this architecture's (or scalar)
    const CpuIsa x86[] = {CpuIsa::Avx2, CpuIsa::Avx512Vnni};
    const CpuIsa arm[] = {CpuIsa::Neon, CpuIsa::NeonDotprod, CpuIsa::NeonI8mm};
#if defined(__aarch64__)
    for (CpuIsa isa : x86)
        CHECK_FALSE(cpu_isa_available(isa));
    CHECK(levels.size() == 3);
    CHECK(cpu_isa_available(CpuIsa::Neon)); // Advanced SIMD is in every ARMv8-A core
#elif defined(__x86_64__)
    for (CpuIsa isa : arm)
        CHECK_FALSE(cpu_isa_available(isa));
    CHECK(levels.size() == 2);
#endif
    (void)x86;
    (void)arm;
    for (CpuIsa isa : {CpuIsa::Scalar, CpuIsa::Avx2, CpuIsa::Avx512Vnni, CpuIsa::Neon,
                       CpuIsa::NeonDotprod, CpuIsa::NeonI8mm})
        CHECK(std::string(cpu_isa_name(isa)) != "?");
}

TEST_CASE("core fp16 conversion matches F16C bit for bit (the SIMD kernels use F16C)") {
    // every half -> float, and floats around every half boundary -> half
#if defined(__x86_64__) || defined(__i386__)
    if (!simd_active()) return; // no F16C to compare with
    for (uint32_t h = 0; h < 65536; h++) {
        const float ours = infer::fp16_to_fp32(uint16_t(h));
        const float f16c = f16c_to_float(uint16_t(h));
        if (std::isnan(f16c)) {
            CHECK(std::isnan(ours));
            continue;
        }
        uint32_t a, b;
        std::memcpy(&a, &ours, 4);
        std::memcpy(&b, &f16c, 4);
        if (a != b) {
            CAPTURE(h);
            REQUIRE(a == b);
        }
    }
    std::mt19937 rng(1);
    std::uniform_int_distribution<uint32_t> bits;
    for (int i = 0; i < 2000000; i++) {
        uint32_t u = bits(rng);
        if (i % 2) u = (u & 0x8FFFFFFFu) | 0x30000000u; // bias toward the half range
        float f;
        std::memcpy(&f, &u, 4);
        if (std::isnan(f)) continue;
        const uint16_t ours = infer::fp32_to_fp16(f);
        const uint16_t f16c = f16c_to_half(f);
        if (ours != f16c) {
            CAPTURE(u);
            REQUIRE(ours == f16c);
        }
    }
#endif
    // known values, on any CPU
    CHECK(infer::fp16_to_fp32(0x3C00) == 1.0f);
    CHECK(infer::fp16_to_fp32(0xC000) == -2.0f);
    CHECK(infer::fp16_to_fp32(0x0001) == std::ldexp(1.0f, -24));
    CHECK(infer::fp32_to_fp16(65504.0f) == 0x7BFF);
    CHECK(infer::fp32_to_fp16(65520.0f) == 0x7C00);                         // rounds up to infinity
    CHECK(infer::fp32_to_fp16(1.0f + std::ldexp(1.0f, -11)) == 0x3C00);     // tie to even (down)
    CHECK(infer::fp32_to_fp16(1.0f + 3 * std::ldexp(1.0f, -11)) == 0x3C02); // tie to even (up)
}

TEST_CASE("cpu rms_norm matches its reference") {
    std::mt19937 rng(2);
    for (int n : {1, 7, 64, 80, 257, 2048}) {
        for (int64_t rows : {1, 3, 17}) {
            for (bool weighted : {true, false}) {
                CAPTURE(n);
                CAPTURE(rows);
                CAPTURE(weighted);
                const auto x = random_vec(size_t(rows) * n, rng, -3.0f, 3.0f);
                const auto w = random_vec(size_t(n), rng, 0.0f, 2.0f);
                const float *wp = weighted ? w.data() : nullptr;
                std::vector<float> ref(x.size()), y(x.size()), one(x.size());
                rms_norm_ref(ref.data(), x.data(), wp, rows, n, 1e-6f);
                rms_norm(one.data(), x.data(), wp, rows, n, 1e-6f, 0, 1);
                for_each_split(
                    [&](int ith, int nth) {
                        rms_norm(y.data(), x.data(), wp, rows, n, 1e-6f, ith, nth);
                    },
                    [&] {
                        for (size_t i = 0; i < y.size(); i++)
                            REQUIRE(std::fabs(y[i] - ref[i]) <= 1e-6f * std::fabs(ref[i]) + 1e-7f);
                        // split by rows or, for fewer rows than threads, by elements: one
                        // thread's bits
                        REQUIRE(y == one);
                    });
                // in place gives the same
                std::vector<float> inplace = x;
                rms_norm(inplace.data(), inplace.data(), wp, rows, n, 1e-6f, 0, 1);
                for (size_t i = 0; i < y.size(); i++)
                    REQUIRE(inplace[i] == y[i]);
            }
        }
    }
}

TEST_CASE("cpu rms_norm reference known values") {
    // x = (3, 4): mean square 12.5, so y = x / sqrt(12.5 + eps)
    const float x[2] = {3.0f, 4.0f}, w[2] = {1.0f, 2.0f};
    float y[2];
    rms_norm_ref(y, x, w, 1, 2, 0.0f);
    CHECK(y[0] == doctest::Approx(3.0 / std::sqrt(12.5)).epsilon(1e-6));
    CHECK(y[1] == doctest::Approx(8.0 / std::sqrt(12.5)).epsilon(1e-6));
}

TEST_CASE("cpu rope matches its reference") {
    std::mt19937 rng(3);
    struct Shape {
        int n_head, head_dim, n_rot;
    };
    for (Shape s : {Shape{9, 64, 64}, Shape{8, 80, 80}, Shape{4, 256, 256}, Shape{3, 80, 32},
                    Shape{1, 6, 4}}) {
        for (RopeMode mode : {RopeMode::normal, RopeMode::neox}) {
            for (int t : {1, 3, 17}) {
                CAPTURE(s.n_head);
                CAPTURE(s.head_dim);
                CAPTURE(s.n_rot);
                CAPTURE(int(mode));
                CAPTURE(t);
                const auto factors = random_vec(size_t(s.n_rot / 2), rng, 1.0f, 8.0f);
                RopeParams p{s.n_head, s.head_dim, s.n_rot, 10000.0f, 1.0f, nullptr, mode};
                if (t == 17) {
                    p.freq_factors = factors.data();
                    p.freq_scale = 0.25f;
                    p.freq_base = 500000.0f;
                }
                if (t == 3) { // YaRN (gpt-oss: factor 32), the ramp inside the rotary dims
                    p.freq_scale = 1.0f / 32;
                    p.ext_factor = 1.0f;
                    p.attn_factor = 0.91f;
                    p.corr_dims[0] = 1.0f;
                    p.corr_dims[1] = float(s.n_rot / 2 - 1);
                }
                std::vector<int32_t> pos(static_cast<size_t>(t));
                for (int i = 0; i < t; i++)
                    pos[size_t(i)] = int32_t(rng() % 5000);
                const auto x = random_vec(size_t(t) * s.n_head * s.head_dim, rng);
                std::vector<float> ref = x;
                rope_ref(ref.data(), pos.data(), t, p);
                std::vector<float> y;
                std::vector<unsigned char> scratch(3 * rope_scratch_bytes(p));
                for_each_split(
                    [&](int ith, int nth) {
                        if (ith == 0) y = x;
                        rope(y.data(), pos.data(), t, p,
                             scratch.data() + ith * rope_scratch_bytes(p), ith, nth);
                    },
                    [&] { require_equal(y, ref); });
                // dims past n_rot pass through
                for (int r = 0; r < t * s.n_head; r++)
                    for (int d = s.n_rot; d < s.head_dim; d++)
                        REQUIRE(ref[size_t(r) * s.head_dim + d] == x[size_t(r) * s.head_dim + d]);
            }
        }
    }
}

TEST_CASE("cpu rope reference matches the closed form") {
    // A head that is the unit vector on the pair of frequency k turns by pos * base^(-2k/n_rot).
    const int head_dim = 64, n_rot = 64;
    const double base = 10000.0;
    for (RopeMode mode : {RopeMode::normal, RopeMode::neox}) {
        for (int32_t pos : {0, 1, 7, 100}) {
            for (int k : {0, 1, 5, 31}) {
                CAPTURE(int(mode));
                CAPTURE(pos);
                CAPTURE(k);
                const int j0 = mode == RopeMode::neox ? k : 2 * k;
                const int j1 = mode == RopeMode::neox ? k + n_rot / 2 : 2 * k + 1;
                std::vector<float> x(size_t(head_dim), 0.0f);
                x[size_t(j0)] = 1.0f;
                const RopeParams p{1, head_dim, n_rot, float(base), 1.0f, nullptr, mode};
                rope_ref(x.data(), &pos, 1, p);
                const double theta = pos * std::pow(base, -2.0 * k / n_rot);
                // the iterated float product drifts by a few ulps of theta per pair
                CHECK(x[size_t(j0)] == doctest::Approx(std::cos(theta)).epsilon(2e-4));
                CHECK(x[size_t(j1)] == doctest::Approx(std::sin(theta)).epsilon(2e-4));
                for (int d = 0; d < head_dim; d++)
                    if (d != j0 && d != j1) REQUIRE(x[size_t(d)] == 0.0f);
            }
        }
    }
    // freq_factors divide theta and freq_scale multiplies it: pos 8, factor 4, scale 0.5 = pos 1
    std::vector<float> a(4, 0.0f), b(4, 0.0f);
    a[0] = b[0] = 1.0f;
    const float ff[2] = {4.0f, 4.0f};
    int32_t p8 = 8, p1 = 1;
    rope_ref(a.data(), &p8, 1, RopeParams{1, 4, 4, 10000.0f, 0.5f, ff, RopeMode::normal});
    rope_ref(b.data(), &p1, 1, RopeParams{1, 4, 4, 10000.0f, 1.0f, nullptr, RopeMode::normal});
    CHECK(a[0] == doctest::Approx(b[0]));
    CHECK(a[1] == doctest::Approx(b[1]));
}

TEST_CASE("cpu rope with YaRN: the blend's ends and its magnitude scale") {
    // Pairs below corr_dims[0] rotate by the unscaled angle, pairs past corr_dims[1] by the
    // scaled one, and cos/sin grow by attn_factor (1 + 0.1 ln(1 / freq_scale)).
    const int n_rot = 32;
    RopeParams p{1, n_rot, n_rot, 10000.0f, 1.0f / 16, nullptr, RopeMode::neox};
    p.ext_factor = 1.0f;
    p.attn_factor = 0.8f;
    p.corr_dims[0] = 3.0f;
    p.corr_dims[1] = 9.0f;
    const int32_t pos = 100;
    std::vector<float> x(size_t(n_rot), 0.0f);
    for (int i = 0; i < n_rot / 2; i++)
        x[size_t(i)] = 1.0f; // each pair (i, i + 16) = (1, 0)
    std::vector<float> y = x;
    rope_ref(y.data(), &pos, 1, p);
    const double mscale = 0.8 * (1 + 0.1 * std::log(16.0));
    for (int i : {0, 2, 3, 10, 15}) {
        CAPTURE(i);
        const double theta = 100 * std::pow(10000.0, -2.0 * i / n_rot);
        const double angle = i <= 3 ? theta : theta / 16; // ramp: 1 up to dim 3, 0 from dim 9
        CHECK(y[size_t(i)] == doctest::Approx(mscale * std::cos(angle)).epsilon(1e-4));
        CHECK(y[size_t(i + 16)] == doctest::Approx(mscale * std::sin(angle)).epsilon(1e-4));
    }
    // Halfway up the ramp (dim 6 of 3..9): the mean of the two angles.
    const double theta6 = 100 * std::pow(10000.0, -12.0 / n_rot);
    CHECK(y[6] ==
          doctest::Approx(mscale * std::cos(0.5 * theta6 + 0.5 * theta6 / 16)).epsilon(1e-4));
    // ext_factor 0: attn_factor alone scales plain RoPE.
    p.ext_factor = 0.0f;
    y = x;
    rope_ref(y.data(), &pos, 1, p);
    CHECK(
        y[15] ==
        doctest::Approx(0.8 * std::cos(100 * std::pow(10000.0, -30.0 / n_rot) / 16)).epsilon(1e-4));
}

TEST_CASE("cpu glu and elementwise ops match their references") {
    std::mt19937 rng(4);
    for (int64_t n : {int64_t(1), int64_t(17), int64_t(3 * 1531)}) {
        CAPTURE(n);
        const auto a = random_vec(size_t(n), rng, -12.0f, 12.0f);
        const auto b = random_vec(size_t(n), rng, -2.0f, 2.0f);
        std::vector<float> ref(static_cast<size_t>(n)), y(static_cast<size_t>(n));
        for (GluAct act : {GluAct::silu, GluAct::gelu_tanh, GluAct::swiglu_oai}) {
            glu_ref(ref.data(), a.data(), b.data(), n, act);
            for_each_split(
                [&](int ith, int nth) { glu(y.data(), a.data(), b.data(), n, act, ith, nth); },
                [&] { require_equal(y, ref); });
        }
        add_ref(ref.data(), a.data(), b.data(), n);
        for_each_split([&](int ith, int nth) { add(y.data(), a.data(), b.data(), n, ith, nth); },
                       [&] { require_equal(y, ref); });
        scale_ref(ref.data(), a.data(), 0.37f, n);
        for_each_split([&](int ith, int nth) { scale(y.data(), a.data(), 0.37f, n, ith, nth); },
                       [&] { require_equal(y, ref); });
        softcap_ref(ref.data(), a.data(), 5.0f, n);
        for_each_split([&](int ith, int nth) { softcap(y.data(), a.data(), 5.0f, n, ith, nth); },
                       [&] { require_equal(y, ref); });
        for (float v : ref)
            REQUIRE(std::fabs(v) <= 5.0f);
    }
    // mul_rows on [rows][n]
    for (int n : {1, 80, 257}) {
        for (int64_t rows : {1, 3, 17}) {
            const auto x = random_vec(size_t(rows) * n, rng);
            const auto w = random_vec(size_t(n), rng);
            std::vector<float> ref(x.size()), y(x.size());
            mul_rows_ref(ref.data(), x.data(), w.data(), rows, n);
            CHECK(ref[size_t(rows - 1) * n] == x[size_t(rows - 1) * n] * w[0]);
            for_each_split(
                [&](int ith, int nth) {
                    mul_rows(y.data(), x.data(), w.data(), rows, n, ith, nth);
                },
                [&] { require_equal(y, ref); });
        }
    }
    // in place
    std::vector<float> a = {1.0f, 2.0f}, b = {10.0f, 20.0f};
    add(a.data(), a.data(), b.data(), 2, 0, 1);
    CHECK(a[0] == 11.0f);
    CHECK(a[1] == 22.0f);
}

TEST_CASE("exp_approx, gelu_tanh_approx and silu_approx are accurate over their range") {
    double worst_exp = 0, worst_gelu = 0, worst_silu = 0;
    for (double v = -86.0; v <= 88.0; v += 0.00731) {
        const float x = float(v);
        const double e = std::exp(double(x));
        worst_exp = std::max(worst_exp, std::fabs(exp_approx(x) - e) / e);
        // The sigmoid form in double: 0.5 (1 + tanh u) cancels for x < 0 even there.
        const double u = std::sqrt(2 / M_PI) * (double(x) + 0.044715 * double(x) * x * x);
        const double g = double(x) / (1 + std::exp(-2 * u));
        // Float rounding of the argument 2u moves e^(2u) by ~1 ulp of 2u times 2u.
        if (std::fabs(g) > 1e-30)
            worst_gelu = std::max(worst_gelu, std::fabs(gelu_tanh_approx(x) - g) / std::fabs(g) /
                                                  (1 + 2 * std::fabs(u)));
        const double silu = double(x) / (1 + std::exp(-double(x)));
        if (std::fabs(silu) > 1e-30)
            worst_silu = std::max(worst_silu, std::fabs(silu_approx(x) - silu) / std::fabs(silu) /
                                                  (1 + std::fabs(double(x))));
    }
    CHECK(worst_exp < 1.5e-7); // 2.5 ulp; measured 1.35
    CHECK(worst_gelu < 2e-7);
    CHECK(worst_silu < 2e-7);
    CHECK(silu_approx(1000.0f) == 1000.0f);
    CHECK(std::fabs(silu_approx(-1000.0f)) < 1e-30f);
    CHECK(exp_approx(-1000.0f) == exp_approx(-86.0f)); // clamped, still a normal float
    CHECK(std::isfinite(exp_approx(1000.0f)));
    CHECK(std::fabs(gelu_tanh_approx(-1000.0f)) < 1e-30f);
    CHECK(gelu_tanh_approx(1000.0f) == 1000.0f);
}

TEST_CASE("cpu activation reference spot values") {
    CHECK(silu_ref(0.0f) == 0.0f);
    CHECK(silu_ref(1.0f) == doctest::Approx(0.7310585786));
    CHECK(silu_ref(-2.0f) == doctest::Approx(-0.2384058440));
    CHECK(silu_ref(20.0f) == doctest::Approx(20.0f));
    CHECK(gelu_tanh_ref(0.0f) == 0.0f);
    // 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))), evaluated in double
    for (double x : {1.0, -1.0, 0.5, 3.0, -3.0}) {
        const double ref =
            0.5 * x * (1 + std::tanh(std::sqrt(2 / M_PI) * (x + 0.044715 * x * x * x)));
        CHECK(gelu_tanh_ref(float(x)) == doctest::Approx(ref).epsilon(1e-6));
    }
    CHECK(gelu_tanh_ref(1.0f) == doctest::Approx(0.8411920));
    float y;
    const float g = 2.0f, u = 3.0f;
    glu_ref(&y, &g, &u, 1, GluAct::silu);
    CHECK(y == doctest::Approx(3.0 * 2.0 / (1.0 + std::exp(-2.0))));
    // gpt-oss's clamped SwiGLU: min(g, 7) sigmoid(1.702 min(g, 7)) (clamp(u, -7, 7) + 1).
    auto oai = [](double gate, double up) {
        const double x = std::min(gate, 7.0), u = std::clamp(up, -7.0, 7.0);
        return x / (1 + std::exp(-1.702 * x)) * (u + 1);
    };
    for (auto [gv, uv] : {std::pair{2.0f, 3.0f}, {-1.5f, 0.5f}, {9.0f, -12.0f}, {30.0f, 30.0f}}) {
        CAPTURE(gv);
        CAPTURE(uv);
        glu_ref(&y, &gv, &uv, 1, GluAct::swiglu_oai);
        CHECK(y == doctest::Approx(oai(gv, uv)).epsilon(1e-6));
        CHECK(swiglu_oai_ref(gv, uv) == y);
    }
    CHECK(swiglu_oai_ref(30.0f, 30.0f) == doctest::Approx(7.0 * 8.0).epsilon(1e-5));
    softcap_ref(&y, &g, 1.0f, 1);
    CHECK(y == doctest::Approx(std::tanh(2.0)));
}

namespace {

// Fills both caches through kv_store_ref with n_ctx random rows (positions 0..n_ctx-1).
struct Cache {
    KvLayout kv;
    std::vector<uint16_t> k16, v16;
    std::vector<float> k32, v32;
    const void *k() const {
        return kv.type == KvType::f16 ? (const void *)k16.data() : (const void *)k32.data();
    }
    const void *v() const {
        return kv.type == KvType::f16 ? (const void *)v16.data() : (const void *)v32.data();
    }
};

Cache make_cache(const KvLayout &kv, std::mt19937 &rng) {
    Cache c{kv, {}, {}, {}, {}};
    const size_t n = size_t(kv.n_kv_head) * kv.n_ctx * kv.head_dim;
    if (kv.type == KvType::f16) {
        c.k16.resize(n);
        c.v16.resize(n);
    } else {
        c.k32.resize(n);
        c.v32.resize(n);
    }
    const auto k = random_vec(size_t(kv.n_ctx) * kv.n_kv_head * kv.head_dim, rng, -2.0f, 2.0f);
    const auto v = random_vec(k.size(), rng);
    std::vector<int32_t> pos(static_cast<size_t>(kv.n_ctx));
    for (int j = 0; j < kv.n_ctx; j++)
        pos[size_t(j)] = j;
    void *kc = kv.type == KvType::f16 ? (void *)c.k16.data() : (void *)c.k32.data();
    void *vc = kv.type == KvType::f16 ? (void *)c.v16.data() : (void *)c.v32.data();
    kv_store_ref(kc, vc, k.data(), v.data(), pos.data(), kv.n_ctx, kv);
    return c;
}

} // namespace

TEST_CASE("cpu kv_store matches its reference and rounds to half") {
    std::mt19937 rng(5);
    for (KvType type : {KvType::f16, KvType::f32}) {
        const KvLayout kv{3, 80, 40, type};
        const int t = 17;
        std::vector<int32_t> pos(static_cast<size_t>(t));
        for (int i = 0; i < t; i++)
            pos[size_t(i)] = 40 - 1 - 2 * i; // scattered, descending
        const auto k = random_vec(size_t(t) * 3 * 80, rng), v = random_vec(k.size(), rng);
        const size_t elem = type == KvType::f16 ? 2 : 4, bytes = elem * 3 * 40 * 80;
        std::vector<unsigned char> kr(bytes, 0), vr(bytes, 0), kf(bytes, 0), vf(bytes, 0);
        kv_store_ref(kr.data(), vr.data(), k.data(), v.data(), pos.data(), t, kv);
        for (int nth = 1; nth <= 3; nth++) {
            std::fill(kf.begin(), kf.end(), 0);
            std::fill(vf.begin(), vf.end(), 0);
            for (int ith = 0; ith < nth; ith++)
                kv_store(kf.data(), vf.data(), k.data(), v.data(), pos.data(), t, kv, ith, nth);
            REQUIRE(kf == kr);
            REQUIRE(vf == vr);
        }
        // token 5, kv head 2, dim 7 lands at [2][pos[5]][7]
        const size_t src = (size_t(5) * 3 + 2) * 80 + 7,
                     dst = (size_t(2) * 40 + size_t(pos[5])) * 80 + 7;
        if (type == KvType::f16) {
            uint16_t h;
            std::memcpy(&h, kr.data() + 2 * dst, 2);
            CHECK(h == infer::fp32_to_fp16(k[src]));
        } else {
            float f;
            std::memcpy(&f, kr.data() + 4 * dst, 4);
            CHECK(f == k[src]);
        }
    }
}

TEST_CASE("cpu attention matches its reference") {
    std::mt19937 rng(6);
    struct Shape {
        int n_head, n_kv_head, head_dim;
    };
    int cases = 0;
    // SIMD on: several tokens take the block kernel (cpu_attention_block.cpp), one token the row
    // path; SIMD off: the row path throughout. Each ISA level the CPU has (the AVX-512 one uses
    // the AVX2 block kernel today: a 512-bit one moved Gemma 3's goldens, for 2-4% of its prefill).
    // Group 20 splits a GQA group across blocks; head sizes 36 and 56 leave partial vectors.
    std::vector<CpuIsa> levels = {CpuIsa::Scalar};
    for (CpuIsa isa : infer::cpu::cpu_isa_simd_levels())
        if (cpu_isa_available(isa)) levels.push_back(isa);
    for (CpuIsa level : levels)
        for (Shape s : {Shape{9, 3, 64}, Shape{8, 8, 80}, Shape{4, 1, 256}, Shape{6, 2, 36},
                        Shape{20, 1, 56}}) {
            const bool simd = level != CpuIsa::Scalar;
            simd_disable_for_testing(!simd);
            if (simd) cpu_isa_force_for_testing(level);
            for (KvType type : {KvType::f16, KvType::f32}) {
                for (int t : {1, 3, 17, 40}) {
                    for (int variant = 0; variant < 5;
                         variant++) { // plain, window, softcap, peaked (big logits), sinks
                        const int n_ctx = variant == 0 ? 601 : 203;
                        const KvLayout kv{s.n_kv_head, s.head_dim, n_ctx, type};
                        AttnParams ap{s.n_head, 1.0f / std::sqrt(float(s.head_dim)), 0.0f, 0};
                        if (variant == 1) ap.n_swa = 37;
                        if (variant == 2) {
                            ap.softcap = 1.5f;
                            ap.scale = 0.5f;
                        }
                        if (variant == 3) ap.scale = 2.0f; // logits of tens: the running max moves
                        // Sinks (gpt-oss), with a window: one per head, one of them dominant.
                        const auto sinks = random_vec(size_t(s.n_head), rng, -3.0f, 3.0f);
                        std::vector<float> sink_values = sinks;
                        sink_values[0] = 12.0f;
                        if (variant == 4) {
                            ap.sinks = sink_values.data();
                            ap.n_swa = 29;
                        }
                        // A logit's rounding error grows with its size and exp() turns it into a
                        // relative error of the weights, hence the looser bound for big logits.
                        const float tol = variant == 3 ? 1e-4f : 2e-5f;
                        CAPTURE(s.n_head);
                        CAPTURE(s.n_kv_head);
                        CAPTURE(s.head_dim);
                        CAPTURE(int(type));
                        CAPTURE(t);
                        CAPTURE(variant);
                        CAPTURE(cpu_isa_name(level));
                        const Cache c = make_cache(kv, rng);
                        // a prompt chunk ending at the cache's end, and decode-like positions
                        std::vector<int32_t> pos(static_cast<size_t>(t));
                        for (int i = 0; i < t; i++)
                            pos[size_t(i)] = t == 17   ? n_ctx - t + i // a chunk ending at the end
                                             : t == 40 ? 50 + i        // mid-cache, keys after it
                                                       : int32_t(rng() % n_ctx);
                        if (t == 3) pos[0] = 0; // a query that sees exactly one key
                        const auto q =
                            random_vec(size_t(t) * s.n_head * s.head_dim, rng, -2.0f, 2.0f);
                        std::vector<float> ref(q.size()), o(q.size());
                        attention_ref(ref.data(), q.data(), c.k(), c.v(), pos.data(), t, kv, ap);
                        const size_t sb = attention_scratch_bytes(kv);
                        std::vector<unsigned char> scratch(3 * sb + 64);
                        unsigned char *base =
                            scratch.data() + (64 - uintptr_t(scratch.data()) % 64) % 64;
                        for_each_split(
                            [&](int ith, int nth) {
                                attention(o.data(), q.data(), c.k(), c.v(), pos.data(), t, kv, ap,
                                          base + ith * sb, ith, nth);
                            },
                            [&] {
                                for (int r = 0; r < t * s.n_head; r++) {
                                    float max = 0.0f;
                                    for (int d = 0; d < s.head_dim; d++)
                                        max = std::fmax(max,
                                                        std::fabs(ref[size_t(r) * s.head_dim + d]));
                                    for (int d = 0; d < s.head_dim; d++) {
                                        const size_t i = size_t(r) * s.head_dim + d;
                                        if (!(std::fabs(o[i] - ref[i]) <= tol * max)) {
                                            CAPTURE(r);
                                            CAPTURE(d);
                                            REQUIRE(o[i] == doctest::Approx(ref[i]));
                                        }
                                    }
                                }
                                std::fill(o.begin(), o.end(),
                                          NAN); // next pass must write everything
                            });
                        cases++;
                    }
                }
            }
        }
    simd_disable_for_testing(false);
    cpu_isa_reset_for_testing();
    CHECK(cases == int(levels.size()) * 5 * 2 * 4 * 5);
}

TEST_CASE("cpu attention: every SIMD level's block kernel gives the same bits") {
    // The AVX-512 level runs the block kernel's products in 512-bit vectors that keep the AVX2
    // kernel's arithmetic lane for lane, so the two must agree exactly (the golden margins
    // depend on it). Head sizes 36 (not whole 8-float chunks: the AVX2 products) and 56, 80
    // (a partial 512-bit vector) cover the tails.
    std::vector<CpuIsa> levels;
    for (CpuIsa isa : infer::cpu::cpu_isa_simd_levels())
        if (cpu_isa_available(isa)) levels.push_back(isa);
    if (levels.size() < 2) MESSAGE("one SIMD level on this CPU: nothing to compare");
    std::mt19937 rng(17);
    struct Shape {
        int n_head, n_kv_head, head_dim;
    };
    int compared = 0;
    for (Shape s : {Shape{9, 3, 64}, Shape{8, 8, 80}, Shape{4, 1, 256}, Shape{6, 2, 36},
                    Shape{20, 1, 56}, Shape{4, 2, 128}})
        for (KvType type : {KvType::f16, KvType::f32})
            for (int variant = 0; variant < 2; variant++) { // plain, softcap
                const int n_ctx = 203, t = 40;
                const KvLayout kv{s.n_kv_head, s.head_dim, n_ctx, type};
                AttnParams ap{s.n_head, 1.0f / std::sqrt(float(s.head_dim)), 0.0f, 0};
                if (variant == 1) ap.softcap = 1.5f;
                const Cache c = make_cache(kv, rng);
                std::vector<int32_t> pos(static_cast<size_t>(t));
                for (int i = 0; i < t; i++)
                    pos[size_t(i)] = n_ctx - t + i;
                const auto q = random_vec(size_t(t) * s.n_head * s.head_dim, rng, -2.0f, 2.0f);
                const size_t sb = attention_scratch_bytes(kv);
                std::vector<unsigned char> scratch(sb + 64);
                unsigned char *base = scratch.data() + (64 - uintptr_t(scratch.data()) % 64) % 64;
                std::vector<std::vector<float>> outs;
                for (CpuIsa level : levels) {
                    cpu_isa_force_for_testing(level);
                    std::vector<float> o(q.size(), NAN);
                    attention(o.data(), q.data(), c.k(), c.v(), pos.data(), t, kv, ap, base, 0, 1);
                    outs.push_back(std::move(o));
                }
                CAPTURE(s.head_dim);
                CAPTURE(int(type));
                CAPTURE(variant);
                for (size_t l = 1; l < outs.size(); l++) {
                    CHECK(std::memcmp(outs[0].data(), outs[l].data(),
                                      outs[0].size() * sizeof(float)) == 0);
                    compared++;
                }
            }
    cpu_isa_reset_for_testing();
    CHECK(compared == int(levels.size() - 1) * 6 * 2 * 2);
}

TEST_CASE("cpu attention reference known values") {
    // One visible key: the output is that key's value row, whatever q is.
    const KvLayout kv{1, 4, 3, KvType::f32};
    const std::vector<float> k = {1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0};
    const std::vector<float> v = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
    const std::vector<float> q = {0.3f, -0.7f, 2.0f, 1.0f};
    std::vector<float> o(4);
    const AttnParams ap{1, 0.5f, 0.0f, 0};
    int32_t pos = 0;
    attention_ref(o.data(), q.data(), k.data(), v.data(), &pos, 1, kv, ap);
    CHECK(o == std::vector<float>{1, 2, 3, 4});
    // Sliding window 1 at position 2: only key 2 is visible.
    pos = 2;
    attention_ref(o.data(), q.data(), k.data(), v.data(), &pos, 1, kv,
                  AttnParams{1, 0.5f, 0.0f, 1});
    CHECK(o == std::vector<float>{9, 10, 11, 12});
    // Window 2 at position 2 sees keys 1 and 2 (2 - 0 >= 2 masks key 0): logits -0.35 and 1.0.
    attention_ref(o.data(), q.data(), k.data(), v.data(), &pos, 1, kv,
                  AttnParams{1, 0.5f, 0.0f, 2});
    const double p1 = std::exp(-0.35), p2 = std::exp(1.0);
    for (int d = 0; d < 4; d++)
        CHECK(o[size_t(d)] ==
              doctest::Approx((p1 * v[size_t(4 + d)] + p2 * v[size_t(8 + d)]) / (p1 + p2)));
    // Two equal keys: the mean of their values.
    const std::vector<float> k2 = {1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0};
    pos = 1;
    attention_ref(o.data(), q.data(), k2.data(), v.data(), &pos, 1, kv, ap);
    CHECK(o == std::vector<float>{3, 4, 5, 6});
    // The fast path agrees on all of these.
    std::vector<unsigned char> scratch(attention_scratch_bytes(kv) + 64);
    void *s = scratch.data() + (64 - uintptr_t(scratch.data()) % 64) % 64;
    std::vector<float> of(4);
    attention(of.data(), q.data(), k2.data(), v.data(), &pos, 1, kv, ap, s, 0, 1);
    for (int d = 0; d < 4; d++)
        CHECK(of[size_t(d)] == doctest::Approx(o[size_t(d)]));
    // A sink joins the softmax with no value: one visible key of logit x and a sink s give
    // v e^x / (e^x + e^s). Key 0 at position 0 has logit 0.5 * 0.3 = 0.15.
    for (float sink : {0.15f, -2.0f, 30.0f}) {
        CAPTURE(sink);
        AttnParams with_sink = ap;
        with_sink.sinks = &sink;
        pos = 0;
        const double share = 1.0 / (1.0 + std::exp(double(sink) - 0.15));
        attention_ref(o.data(), q.data(), k.data(), v.data(), &pos, 1, kv, with_sink);
        attention(of.data(), q.data(), k.data(), v.data(), &pos, 1, kv, with_sink, s, 0, 1);
        for (int d = 0; d < 4; d++) {
            CHECK(o[size_t(d)] == doctest::Approx(share * v[size_t(d)]).epsilon(1e-5));
            CHECK(of[size_t(d)] == doctest::Approx(share * v[size_t(d)]).epsilon(1e-5));
        }
    }
}
