// CPU matmul kernels and thread pool: every SIMD path against the scalar references on random
// blocks with sane scales, the driver against matmul_ref for odd shapes and thread counts, and the
// activation quantizers' AVX2 bytes against the scalar bytes.
#include "core/blocks.h"
#include "core/fp16.h"
#include "core/types.h"
#include "cpu/cpu_matmul.h"
#include "cpu/cpu_quantize_act.h"
#include "cpu/cpu_repack.h"
#include "cpu/cpu_vec_dot.h"
#include "cpu/thread_pool.h"
#include "cpu_test_data.h"

#include <doctest/doctest.h>

#include <atomic>
#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include <sys/mman.h>
#include <unistd.h>

using namespace infer;
using namespace infer::cpu;
using namespace infer::test;

namespace {

std::vector<uint8_t> quantize_for(const TypeCase &tc, const float *x, int64_t k, int64_t t,
                                  CpuIsa isa) {
    uint32_t act;
    REQUIRE(vec_dot_act_type(static_cast<uint32_t>(tc.type), &act));
    if (act == static_cast<uint32_t>(TypeId::F32)) {
        std::vector<uint8_t> v(static_cast<size_t>(k * t * 4));
        std::memcpy(v.data(), x, v.size());
        return v;
    }
    std::vector<uint8_t> v(matmul_scratch_bytes(static_cast<uint32_t>(tc.type), k, t));
    quantize_act_fn(act, isa)(x, v.data(), k * t);
    return v;
}

// The K-quant kernels reduce each super-block's integers exactly and combine the floats as the
// references do, so they return the references' bits (issue 11: any other order of float sums
// moved Gemma 3 off its goldens on one ISA level and not the other), the VNNI row-lane prefill
// tile of Q4_K/Q5_K included. The interleaved layouts' kernels return the row layout's bits at
// every level (test_cpu_repack.cpp), so the same rule holds for them.
bool bit_exact(const TypeCase &tc, CpuIsa isa) {
    return isa == CpuIsa::Scalar || tc.block_elems == QK_K;
}

} // namespace

TEST_CASE("ThreadPool runs every thread and its barrier separates phases") {
    for (int nth = 1; nth <= 4; ++nth) {
        CAPTURE(nth);
        ThreadPool pool(nth);
        CHECK(pool.size() == nth);
        struct Ctx {
            ThreadPool *pool;
            std::vector<int> slot;
            int iter = 0;
            std::atomic<int> errors{0};
        } ctx{&pool, std::vector<int>(static_cast<size_t>(nth), 0)};
        auto fn = [](void *p, int ith, int n) {
            auto *c = static_cast<Ctx *>(p);
            for (int phase = 0; phase < 3; ++phase) {
                c->slot[static_cast<size_t>(ith)] = c->iter * 3 + phase;
                c->pool->barrier(ith);
                // Everyone's write of this phase is visible, and nobody has started the next.
                for (int j = 0; j < n; ++j)
                    if (c->slot[static_cast<size_t>(j)] != c->iter * 3 + phase)
                        c->errors.fetch_add(1);
                c->pool->barrier(ith);
            }
        };
        // More threads than this test machine may have cores make every barrier wait for the
        // scheduler, so those runs are fewer.
        const int runs = nth <= 2 ? 2000 : 300;
        for (ctx.iter = 0; ctx.iter < runs; ++ctx.iter)
            pool.run(fn, &ctx);
        CHECK(ctx.errors.load() == 0);
        for (int j = 0; j < nth; ++j)
            CHECK(ctx.slot[static_cast<size_t>(j)] == (runs - 1) * 3 + 2);
    }
}

