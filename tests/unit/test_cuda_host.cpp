// The host-compilable half of the CUDA backend, tested without a GPU: block decoders (every type,
// bit for bit against lib/core's reference on random blocks), half/bfloat16 conversion, the
// flash-decoding key split and softmax combine, RoPE angles, launch-shape arithmetic, and all of
// the int8 matvec's math (activation quantization, unaligned loads, dp4a, K-quant scales, MXFP4's
// codebook, every type's unit dot products, walked over rows as the kernel walks them).
// The kernels that use these run in tests/gpu/cuda_tests.cpp on a machine with a GPU.
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#include <doctest/doctest.h>

#include "core/blocks.h"
#include "core/dequant.h"
#include "core/fp16.h"
#include "core/quant.h"
#include "core/random.h"
#include "core/types.h"
#include "cpu/cpu_ops.h"
#include "cuda/cuda_blocks.h"
#include "cuda/cuda_int8_dot.h"
#include "cuda/cuda_launch.h"
#include "tooling/quant_weights.h"

using namespace infer;

namespace {

uint32_t bits(float f) {
    uint32_t u;
    std::memcpy(&u, &f, sizeof u);
    return u;
}

// Decodes n_blocks blocks with the CUDA visitor, each chunk separately; counts visits per element.
template <class B>
void decode_with_visitor(const uint8_t *src, int64_t n_blocks, float *out, int *visits) {
    for (int64_t i = 0; i < n_blocks; ++i)
        for (int c = 0; c < B::kChunks; ++c)
            B::visit(src + i * B::kBlockBytes, c, [&](int j, float v) {
                out[i * B::kBlockElems + j] = v;
                visits[i * B::kBlockElems + j] += 1;
            });
}

// A 64-byte aligned byte buffer (std::vector<uint8_t> promises no alignment), zero-filled.
class AlignedBytes {
public:
    explicit AlignedBytes(size_t n) : storage_(n + 64, 0) {
        const auto addr = reinterpret_cast<uintptr_t>(storage_.data());
        offset_ = static_cast<size_t>((64 - addr % 64) % 64);
    }
    uint8_t *data() { return storage_.data() + offset_; }

private:
    std::vector<uint8_t> storage_;
    size_t offset_ = 0;
};

std::vector<float> random_floats(size_t n, uint64_t seed, float scale) {
    Rng rng(seed);
    std::vector<float> v(n);
    for (float &x : v)
        x = scale * (2.0f * static_cast<float>(rng.uniform()) - 1.0f);
    return v;
}

// Int8 activations of n_tokens rows of k floats in the kernel's layout (act_int8_bytes).
struct HostAct {
    AlignedBytes bytes;
    int8_t *q;
    cuda::ActScale *s;
    HostAct(const std::vector<float> &x, int64_t k, int64_t n_tokens)
        : bytes(static_cast<size_t>(cuda::act_int8_bytes(k, n_tokens))) {
        q = reinterpret_cast<int8_t *>(bytes.data());
        s = reinterpret_cast<cuda::ActScale *>(bytes.data() + n_tokens * k);
        for (int64_t b = 0; b < n_tokens * k / cuda::kActBlock; ++b)
            s[b] =
                cuda::quantize_act_block(x.data() + b * cuda::kActBlock, q + b * cuda::kActBlock);
    }
    float value(int64_t i) const { return s[i / cuda::kActBlock].d * static_cast<float>(q[i]); }
};

// W[row] . x for one token as the int8 kernel computes it: lane by lane over the units of the
// row, each loading its weight words and activation pieces and taking Q::dot.
template <class Q>
float int8_row_dot(const uint8_t *row, int64_t n_blocks, const int8_t *q, const cuda::ActScale *s) {
    float acc = 0.0f;
    for (int64_t unit = 0; unit < n_blocks * Q::kUnits; ++unit) {
        const int64_t blk = unit / Q::kUnits;
        const int part = static_cast<int>(unit % Q::kUnits);
        uint32_t w[Q::kWords];
        Q::load(row + blk * Q::kBlockBytes, part, w);
        uint32_t a[4 * Q::kActPieces];
        cuda::ActScale sc[Q::kActScales];
        cuda::load_act<Q>(q, s, blk, part, a, sc);
        acc += Q::dot(w, part, a, sc);
    }
    return acc;
}

} // namespace