TEST_CASE(
    "ThreadPool::claim_share hands out each unit of a phase once, in shrinking chunks of whole "
    "steps, and restarts every phase") {
    for (int nth = 1; nth <= 3; ++nth) {
        CAPTURE(nth);
        ThreadPool pool(nth);
        static constexpr int64_t kTotal = 1000, kStep = 16; // the last chunk reaches past the total
        struct Ctx {
            ThreadPool *pool;
            std::vector<std::atomic<int>> taken = std::vector<std::atomic<int>>(2 * kTotal);
            std::atomic<int> bad_size{0}, chunks{0};
            std::atomic<int64_t> largest_late{0}; // the largest chunk from the last quarter on
        } ctx{&pool};
        auto fn = [](void *p, int ith, int) {
            auto *c = static_cast<Ctx *>(p);
            for (int phase = 0; phase < 2; ++phase) {
                int64_t n = 0;
                for (int64_t u = c->pool->claim_share(kTotal, kStep, &n); u < kTotal;
                     u = c->pool->claim_share(kTotal, kStep, &n)) {
                    c->chunks.fetch_add(1);
                    // A step at least, whole steps, and never more than a 2 * nth-th of what was
                    // left (rounded up to a step).
                    const int64_t most =
                        ((kTotal - u) / (2 * c->pool->size()) + kStep - 1) / kStep * kStep;
                    if (n < kStep || n % kStep || n > std::max(kStep, most))
                        c->bad_size.fetch_add(1);
                    if (u >= 3 * kTotal / 4) {
                        int64_t seen = c->largest_late.load();
                        while (n > seen && !c->largest_late.compare_exchange_weak(seen, n)) {
                        }
                    }
                    for (int64_t i = u; i < std::min(u + n, kTotal); ++i)
                        c->taken[static_cast<size_t>(phase * kTotal + i)].fetch_add(1);
                }
                if (phase == 0) c->pool->barrier(ith); // the second phase ends with the run
            }
        };
        for (int run = 0; run < 200; ++run) {
            for (auto &t : ctx.taken)
                t.store(0);
            pool.run(fn, &ctx); // a run starts at 0, whatever the last run's phase left
            int wrong = 0;
            for (auto &t : ctx.taken)
                wrong += t.load() != 1;
            REQUIRE(wrong == 0);
        }
        CHECK(ctx.bad_size.load() == 0);
        // 1000 units: at least a handful of chunks per phase, and the late ones small (a
        // quarter of the total is left: a 2 * nth-th of it, rounded up, at most 128 units).
        CHECK(ctx.chunks.load() >= 200 * 2 * 6);
        CHECK(ctx.largest_late.load() <= 128);
    }
}

TEST_CASE("ThreadPool::wait_at_least returns once the count is reached, with the counted writes "
          "visible") {
    for (int nth = 1; nth <= 3; ++nth) {
        CAPTURE(nth);
        ThreadPool pool(nth);
        struct Ctx {
            int iter = 0;
            int32_t count = 0;
            std::vector<int> data; // [thread]: plain writes published by the count
            std::atomic<int> errors{0};
        } ctx{0, 0, std::vector<int>(static_cast<size_t>(nth), -1)};
        auto fn = [](void *p, int ith, int n) {
            auto *c = static_cast<Ctx *>(p);
            if (ith > 0) { // the others' work: a write each, then a release increment
                c->data[static_cast<size_t>(ith)] = c->iter;
                std::atomic_ref<int32_t>(c->count).fetch_add(1, std::memory_order_release);
                return;
            }
            ThreadPool::wait_at_least(&c->count, n - 1);
            for (int j = 1; j < n; ++j)
                if (c->data[static_cast<size_t>(j)] != c->iter) c->errors.fetch_add(1);
        };
        for (ctx.iter = 0; ctx.iter < 500; ++ctx.iter) {
            ctx.count = 0;
            pool.run(fn, &ctx);
        }
        CHECK(ctx.errors.load() == 0);
        ThreadPool::wait_at_least(&ctx.count, nth - 1); // already reached: returns at once
        CHECK(ctx.count == nth - 1);
    }
}

TEST_CASE("ThreadPool survives idle periods (workers sleep and wake)") {
    ThreadPool pool(3);
    std::atomic<int> count{0};
    auto fn = [](void *p, int, int) { static_cast<std::atomic<int> *>(p)->fetch_add(1); };
    for (int i = 0; i < 3; ++i) {
        pool.run(fn, &count);
        std::this_thread::sleep_for(std::chrono::milliseconds(20)); // past the spin window
    }
    CHECK(count.load() == 9);
}