TEST_CASE("cuda host: int8 activation blocks are lib/core's Q8_1 bytes with an f32 scale") {
    const int64_t n = 64 * cuda::kActBlock;
    std::vector<float> x = random_floats(static_cast<size_t>(n), 5, 3.0f);
    for (int j = 0; j < cuda::kActBlock; ++j) // an all-zero block, and one of exact halves
        x[static_cast<size_t>(j)] = 0.0f;
    for (int j = 0; j < cuda::kActBlock; ++j)
        x[static_cast<size_t>(cuda::kActBlock + j)] = 0.5f * static_cast<float>(j - 16);
    std::vector<uint8_t> ref(static_cast<size_t>(n / QK8_1 * sizeof(BlockQ8_1)));
    quantize_row_q8_1_ref(x.data(), ref.data(), n);
    for (int64_t b = 0; b < n / cuda::kActBlock; ++b) {
        CAPTURE(b);
        int8_t q[cuda::kActBlock];
        const cuda::ActScale s = cuda::quantize_act_block(x.data() + b * cuda::kActBlock, q);
        BlockQ8_1 r;
        std::memcpy(&r, ref.data() + b * sizeof(BlockQ8_1), sizeof r);
        REQUIRE(std::memcmp(q, r.qs, sizeof q) == 0);
        REQUIRE(fp32_to_fp16(s.d) == r.d);
        int sum = 0;
        for (int8_t v : q)
            sum += v;
        REQUIRE(s.sum == static_cast<float>(sum));
        REQUIRE(fp32_to_fp16(s.sum * s.d) == r.s);
    }
    CHECK(cuda::act_int8_bytes(4096, 3) == 3 * 4096 + 3 * 128 * sizeof(cuda::ActScale));
}

TEST_CASE("cuda host: dp4a, funnel shifts and byte arithmetic") {
    Rng rng(11);
    for (int it = 0; it < 10000; ++it) {
        const auto a = static_cast<uint32_t>(rng.next()), b = static_cast<uint32_t>(rng.next());
        const int c = static_cast<int>(rng.next() % 2001) - 1000;
        int want = c;
        for (int i = 0; i < 4; ++i) {
            int8_t x, y;
            std::memcpy(&x, reinterpret_cast<const uint8_t *>(&a) + i, 1);
            std::memcpy(&y, reinterpret_cast<const uint8_t *>(&b) + i, 1);
            want += x * y;
        }
        REQUIRE(cuda::dot4(a, b, c) == want);
        const int sh = static_cast<int>(rng.next() % 32);
        REQUIRE(cuda::funnel_right(a, b, sh) ==
                static_cast<uint32_t>((static_cast<uint64_t>(b) << 32 | a) >> sh));
        const uint32_t six = a & 0x3f3f3f3fu; // bytes 0..63
        for (uint32_t n : {4u, 32u}) {
            const uint32_t got = cuda::bytes_minus(six, n);
            for (int i = 0; i < 4; ++i) {
                const int byte = static_cast<int>((six >> (8 * i)) & 0xff);
                REQUIRE(static_cast<int8_t>(got >> (8 * i)) == byte - static_cast<int>(n));
            }
        }
    }
}

template <int NB, bool AnyOffset = false> void check_load_bytes(const uint8_t *buf) {
    for (int offset = 0; offset < 64; offset += AnyOffset ? 1 : 2) {
        CAPTURE(NB);
        CAPTURE(offset);
        uint32_t out[(NB + 3) / 4];
        cuda::load_bytes<NB, AnyOffset>(buf + offset, out);
        REQUIRE(std::memcmp(out, buf + offset, NB) == 0);
    }
}

TEST_CASE(
    "cuda host: unaligned loads give the bytes at every even offset (odd sizes: every offset)") {
    AlignedBytes bytes(256);
    Rng rng(3);
    for (int i = 0; i < 256; ++i)
        bytes.data()[i] = static_cast<uint8_t>(rng.next());
    check_load_bytes<2>(bytes.data());
    check_load_bytes<4>(bytes.data());
    check_load_bytes<14>(bytes.data());
    check_load_bytes<16>(bytes.data());
    check_load_bytes<18>(bytes.data());
    check_load_bytes<20>(bytes.data());
    check_load_bytes<34>(bytes.data());
    check_load_bytes<17, true>(bytes.data());
    check_load_bytes<33, true>(bytes.data());
}