TEST_CASE("activation quantizers: known values and every SIMD level's bytes identical to scalar") {
    // Q8_0 of 0, 1, ..., 31 scaled: amax 31 -> d = 31/127; q = round(x * 127/31).
    std::vector<float> ramp(32);
    for (int j = 0; j < 32; ++j)
        ramp[static_cast<size_t>(j)] = static_cast<float>(j) - 16.0f;
    BlockQ8_0 b;
    quantize_act_q8_0_ref(ramp.data(), &b, 32);
    CHECK(b.d == fp32_to_fp16(16.0f / 127.0f));
    CHECK(b.qs[0] == -127);
    CHECK(b.qs[16] == 0);
    CHECK(b.qs[24] == 64); // 8 * 127/16 = 63.5 rounds away from zero

    std::mt19937 rng(7);
    const int64_t k = 256 * 4;
    for (int trial = 0; trial < 50; ++trial) {
        std::vector<float> x = random_floats(k, rng);
        if (trial % 5 == 1) std::fill(x.begin(), x.begin() + 256, 0.0f); // an all-zero block
        if (trial % 5 == 2)
            for (auto &f : x)
                f = std::round(f * 4.0f) / 8.0f; // many exact halves
        if (trial % 5 == 3)
            for (auto &f : x)
                f = -std::fabs(f); // negative max
        if (trial % 5 == 4)
            for (int64_t i = 0; i < k; ++i)
                x[static_cast<size_t>(i)] = static_cast<float>(i % 64 - 32) * 0.5f;
        const struct {
            TypeId type;
            QuantizeActFn ref;
            int64_t bytes;
        } cases[] = {
            {TypeId::Q8_0, quantize_act_q8_0_ref, k / 32 * 34},
            {TypeId::Q8_1, quantize_act_q8_1_ref, k / 32 * 36},
            {TypeId::Q8_K, quantize_act_q8_K_ref, k / 256 * 292},
        };
        for (const auto &c : cases) {
            for (CpuIsa isa : simd_isas()) {
                CAPTURE(std::string(cpu_isa_name(isa)));
                const QuantizeActFn fast = quantize_act_fn(static_cast<uint32_t>(c.type), isa);
                CHECK((fast != c.ref));
                std::vector<uint8_t> a(static_cast<size_t>(c.bytes), 0xAA),
                    bb(static_cast<size_t>(c.bytes), 0x55);
                c.ref(x.data(), a.data(), k);
                fast(x.data(), bb.data(), k);
                CHECK(std::memcmp(a.data(), bb.data(), a.size()) == 0);
            }
        }
    }
}

TEST_CASE("Q8_K quantizer: sign of the largest element sets the scale") {
    std::vector<float> x(256, 0.25f);
    x[3] = -2.0f;
    BlockQ8_K b;
    quantize_act_q8_K_ref(x.data(), &b, 256);
    CHECK(b.qs[3] == -127);
    CHECK(b.d == doctest::Approx(2.0f / 127.0f));
    CHECK(b.qs[0] == 16); // 0.25 * 127 / 2 = 15.875
    int sum = 0;
    for (int j = 0; j < 16; ++j)
        sum += b.qs[j];
    CHECK(b.bsums[0] == sum);
}

TEST_CASE("vec_dot SIMD paths match the scalar references for every type") {
    std::mt19937 rng(1234);
    for (const TypeCase &tc : kTypes) {
        const int64_t k = test_k(tc);
        CAPTURE(static_cast<int>(tc.type));
        VecDotKernel ref;
        REQUIRE(vec_dot_kernel(static_cast<uint32_t>(tc.type), CpuIsa::Scalar, &ref));
        for (CpuIsa isa : simd_isas()) {
            CAPTURE(std::string(cpu_isa_name(isa)));
            VecDotKernel fast;
            REQUIRE(vec_dot_kernel(static_cast<uint32_t>(tc.type), isa, &fast));
            CHECK((fast.dot != ref.dot));
            for (int trial = 0; trial < 20; ++trial) {
                const std::vector<uint8_t> w = random_weights(tc, k, 1, rng);
                const std::vector<float> x = random_floats(k, rng);
                const std::vector<uint8_t> a = quantize_for(tc, x.data(), k, 1, CpuIsa::Scalar);
                const float r = ref.dot(k, w.data(), a.data());
                const float f = fast.dot(k, w.data(), a.data());
                if (bit_exact(tc, isa))
                    CHECK(f == r);
                else
                    CHECK(std::fabs(r - f) <= 1e-5f * abs_bound(tc, x.data(), k));
            }
        }
    }
}

// The decode kernels take up to decode_rows rows per call: every row count, rows far apart (a
// padded stride), short and long rows, each output the reference's bits.
TEST_CASE("decode row kernels return the references' bits for every row count") {
    std::mt19937 rng(4321);
    for (const TypeCase &tc : kTypes) {
        for (CpuIsa isa : simd_isas()) {
            VecDotKernel fast, ref;
            REQUIRE(vec_dot_kernel(static_cast<uint32_t>(tc.type), isa, &fast));
            REQUIRE(vec_dot_kernel(static_cast<uint32_t>(tc.type), CpuIsa::Scalar, &ref));
            if (!fast.decode_tile) continue;
            CAPTURE(static_cast<int>(tc.type));
            CAPTURE(std::string(cpu_isa_name(isa)));
            for (int64_t blocks : {1, 3, 11}) {
                const int64_t k = tc.block_elems * blocks;
                const int rows = fast.decode_rows;
                const uint64_t stride = static_cast<uint64_t>(blocks * tc.block_bytes + 5);
                const std::vector<uint8_t> packed = random_weights(tc, k, rows, rng);
                std::vector<uint8_t> w(stride * static_cast<uint64_t>(rows));
                for (int r = 0; r < rows; ++r)
                    std::memcpy(w.data() + r * stride, packed.data() + r * blocks * tc.block_bytes,
                                static_cast<size_t>(blocks * tc.block_bytes));
                const std::vector<float> x = random_floats(k, rng);
                const std::vector<uint8_t> a = quantize_for(tc, x.data(), k, 1, CpuIsa::Scalar);
                for (int nr = 1; nr <= rows; ++nr) {
                    CAPTURE(blocks);
                    CAPTURE(nr);
                    std::vector<float> y(static_cast<size_t>(rows) + 1, NAN);
                    fast.decode_tile(k, w.data(), stride, a.data(), 0, y.data(), 1, nr, 1);
                    for (int r = 0; r < nr; ++r)
                        CHECK(y[static_cast<size_t>(r)] ==
                              ref.dot(k, w.data() + r * stride, a.data()));
                    CHECK(std::isnan(y[static_cast<size_t>(nr)])); // nothing past the nr rows
                }
            }
        }
    }
}

namespace {

// n rows of k random weights of type tc, each padded by 3 bytes and the first at an odd address:
// the kernels must honour row_bytes and need no alignment. buf owns the bytes.
WeightView padded_weights(const TypeCase &tc, int64_t k, int64_t n, std::mt19937 &rng,
                          std::vector<uint8_t> *buf) {
    const uint64_t row_bytes = static_cast<uint64_t>(k / tc.block_elems * tc.block_bytes + 3);
    const std::vector<uint8_t> packed = random_weights(tc, k, n, rng);
    buf->assign(row_bytes * n + 1, 0);
    for (int64_t i = 0; i < n; ++i)
        std::memcpy(buf->data() + 1 + i * row_bytes, packed.data() + i * (row_bytes - 3),
                    row_bytes - 3);
    return WeightView{static_cast<uint32_t>(tc.type), k, n, buf->data() + 1, row_bytes};
}

// matmul of t random rows through `pool` at `isa` against matmul_ref: the scalar path runs the
// very same functions, and the K-quant kernels return their bits (bit_exact), so those must be
// exact; the other SIMD ones within 1e-5 of sum |w x|.
// matmul of the t rows x through `pool` at `isa` (its scratch at an odd address).
std::vector<float> run_matmul(const WeightView &w, const std::vector<float> &x, int64_t t,
                              CpuIsa isa, ThreadPool &pool) {
    std::vector<uint8_t> scratch(matmul_scratch_bytes(w.type, w.k, t) + 1);
    std::vector<float> got(static_cast<size_t>(w.n * t), NAN);
    struct Ctx {
        const WeightView *w;
        const float *x;
        int64_t t;
        float *y;
        void *scratch;
        ThreadPool *pool;
        CpuIsa isa;
    } ctx{&w, x.data(), t, got.data(), scratch.data() + 1, &pool, isa};
    pool.run(
        [](void *p, int ith, int nth) {
            auto *c = static_cast<Ctx *>(p);
            matmul(*c->w, c->x, c->t, c->y, c->scratch, ith, nth, *c->pool, c->isa);
        },
        &ctx);
    return got;
}

void check_matmul(const TypeCase &tc, const WeightView &w, int64_t t, CpuIsa isa, ThreadPool &pool,
                  std::mt19937 &rng) {
    const int64_t k = w.k, n = w.n;
    const std::vector<float> x = random_floats(k * t, rng);
    std::vector<float> want(static_cast<size_t>(n * t));
    matmul_ref(w, x.data(), t, want.data());
    const std::vector<float> got = run_matmul(w, x, t, isa, pool);
    int bad = 0;
    for (int64_t j = 0; j < t; ++j) {
        const float tol = 1e-5f * abs_bound(tc, x.data() + j * k, k);
        for (int64_t i = 0; i < n; ++i) {
            const float a = got[static_cast<size_t>(j * n + i)],
                        b = want[static_cast<size_t>(j * n + i)];
            if (bit_exact(tc, isa) ? a != b : !(std::fabs(a - b) <= tol)) ++bad;
        }
    }
    CHECK(bad == 0);
}

std::vector<CpuIsa> all_isas() {
    std::vector<CpuIsa> isas = simd_isas();
    isas.insert(isas.begin(), CpuIsa::Scalar);
    return isas;
}

} // namespace