TEST_CASE("cuda host: MXFP4 codes give lib/core's values and scales") {
    for (int q = 0; q < 16; ++q)
        REQUIRE(cuda::mxfp4_value(q) == kValuesMXFP4[q]);
    for (int e = 0; e < 256; ++e)
        REQUIRE(bits(cuda::e8m0_to_float_half(static_cast<uint8_t>(e))) ==
                bits(e8m0_to_fp32_half(static_cast<uint8_t>(e))));
    Rng rng(9);
    for (int it = 0; it < 1000; ++it) {
        const auto q4 = static_cast<uint32_t>(rng.next());
        uint32_t lo, hi;
        cuda::mxfp4_values(q4, &lo, &hi);
        for (int i = 0; i < 4; ++i) {
            const uint32_t byte = (q4 >> (8 * i)) & 0xff;
            REQUIRE(static_cast<int8_t>(lo >> (8 * i)) == kValuesMXFP4[byte & 0x0f]);
            REQUIRE(static_cast<int8_t>(hi >> (8 * i)) == kValuesMXFP4[byte >> 4]);
        }
    }
}

TEST_CASE("cuda host: Q3_K scales from registers match the byte decoder") {
    Rng rng(5);
    for (int it = 0; it < 1000; ++it) {
        uint8_t scales[16] = {};
        for (int i = 0; i < 12; ++i)
            scales[i] = static_cast<uint8_t>(rng.next());
        uint32_t words[4];
        std::memcpy(words, scales, sizeof words);
        for (int j = 0; j < 16; ++j)
            REQUIRE(cuda::q3_k_scale(scales, j) == cuda::q3_k_scale_words(words, j));
    }
}

TEST_CASE("cuda host: K-quant scales and mins from registers match the byte decoder") {
    Rng rng(4);
    for (int it = 0; it < 1000; ++it) {
        uint8_t scales[12];
        for (uint8_t &b : scales)
            b = static_cast<uint8_t>(rng.next());
        uint32_t words[3];
        std::memcpy(words, scales, sizeof scales);
        for (int j = 0; j < 8; ++j) {
            int sc, m, sc2, m2;
            cuda::k4_scale_min(scales, j, &sc, &m);
            cuda::k4_scale_min_words(words, j, &sc2, &m2);
            REQUIRE(sc == sc2);
            REQUIRE(m == m2);
        }
    }
}

TEST_CASE("cuda host: int8 dot products of every type match the dequantized reference") {
    const uint32_t types[] = {2, 3, 8, 10, 11, 12, 13, 14, 39};
    for (uint32_t type : types) {
        const TypeTraits &t = *type_traits(type);
        CAPTURE(t.name);
        for (int64_t n_blocks : {1, 2, 3, 7, 9}) {
            CAPTURE(n_blocks);
            // Four rows back to back: their blocks fall at every phase mod 16 the kernel meets.
            const int64_t k = n_blocks * t.block_elems, n_rows = 4;
            const uint64_t row_bytes = static_cast<uint64_t>(n_blocks) * t.block_bytes;
            AlignedBytes w(static_cast<size_t>(row_bytes * n_rows));
            REQUIRE(random_blocks(type, 50 + type + static_cast<uint64_t>(n_blocks), 0.5f, w.data(),
                                  n_blocks * n_rows));
            std::vector<float> deq(static_cast<size_t>(k * n_rows));
            REQUIRE(dequantize_row_ref(type, w.data(), deq.data(), k * n_rows));
            const std::vector<float> x =
                random_floats(static_cast<size_t>(k), 60 + static_cast<uint64_t>(n_blocks), 2.0f);
            const HostAct act(x, k, 1);
            for (int64_t r = 0; r < n_rows; ++r) {
                CAPTURE(r);
                double want = 0, magnitude = 0;
                for (int64_t i = 0; i < k; ++i) {
                    const double term =
                        static_cast<double>(deq[static_cast<size_t>(r * k + i)]) * act.value(i);
                    want += term;
                    magnitude += std::fabs(term);
                }
                float got = 0;
                REQUIRE(cuda::with_int8_type(type, [&](auto q) {
                    using Q = decltype(q);
                    REQUIRE(Q::kBlockElems == static_cast<int>(t.block_elems));
                    REQUIRE(Q::kBlockBytes == static_cast<int>(t.block_bytes));
                    got = int8_row_dot<Q>(w.data() + r * row_bytes, n_blocks, act.q, act.s);
                }));
                // f32 rounding of per-unit sums only; one wrong element is ~1/k of magnitude.
                REQUIRE(std::fabs(got - want) <= 1e-5 * magnitude);
            }
        }
    }
    CHECK_FALSE(cuda::with_int8_type(static_cast<uint32_t>(TypeId::Q5_0), [](auto) {}));
    CHECK_FALSE(cuda::with_int8_type(static_cast<uint32_t>(TypeId::F16), [](auto) {}));
}