TEST_CASE("matmul matches matmul_ref: odd shapes, 1-3 threads, every ISA") {
    std::mt19937 rng(99);
    ThreadPool pools[3] = {ThreadPool(1), ThreadPool(2), ThreadPool(3)};
    for (const TypeCase &tc : kTypes) {
        CAPTURE(static_cast<int>(tc.type));
        const int64_t k = test_k(tc);
        REQUIRE(matmul_supported(static_cast<uint32_t>(tc.type)));
        for (int64_t n : {1, 5, 67}) {
            std::vector<uint8_t> buf, repacked_buf;
            const WeightView w = padded_weights(tc, k, n, rng, &buf);
            REQUIRE(matmul_valid(w));
            std::vector<WeightView> views = {w};
            if (test_layout(tc.type) != WeightLayout::Rows) // n = 67: 8 tiles and 3 rows after
                views.push_back(repacked(w, test_layout(tc.type), &repacked_buf));
            for (int64_t t : {1, 3, 17}) {
                CAPTURE(n);
                CAPTURE(t);
                for (const WeightView &v : views) {
                    CAPTURE(static_cast<int>(v.layout));
                    REQUIRE(matmul_valid(v));
                    for (CpuIsa isa : all_isas()) {
                        for (ThreadPool &pool : pools) {
                            CAPTURE(std::string(cpu_isa_name(isa)));
                            CAPTURE(pool.size());
                            check_matmul(tc, v, t, isa, pool, rng);
                        }
                    }
                }
            }
        }
    }
}

// Prefill tiles may lay weight rows out a chunk of blocks at a time and take the tokens in
// groups: rows of many blocks (several chunks, the last one short) and token counts that leave
// a short group in a short last token block.
TEST_CASE("matmul matches matmul_ref: long rows and many tokens, every ISA") {
    std::mt19937 rng(7);
    ThreadPool pool(2);
    for (const TypeCase &tc : kTypes) {
        // The K-quant lanes take up to 256 tokens per call, fewer where their activation rows
        // would pass half the L2 (71 super-blocks: 64 per call on an L2 under 2.5 MiB; 9: 256
        // on one of 1.3 MiB or more): 267 tokens leave a short last call in every case.
        const bool k_lanes = tc.type == TypeId::Q4_K || tc.type == TypeId::Q5_K ||
                             tc.type == TypeId::Q6_K || tc.type == TypeId::IQ4_XS;
        for (const int64_t blocks : {71, 9}) {
            if (blocks == 9 && !k_lanes) continue;
            CAPTURE(static_cast<int>(tc.type));
            CAPTURE(blocks);
            const int64_t k = tc.block_elems == 1 ? 32 * blocks + 5 : tc.block_elems * blocks;
            std::vector<uint8_t> buf, repacked_buf;
            const WeightView w = padded_weights(tc, k, 21, rng, &buf);
            std::vector<WeightView> views = {w};
            if (test_layout(tc.type) != WeightLayout::Rows)
                views.push_back(repacked(w, test_layout(tc.type), &repacked_buf));
            for (int64_t t : {1, 2, 75, 267}) {
                if (t == 267 && !k_lanes) continue;
                CAPTURE(t);
                for (const WeightView &v : views) { // the repacked K-quants take 256 per call too
                    CAPTURE(static_cast<int>(v.layout));
                    for (CpuIsa isa : all_isas()) {
                        CAPTURE(std::string(cpu_isa_name(isa)));
                        check_matmul(tc, v, t, isa, pool, rng);
                    }
                }
            }
        }
    }
}