TEST_CASE("cuda host: half and bfloat16 decode match lib/core for all 65536 inputs") {
    for (uint32_t h = 0; h < 65536; ++h) {
        const auto u = static_cast<uint16_t>(h);
        REQUIRE(bits(cuda::half_to_float(u)) == bits(fp16_to_fp32(u)));
        REQUIRE(bits(cuda::bf16_to_float(u)) == bits(bf16_to_fp32(u)));
    }
}

TEST_CASE("cuda host: every block decoder matches dequantize_row_ref bit for bit") {
    const uint32_t types[] = {0, 1, 2, 3, 6, 7, 8, 10, 11, 12, 13, 14, 30, 39};
    for (uint32_t type : types) {
        CAPTURE(type_traits(type)->name);
        REQUIRE(cuda::block_type_supported(type));
        const TypeTraits &t = *type_traits(type);
        const int64_t n_blocks = t.block_elems == 1 ? 333 : 7; // odd counts
        std::vector<uint8_t> src(static_cast<size_t>(n_blocks * t.block_bytes));
        REQUIRE(random_blocks(type, 1234 + type, 0.7f, src.data(), n_blocks));
        const int64_t n = n_blocks * t.block_elems;
        std::vector<float> ref(static_cast<size_t>(n)), ours(static_cast<size_t>(n), NAN);
        std::vector<int> visits(static_cast<size_t>(n), 0);
        REQUIRE(dequantize_row_ref(type, src.data(), ref.data(), n));
        const bool known = cuda::with_block_type(type, [&](auto block) {
            using B = decltype(block);
            REQUIRE(B::kBlockElems == static_cast<int>(t.block_elems));
            REQUIRE(B::kBlockBytes == static_cast<int>(t.block_bytes));
            decode_with_visitor<B>(src.data(), n_blocks, ours.data(), visits.data());
        });
        REQUIRE(known);
        for (int64_t i = 0; i < n; ++i) {
            CAPTURE(i);
            REQUIRE(visits[static_cast<size_t>(i)] == 1);
            REQUIRE(bits(ours[static_cast<size_t>(i)]) == bits(ref[static_cast<size_t>(i)]));
        }
    }
    CHECK_FALSE(cuda::block_type_supported(static_cast<uint32_t>(TypeId::IQ2_XXS)));
    CHECK_FALSE(cuda::block_type_supported(static_cast<uint32_t>(TypeId::IQ4_XS)));
}

TEST_CASE("cuda host: visible keys and key splits cover the window exactly once, in order") {
    CHECK(cuda::first_visible_key(10, 0) == 0);
    CHECK(cuda::first_visible_key(10, 4) == 7); // keys 7..10: pos - j < 4
    CHECK(cuda::first_visible_key(2, 4) == 0);
    for (int first : {0, 3, 100})
        for (int n = 1; n < 300; n += 7)
            for (int splits = 1; splits <= 33; splits += 4) {
                const int last = first + n - 1;
                int next = first;
                for (int s = 0; s < splits; ++s) {
                    const cuda::KeyRange r = cuda::key_split(first, last, s, splits);
                    if (r.begin >= r.end) continue;
                    REQUIRE(r.begin == next);
                    REQUIRE(r.end <= last + 1);
                    next = r.end;
                }
                REQUIRE(next == last + 1);
            }
}

TEST_CASE("cuda host: split softmax partials combine to the direct softmax") {
    Rng rng(42);
    for (int n_keys : {1, 5, 64, 257})
        for (int n_splits : {1, 2, 3, 8, 32}) {
            const int hd = 5;
            std::vector<float> logit(static_cast<size_t>(n_keys)),
                v(static_cast<size_t>(n_keys * hd));
            for (float &x : logit)
                x = 8.0f * (static_cast<float>(rng.uniform()) - 0.5f);
            for (float &x : v)
                x = static_cast<float>(rng.uniform()) - 0.5f;
            // Direct.
            float m = -INFINITY, l = 0;
            for (float x : logit)
                m = std::fmax(m, x);
            std::vector<double> direct(hd, 0.0);
            for (int j = 0; j < n_keys; ++j) {
                const float p = std::exp(logit[static_cast<size_t>(j)] - m);
                l += p;
                for (int d = 0; d < hd; ++d)
                    direct[d] += p * v[static_cast<size_t>(j * hd + d)];
            }
            // Split with the online update the kernel uses.
            std::vector<cuda::SoftmaxPartial> parts(static_cast<size_t>(n_splits));
            std::vector<float> acc(static_cast<size_t>(n_splits * hd), 0.0f);
            for (int s = 0; s < n_splits; ++s) {
                const cuda::KeyRange r = cuda::key_split(0, n_keys - 1, s, n_splits);
                float ms = -INFINITY, ls = 0;
                for (int j = r.begin; j < r.end; ++j) {
                    const float mn = std::fmax(ms, logit[static_cast<size_t>(j)]);
                    const float scale = std::exp(ms - mn),
                                p = std::exp(logit[static_cast<size_t>(j)] - mn);
                    ls = ls * scale + p;
                    for (int d = 0; d < hd; ++d) {
                        float &a = acc[static_cast<size_t>(d * n_splits + s)];
                        a = a * scale + p * v[static_cast<size_t>(j * hd + d)];
                    }
                    ms = mn;
                }
                parts[static_cast<size_t>(s)] = {ms, ls};
            }
            for (int d = 0; d < hd; ++d) {
                const float got = cuda::softmax_combine(
                    parts.data(), &acc[static_cast<size_t>(d * n_splits)], n_splits, 1, -INFINITY);
                CHECK(got == doctest::Approx(direct[d] / l).epsilon(1e-5));
                // A sink joins the denominator: (direct / l) * l / (l + e^(sink - max)); the
                // direct sums are relative to the largest logit.
                const float sink = 0.7f;
                const float with_sink = cuda::softmax_combine(
                    parts.data(), &acc[static_cast<size_t>(d * n_splits)], n_splits, 1, sink);
                float max_logit = -INFINITY;
                for (float x : logit)
                    max_logit = std::fmax(max_logit, x);
                CHECK(with_sink ==
                      doctest::Approx(direct[d] / (l + std::exp(sink - max_logit))).epsilon(1e-5));
            }
        }
}

TEST_CASE("cuda host: attention split counts fill the card without splitting short caches") {
    CHECK(cuda::attention_splits(1, 32, 132) == 1);
    CHECK(cuda::attention_splits(128, 32, 132) == 1);
    CHECK(cuda::attention_splits(4096, 32, 132) == 9); // 2 * 132 / 32, rounded up
    CHECK(cuda::attention_splits(4096, 8, 132) == 32); // capped by kMinKeysPerSplit: 4096 / 128
    CHECK(cuda::attention_splits(1 << 20, 1, 132) == cuda::kMaxAttentionSplits);
    for (int64_t n_ctx : {1, 100, 1000, 4096, 32768})
        for (int n_head : {1, 8, 32, 64}) {
            const int s = cuda::attention_splits(n_ctx, n_head, 132);
            REQUIRE(s >= 1);
            REQUIRE(s <= cuda::kMaxAttentionSplits);
            REQUIRE((s == 1 || (s - 1) * cuda::kMinKeysPerSplit < n_ctx));
        }
}