// The K-quant lanes keep some sums in narrower integers where the formats bound them (Q4_K's
// 16-element dot products in the low word of a dword: |q.a| <= 16 * 15 * 127), so every quant
// and scale byte at its extremes, against activations of +-127, must still give the reference's
// bits, in both layouts.
TEST_CASE("K-quant matmuls at the integer extremes return the references' bits") {
    std::mt19937 rng(3);
    ThreadPool pool(2);
    struct Fp16Field {
        TypeId type;
        size_t offset[2];
        int count;
    };
    const Fp16Field kScaleFields[] = {
        {TypeId::Q4_K, {offsetof(BlockQ4_K, d), offsetof(BlockQ4_K, dmin)}, 2},
        {TypeId::Q5_K, {offsetof(BlockQ5_K, d), offsetof(BlockQ5_K, dmin)}, 2},
        {TypeId::Q6_K, {offsetof(BlockQ6_K, d), 0}, 1},
        {TypeId::IQ4_XS, {offsetof(BlockIQ4_XS, d), 0}, 1},
    };
    int cases = 0;
    for (const Fp16Field &f : kScaleFields) {
        const TypeCase *tc = nullptr;
        for (const TypeCase &c : kTypes)
            if (c.type == f.type) tc = &c;
        REQUIRE(tc != nullptr);
        CAPTURE(static_cast<int>(f.type));
        const int64_t k = 2 * QK_K, n = 21, blocks = k / QK_K * n;
        for (uint8_t fill : {uint8_t(0x00), uint8_t(0xFF), uint8_t(0x80), uint8_t(0x7F)}) {
            std::vector<uint8_t> buf(static_cast<size_t>(blocks * tc->block_bytes), fill);
            for (int64_t b = 0; b < blocks; ++b)
                for (int i = 0; i < f.count; ++i) {
                    const uint16_t h = fp32_to_fp16(1.0f / 64);
                    std::memcpy(buf.data() + b * tc->block_bytes + f.offset[i], &h, sizeof h);
                }
            const WeightView w{static_cast<uint32_t>(f.type), k, n, buf.data(),
                               static_cast<uint64_t>(k / QK_K * tc->block_bytes)};
            std::vector<uint8_t> repacked_buf;
            std::vector<WeightView> views = {w};
            if (test_layout(f.type) != WeightLayout::Rows)
                views.push_back(repacked(w, test_layout(f.type), &repacked_buf));
            // one token runs the decode kernels, 19 the prefill tiles
            for (int64_t t : {int64_t(1), int64_t(19)})
                for (float sign : {1.0f, -1.0f}) {
                    const std::vector<float> x(static_cast<size_t>(k * t), sign);
                    std::vector<float> want(static_cast<size_t>(n * t));
                    matmul_ref(w, x.data(), t, want.data());
                    for (const WeightView &v : views)
                        for (CpuIsa isa : all_isas()) {
                            CAPTURE(t);
                            CAPTURE(int(fill));
                            CAPTURE(sign);
                            CAPTURE(static_cast<int>(v.layout));
                            CAPTURE(std::string(cpu_isa_name(isa)));
                            const std::vector<float> got = run_matmul(v, x, t, isa, pool);
                            CHECK(std::memcmp(got.data(), want.data(),
                                              want.size() * sizeof(float)) == 0);
                            cases++;
                        }
                }
        }
    }
    CHECK(cases > 4 * 4 * 2 * 2);
}

// The VNNI prefill lanes of IQ4_XS and Q6_K sum a super-block's scaled sub-blocks in float,
// each term exact: the references' bits while the partial sums stay within 2^24, one rounding
// per term past it. Quants and scales all near their most negative values against activations
// of 126 or 127 (random, so the sums have many significant bits) put every partial sum past
// 2^24: the results stay within those roundings of the references' (and the same fills with
// small activations, below 2^24, give the references' bits).
TEST_CASE("IQ4_XS and Q6_K prefill lanes past 2^24 round at most once per sub-block") {
    std::mt19937 rng(5);
    ThreadPool pool(2);
    int rounded = 0;
    for (const TypeId type : {TypeId::IQ4_XS, TypeId::Q6_K}) {
        const TypeCase *tc = nullptr;
        for (const TypeCase &c : kTypes)
            if (c.type == type) tc = &c;
        REQUIRE(tc != nullptr);
        CAPTURE(static_cast<int>(type));
        const int64_t k = 2 * QK_K, n = 21, t = 19, blocks = k / QK_K * n;
        std::vector<uint8_t> buf(static_cast<size_t>(blocks * tc->block_bytes));
        const auto bit_pair = [&] { return static_cast<uint8_t>((rng() & 1) | (rng() & 1) << 4); };
        const uint16_t d = fp32_to_fp16(1.0f / 64);
        for (int64_t b = 0; b < blocks; ++b) {
            uint8_t *blk = buf.data() + b * tc->block_bytes;
            if (type == TypeId::IQ4_XS) { // values -127 / -104, scales -32 / -31
                auto *x = reinterpret_cast<BlockIQ4_XS *>(blk);
                x->d = d;
                x->scales_h = 0;
                for (uint8_t &s : x->scales_l)
                    s = bit_pair();
                for (uint8_t &q : x->qs)
                    q = bit_pair();
            } else { // quants -32 / -31, scales -128 / -127
                auto *x = reinterpret_cast<BlockQ6_K *>(blk);
                x->d = d;
                for (uint8_t &q : x->ql)
                    q = bit_pair();
                std::memset(x->qh, 0, sizeof x->qh);
                for (int8_t &s : x->scales)
                    s = static_cast<int8_t>(-128 + (rng() & 1));
            }
        }
        const WeightView w{static_cast<uint32_t>(type), k, n, buf.data(),
                           static_cast<uint64_t>(k / QK_K * tc->block_bytes)};
        std::vector<uint8_t> repacked_buf;
        std::vector<WeightView> views = {w};
        if (test_layout(type) != WeightLayout::Rows)
            views.push_back(repacked(w, test_layout(type), &repacked_buf));
        for (const bool small : {false, true}) {
            // Activations 126 or 127 after quantization (small: 3 or 4, all partial sums below
            // 2^24), each block's first 127, which sets its scale.
            std::vector<float> x(static_cast<size_t>(k * t));
            for (size_t i = 0; i < x.size(); ++i)
                x[i] = i % QK_K == 0 ? 1.0f
                       : small       ? ((rng() & 1) ? 4.0f : 3.0f) / 127.0f
                                     : ((rng() & 1) ? 1.0f : 126.0f / 127.0f);
            std::vector<float> want(static_cast<size_t>(n * t));
            matmul_ref(w, x.data(), t, want.data());
            for (const WeightView &v : views)
                for (CpuIsa isa : all_isas()) {
                    CAPTURE(small);
                    CAPTURE(static_cast<int>(v.layout));
                    CAPTURE(std::string(cpu_isa_name(isa)));
                    const std::vector<float> got = run_matmul(v, x, t, isa, pool);
                    for (size_t i = 0; i < want.size(); ++i) {
                        // Per super-block: 8 (IQ4_XS) or 16 (Q6_K) roundings of a sum under
                        // 2^28, a few units in 2^24 of the result at most.
                        if (small) REQUIRE(got[i] == want[i]);
                        REQUIRE(std::fabs(got[i] - want[i]) <= 4e-6f * std::fabs(want[i]));
                        rounded += got[i] != want[i];
                    }
                }
        }
    }
    MESSAGE(rounded << " results rounded past 2^24");
}