TEST_CASE("cuda host: RoPE angles rotate exactly as rope_ref") {
    for (cpu::RopeMode mode : {cpu::RopeMode::normal, cpu::RopeMode::neox})
        for (bool yarn : {false, true}) {
            const int head_dim = 24, n_rot = 16, n_head = 3;
            std::vector<float> ff(static_cast<size_t>(n_rot / 2));
            for (int i = 0; i < n_rot / 2; ++i)
                ff[static_cast<size_t>(i)] = 1.0f + 0.25f * static_cast<float>(i);
            cpu::RopeParams p{n_head, head_dim, n_rot, 10000.0f, 0.5f, ff.data(), mode};
            cuda::RopeYarnArgs y;
            if (yarn) { // gpt-oss's kind: the ramp inside the rotary pairs
                p.freq_scale = 1.0f / 32;
                p.ext_factor = y.ext_factor = 1.0f;
                p.attn_factor = y.attn_factor = 0.93f;
                p.corr_dims[0] = y.corr_lo = 2.0f;
                p.corr_dims[1] = y.corr_hi = 6.0f;
            }
            const int32_t pos[2] = {0, 1234};
            std::vector<float> x(static_cast<size_t>(2 * n_head * head_dim));
            Rng rng(7);
            for (float &v : x)
                v = static_cast<float>(rng.uniform()) - 0.5f;
            std::vector<float> ref = x, ours = x;
            cpu::rope_ref(ref.data(), pos, 2, p);
            const float theta_scale = std::pow(p.freq_base, -2.0f / static_cast<float>(n_rot));
            for (int t = 0; t < 2; ++t)
                for (int h = 0; h < n_head; ++h)
                    for (int k = 0; k < n_rot / 2; ++k) {
                        float c, s;
                        cuda::rope_cos_sin(pos[t], k, theta_scale, p.freq_scale, p.freq_factors, y,
                                           &c, &s);
                        float *xh = ours.data() + (t * n_head + h) * head_dim;
                        const int j0 = mode == cpu::RopeMode::neox ? k : 2 * k;
                        const int j1 = mode == cpu::RopeMode::neox ? k + n_rot / 2 : 2 * k + 1;
                        const float x0 = xh[j0], x1 = xh[j1];
                        xh[j0] = x0 * c - x1 * s;
                        xh[j1] = x0 * s + x1 * c;
                    }
            for (size_t i = 0; i < x.size(); ++i)
                REQUIRE(bits(ours[i]) == bits(ref[i]));
        }
}

TEST_CASE("cuda host: GEMM slabs fit their scratch, keep outputs aligned and cover the matrix") {
    for (int64_t k : {1, 64, 4096, 14336})
        for (int64_t n : {1, 7, 4096, 128256})
            for (uint64_t slab : {uint64_t{1} << 10, uint64_t{1} << 20, uint64_t{64} << 20}) {
                CAPTURE(k);
                CAPTURE(n);
                CAPTURE(slab);
                const int64_t rows = cuda::gemm_slab_rows(k, n, slab);
                REQUIRE(rows >= 1);
                REQUIRE(rows <= n);
                if (rows > 1) REQUIRE(static_cast<uint64_t>(rows * k * 2) <= slab);
                if (rows < n && rows >= cuda::kGemmRowAlign)
                    REQUIRE(rows % cuda::kGemmRowAlign == 0);
                if (rows < n && rows >= 8) REQUIRE(rows % 8 == 0);
                // Every slab's output y + r0 has the alignment the cuBLASLt plan is told.
                const uint32_t align = cuda::gemm_output_alignment(rows);
                for (int64_t r0 = 0; r0 < n; r0 += rows)
                    REQUIRE(static_cast<uint64_t>(r0) * 4 % align == 0);
            }
    // The real slab (64 MiB) keeps the 256 bytes cuBLASLt assumes by default, also for the
    // 8B models' ffn_down (k 14336: 2340 rows fit, which left every second slab 128-aligned).
    for (int64_t k : {2048, 4096, 8192, 14336, 28672}) {
        CAPTURE(k);
        CHECK(cuda::gemm_output_alignment(cuda::gemm_slab_rows(k, 4096, 64u << 20)) == 256);
    }
    CHECK(cuda::gemm_output_alignment(1) == 4);
    CHECK(cuda::gemm_output_alignment(2336) == 128);
    CHECK(cuda::gemm_output_alignment(64) == 256);
    CHECK(cuda::gemm_output_alignment(6 * 64) == 256);
    CHECK(cuda::grid_stride_blocks(0, 256) == 1);
    CHECK(cuda::grid_stride_blocks(257, 256) == 2);
    CHECK(cuda::grid_stride_blocks(int64_t{1} << 40, 256) == cuda::kMaxGridStrideBlocks);
    CHECK(cuda::blocks_for(0, 4) == 0);
    CHECK(cuda::blocks_for(9, 4) == 3);
}