// Rows further apart than an int32 reaches: the IQ4_XS lanes gather a 16-row block's bytes
// through int32 offsets from its first row, so rows over 136 MiB apart take their other path.
// The rows lie in an address range only reserved: just their own pages are made accessible, so
// no memory is committed for the gaps, whatever the overcommit policy.
TEST_CASE("matmul over rows more than 2 GiB apart in a 16-row block") {
    std::mt19937 rng(11);
    ThreadPool pool(2);
    const TypeCase *tc = nullptr;
    for (const TypeCase &c : kTypes)
        if (c.type == TypeId::IQ4_XS) tc = &c;
    REQUIRE(tc != nullptr);
    const int64_t k = 2 * QK_K, n = 17; // one block of 16 rows whose last is 2.3 GiB on, then 1
    const uint64_t stride = 150ull << 20, bytes = stride * n;
    void *map = mmap(nullptr, bytes, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    REQUIRE(map != MAP_FAILED);
    const std::vector<uint8_t> packed = random_weights(*tc, k, n, rng);
    const uint64_t row = static_cast<uint64_t>(k / QK_K * tc->block_bytes);
    const uint64_t page = static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
    REQUIRE((row <= page && stride % page == 0));
    for (int64_t i = 0; i < n; ++i) {
        uint8_t *at = static_cast<uint8_t *>(map) + i * stride;
        REQUIRE(mprotect(at, page, PROT_READ | PROT_WRITE) == 0);
        std::memcpy(at, packed.data() + i * row, row);
    }
    const WeightView w{static_cast<uint32_t>(tc->type), k, n, map, stride};
    REQUIRE(matmul_valid(w));
    for (CpuIsa isa : all_isas()) {
        CAPTURE(std::string(cpu_isa_name(isa)));
        check_matmul(*tc, w, 20, isa, pool, rng);
    }
    munmap(map, bytes);
}

TEST_CASE("matmul_valid rejects bad shapes and types") {
    uint8_t buf[64] = {};
    CHECK(matmul_valid({static_cast<uint32_t>(TypeId::Q4_0), 32, 1, buf, 18}));
    CHECK_FALSE(matmul_valid({static_cast<uint32_t>(TypeId::Q4_0), 33, 1, buf, 18}));
    CHECK_FALSE(matmul_valid({static_cast<uint32_t>(TypeId::Q4_0), 32, 1, buf, 17}));
    CHECK_FALSE(matmul_valid({static_cast<uint32_t>(TypeId::Q4_0), 0, 1, buf, 18}));
    CHECK_FALSE(matmul_valid({static_cast<uint32_t>(TypeId::Q4_0), 32, 1, nullptr, 18}));
    CHECK_FALSE(matmul_valid({static_cast<uint32_t>(TypeId::I8), 32, 1, buf, 32})); // no kernel
    CHECK_FALSE(matmul_valid({static_cast<uint32_t>(TypeId::IQ2_XXS), 256, 1, buf, 65}));
    CHECK(matmul_valid({static_cast<uint32_t>(TypeId::IQ2_XXS), 256, 1, buf, 66}));
    // An interleaved matrix must be as aligned as its blocks' fp16 scales.
    alignas(8) uint8_t tile[sizeof(BlockQ4_0x8) + 2] = {};
    const auto q4_0 = static_cast<uint32_t>(TypeId::Q4_0);
    CHECK(matmul_valid({q4_0, 32, 8, tile + 2, 18, WeightLayout::Q4_0x8}));
    CHECK_FALSE(matmul_valid({q4_0, 32, 8, tile + 1, 18, WeightLayout::Q4_0x8}));
    CHECK_FALSE(matmul_supported(static_cast<uint32_t>(TypeId::Q8_K)));
    CHECK(matmul_scratch_bytes(static_cast<uint32_t>(TypeId::Q4_K), 512, 3) == 3u * 2 * 292);
    CHECK(matmul_scratch_bytes(static_cast<uint32_t>(TypeId::F16), 512, 3) == 0);
}
