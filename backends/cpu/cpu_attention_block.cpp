// Block attention (see cpu_attention_block.h), AVX2/FMA/F16C.
//
// Per tile of nk keys, for the block's R query rows:
//   1. K and V rows of the tile as floats (f16 caches converted once into scratch; f32 read in
//      place);
//   2. S = Q K^T (R x nk): two rows by four keys at a time, eight accumulators along head_dim,
//      reduced together with horizontal adds;
//   3. per row: scale (and soft-cap), the tile's max over the row's visible keys, the online
//      softmax's rescale of acc and l when the max grows, then P = exp(S - m) with the invisible
//      keys' P exactly 0, and l += sum P;
//   4. acc += P V (R x head_dim): up to four rows by sixteen dims in registers while the tile's
//      value rows stream past.
// Finally o = acc / l. The arithmetic is attention_ref's up to summation order and exp_approx
// (1.5 ulp) in place of expf.
#include "cpu/cpu_attention_block.h"

#include "core/fp16.h"
#include "cpu/cpu_isa.h"
#include "cpu/cpu_vec.h"
#include "cpu/cpu_vec_avx2.h"

#include <cmath>
#include <cstdint>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define INFER_CPU_X86 1
#endif

namespace infer::cpu {
namespace {

size_t align64(size_t n) { return (n + 63) & ~size_t(63); }

// Keys per tile: 4096 floats (16 KiB) of converted keys and as many of values, at most 64 keys
// (small heads), at least 8; a multiple of 8 (one vector of scores).
int block_keys(int head_dim) {
    int nk = 4096 / head_dim;
    if (nk > 64) nk = 64;
    nk &= ~7;
    return nk < 8 ? 8 : nk;
}

#if INFER_CPU_X86
struct BlockScratch {
    float *k;   // (nk, head_dim) converted keys (f16 caches)
    float *v;   // (nk, head_dim) converted values
    float *s;   // (kBlockRows, nk) scores, then probabilities
    float *acc; // (kBlockRows, head_dim) unnormalized outputs
};

BlockScratch carve(void *scratch, const KvLayout &kv) {
    const size_t nk = size_t(block_keys(kv.head_dim)), hd = size_t(kv.head_dim);
    auto *p = static_cast<unsigned char *>(scratch);
    BlockScratch b;
    b.k = reinterpret_cast<float *>(p);
    p += align64(sizeof(float) * nk * hd);
    b.v = reinterpret_cast<float *>(p);
    p += align64(sizeof(float) * nk * hd);
    b.s = reinterpret_cast<float *>(p);
    p += align64(sizeof(float) * kBlockRows * nk);
    b.acc = reinterpret_cast<float *>(p);
    return b;
}

using namespace vec_detail;

INFER_AVX2 inline float hmax8(__m256 v) {
    __m128 s = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_max_ps(s, _mm_movehl_ps(s, s));
    s = _mm_max_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

// n floats from halves.
INFER_AVX2 void widen_f16(float *y, const uint16_t *x, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i, _mm256_cvtph_ps(_mm_loadu_si128(
                                    reinterpret_cast<const __m128i *>(x + i))));
    for (; i < n; i++)
        y[i] = fp16_to_fp32(x[i]);
}

// s[r][jj] = q_r . k_jj for NR rows (q0, q1) and the n keys of the tile (rows of hd floats).
// Keys go four at a time up to n rounded up to 8, the softmax's vector; keys past n repeat key
// n - 1 (their scores are masked).
template <int NR>
INFER_AVX2 void scores_rows(float *s0, float *s1, const float *q0, const float *q1, const float *k,
                            int n, int hd) {
    const int hd8 = hd & ~7;
    for (int j = 0; j < ((n + 7) & ~7); j += 4) {
        const float *kr[4];
        for (int c = 0; c < 4; c++)
            kr[c] = k + int64_t(j + c < n ? j + c : n - 1) * hd;
        __m256 a[NR][4];
        for (int r = 0; r < NR; r++)
            for (int c = 0; c < 4; c++)
                a[r][c] = _mm256_setzero_ps();
        for (int d = 0; d < hd8; d += 8) {
            const __m256 x0 = _mm256_loadu_ps(q0 + d);
            const __m256 x1 = NR > 1 ? _mm256_loadu_ps(q1 + d) : x0;
            for (int c = 0; c < 4; c++) {
                const __m256 kv = _mm256_loadu_ps(kr[c] + d);
                a[0][c] = _mm256_fmadd_ps(x0, kv, a[0][c]);
                if (NR > 1) a[NR - 1][c] = _mm256_fmadd_ps(x1, kv, a[NR - 1][c]);
            }
        }
        // Four keys' accumulators of one row to four sums: lanes (k0 k1 k2 k3 | k0 k1 k2 k3).
        __m128 sums[NR];
        for (int r = 0; r < NR; r++) {
            const __m256 h = _mm256_hadd_ps(_mm256_hadd_ps(a[r][0], a[r][1]),
                                            _mm256_hadd_ps(a[r][2], a[r][3]));
            sums[r] = _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
        }
        alignas(16) float out[NR][4];
        for (int r = 0; r < NR; r++)
            _mm_store_ps(out[r], sums[r]);
        for (int d = hd8; d < hd; d++) // head_dim not a multiple of 8
            for (int c = 0; c < 4; c++) {
                out[0][c] += q0[d] * kr[c][d];
                if (NR > 1) out[NR - 1][c] += q1[d] * kr[c][d];
            }
        for (int c = 0; c < 4; c++) {
            s0[j + c] = out[0][c];
            if (NR > 1) s1[j + c] = out[NR - 1][c];
        }
    }
}

// acc_r += sum_jj p_r[jj] v_jj for NR rows (acc stride hd, p stride nk) over the n value rows,
// dims [d0, hd).
template <int NR>
INFER_AVX2 void pv_rows(float *acc, const float *p, int nk, const float *v, int n, int hd,
                        int d0 = 0) {
    int d = d0;
    for (; d + 16 <= hd; d += 16) {
        __m256 a[NR][2];
        for (int r = 0; r < NR; r++) {
            a[r][0] = _mm256_loadu_ps(acc + r * hd + d);
            a[r][1] = _mm256_loadu_ps(acc + r * hd + d + 8);
        }
        for (int j = 0; j < n; j++) {
            const __m256 v0 = _mm256_loadu_ps(v + int64_t(j) * hd + d);
            const __m256 v1 = _mm256_loadu_ps(v + int64_t(j) * hd + d + 8);
            for (int r = 0; r < NR; r++) {
                const __m256 pr = _mm256_broadcast_ss(p + r * nk + j);
                a[r][0] = _mm256_fmadd_ps(pr, v0, a[r][0]);
                a[r][1] = _mm256_fmadd_ps(pr, v1, a[r][1]);
            }
        }
        for (int r = 0; r < NR; r++) {
            _mm256_storeu_ps(acc + r * hd + d, a[r][0]);
            _mm256_storeu_ps(acc + r * hd + d + 8, a[r][1]);
        }
    }
    for (; d + 8 <= hd; d += 8) {
        __m256 a[NR];
        for (int r = 0; r < NR; r++)
            a[r] = _mm256_loadu_ps(acc + r * hd + d);
        for (int j = 0; j < n; j++) {
            const __m256 v0 = _mm256_loadu_ps(v + int64_t(j) * hd + d);
            for (int r = 0; r < NR; r++)
                a[r] = _mm256_fmadd_ps(_mm256_broadcast_ss(p + r * nk + j), v0, a[r]);
        }
        for (int r = 0; r < NR; r++)
            _mm256_storeu_ps(acc + r * hd + d, a[r]);
    }
    for (; d < hd; d++)
        for (int r = 0; r < NR; r++) {
            float x = acc[r * hd + d];
            for (int j = 0; j < n; j++)
                x += p[r * nk + j] * v[int64_t(j) * hd + d];
            acc[r * hd + d] = x;
        }
}

// ---- The products in 512-bit vectors (AVX-512F), where the CPU has them. Each lane does what
// the AVX2 kernel's lane does, in the same order, so both levels give the same bits (a 512-bit
// kernel that summed head_dim 16 lanes wide moved Gemma 3's goldens).
#define INFER_AVX512 __attribute__((target("avx512f,avx512vl,avx512dq,avx2,fma,f16c")))

// The tile's keys for scores_rows_wide: each pair of keys (2i, 2i + 1) with their 8-float chunks
// of head_dim side by side, so that one 512-bit load holds chunk d of both (hd a multiple of 8).
// Keys n .. n rounded up to 8 copy key n - 1, as the AVX2 kernel reads them (their scores are
// masked).
INFER_AVX512 void pair_keys(float *kp, const void *keys, KvType type, int n, int hd) {
    for (int j = 0; j < ((n + 7) & ~7); j++) {
        const int64_t from = int64_t(j < n ? j : n - 1) * hd;
        float *dst = kp + int64_t(j / 2) * 2 * hd + (j % 2) * 8;
        for (int d = 0; d < hd; d += 8)
            _mm256_store_ps(dst + 2 * d,
                            type == KvType::f16
                                ? _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i *>(
                                      static_cast<const uint16_t *>(keys) + from + d)))
                                : _mm256_loadu_ps(static_cast<const float *>(keys) + from + d));
    }
}

// 8 floats in both halves, and half h of a 512-bit vector. (The maskz forms with every lane
// set: GCC 12 reports the plain forms' undefined pass-through as -Wmaybe-uninitialized.)
INFER_AVX512 inline __m512 bcast8(const float *p) {
    return _mm512_maskz_broadcast_f32x8(0xFFFF, _mm256_loadu_ps(p));
}
INFER_AVX512 inline __m256 half(__m512 v, int h) {
    return h == 0 ? _mm512_maskz_extractf32x8_ps(0xFF, v, 0)
                  : _mm512_maskz_extractf32x8_ps(0xFF, v, 1);
}

// Lanes 2i and 2i + 1 added: a's 8 sums in the low half, b's in the high.
INFER_AVX512 inline __m512 add_pairs(__m512 a, __m512 b) {
    const __m512i even =
        _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i odd =
        _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
    return _mm512_add_ps(_mm512_permutex2var_ps(a, even, b), _mm512_permutex2var_ps(a, odd, b));
}

// scores_rows over paired keys for NR rows (q[r], scores at s + r * nk): eight keys at a time,
// a pair per 512-bit accumulator, whose halves are the AVX2 kernel's two accumulators (same
// products, same order, same reduction). Four rows share each key load.
template <int NR>
INFER_AVX512 void scores_rows_wide(float *s, int nk, const float *const *q, const float *kp, int n,
                                   int hd) {
    for (int j = 0; j < ((n + 7) & ~7); j += 8) {
        const float *pair = kp + int64_t(j / 2) * 2 * hd;
        __m512 a[NR][4];
        for (int r = 0; r < NR; r++)
            for (int c = 0; c < 4; c++)
                a[r][c] = _mm512_setzero_ps();
        for (int d = 0; d < hd; d += 8) {
            __m512 x[NR];
            for (int r = 0; r < NR; r++)
                x[r] = bcast8(q[r] + d);
            for (int c = 0; c < 4; c++) {
                const __m512 kv = _mm512_load_ps(pair + int64_t(c) * 2 * hd + 2 * d);
                for (int r = 0; r < NR; r++)
                    a[r][c] = _mm512_fmadd_ps(x[r], kv, a[r][c]);
            }
        }
        // Each key's 8 lanes summed as the AVX2 kernel's hadds sum them, ((0+1) + (2+3)) +
        // ((4+5) + (6+7)), but three rounds of adjacent-lane adds over all the row's keys at
        // once (and the last over two rows'), where the hadds took four times the instructions.
        __m512 keys8[NR]; // lanes 2i, 2i + 1: key i's ((0+1) + (2+3)) and ((4+5) + (6+7))
        for (int r = 0; r < NR; r++)
            keys8[r] = add_pairs(add_pairs(a[r][0], a[r][1]), add_pairs(a[r][2], a[r][3]));
        for (int r = 0; r < NR; r += 2) {
            const __m512 two = add_pairs(keys8[r], keys8[r + 1 < NR ? r + 1 : r]);
            _mm256_storeu_ps(s + r * nk + j, half(two, 0));
            if (r + 1 < NR) _mm256_storeu_ps(s + (r + 1) * nk + j, half(two, 1));
        }
    }
}

// pv_rows for dims [d, d + 16 NV) in NV 512-bit vectors per row. Each output lane's products
// and their order do not depend on the width.
template <int NR, int NV>
INFER_AVX512 void pv_block_wide(float *acc, const float *p, int nk, const float *v, int n, int hd,
                                int d) {
    __m512 a[NR][NV];
    for (int r = 0; r < NR; r++)
        for (int u = 0; u < NV; u++)
            a[r][u] = _mm512_loadu_ps(acc + r * hd + d + 16 * u);
    for (int j = 0; j < n; j++) {
        __m512 vj[NV];
        for (int u = 0; u < NV; u++)
            vj[u] = _mm512_loadu_ps(v + int64_t(j) * hd + d + 16 * u);
        for (int r = 0; r < NR; r++) {
            const __m512 pr = _mm512_set1_ps(p[r * nk + j]);
            for (int u = 0; u < NV; u++)
                a[r][u] = _mm512_fmadd_ps(pr, vj[u], a[r][u]);
        }
    }
    for (int r = 0; r < NR; r++)
        for (int u = 0; u < NV; u++)
            _mm512_storeu_ps(acc + r * hd + d + 16 * u, a[r][u]);
}

// pv_rows in 512-bit vectors while 16 dims remain, the rest as the AVX2 kernel.
template <int NR>
INFER_AVX512 void pv_rows_wide(float *acc, const float *p, int nk, const float *v, int n, int hd) {
    int d = 0;
    for (; d + 64 <= hd; d += 64)
        pv_block_wide<NR, 4>(acc, p, nk, v, n, hd, d);
    for (; d + 16 <= hd; d += 16)
        pv_block_wide<NR, 1>(acc, p, nk, v, n, hd, d);
    if (d < hd) pv_rows<NR>(acc, p, nk, v, n, hd, d);
}

// All ones in the lanes j + i with lo - 1 < j + i < hi (lo_1 = lo - 1, hi broadcast).
INFER_AVX2 inline __m256 visible(int j, __m256i lo_1, __m256i hi) {
    const __m256i idx = _mm256_add_epi32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7),
                                         _mm256_set1_epi32(j));
    return _mm256_castsi256_ps(
        _mm256_and_si256(_mm256_cmpgt_epi32(idx, lo_1), _mm256_cmpgt_epi32(hi, idx)));
}

// Step 3 for one row: turns its scores s[0, nk) (nk a multiple of 8) into probabilities under the running max m and
// sum l, rescaling acc (hd floats) when the max grows. Keys outside [lo, hi) get p = 0.
INFER_AVX2 void softmax_row(float *s, int nk, int lo, int hi, const AttnParams &ap, float &m,
                            float &l, float *acc, int hd) {
    if (ap.softcap > 0.0f)
        for (int j = lo; j < hi; j++)
            s[j] = ap.softcap * std::tanh(s[j] * ap.scale / ap.softcap);
    const __m256 scale = _mm256_set1_ps(ap.softcap > 0.0f ? 1.0f : ap.scale);
    const __m256i vlo = _mm256_set1_epi32(lo - 1), vhi = _mm256_set1_epi32(hi);
    const __m256 ninf = _mm256_set1_ps(-INFINITY);
    __m256 mx = ninf;
    for (int j = 0; j < nk; j += 8) {
        const __m256 x = _mm256_mul_ps(_mm256_loadu_ps(s + j), scale);
        _mm256_storeu_ps(s + j, x);
        mx = _mm256_max_ps(mx, _mm256_blendv_ps(ninf, x, visible(j, vlo, vhi)));
    }
    const float tile_max = hmax8(mx);
    if (tile_max > m) {
        // exp(-inf) = 0 on the row's first visible tile, when acc and l are still zero anyway.
        const float c = std::exp(m - tile_max);
        vec_ops().scale(acc, c, hd);
        l *= c;
        m = tile_max;
    }
    const __m256 vm = _mm256_set1_ps(m);
    __m256 sum = _mm256_setzero_ps();
    for (int j = 0; j < nk; j += 8) {
        // No visible key yet leaves m = -inf: every lane is masked, so the NaN of -inf - -inf
        // never survives the and.
        const __m256 p = _mm256_and_ps(exp_avx2(_mm256_sub_ps(_mm256_loadu_ps(s + j), vm)), visible(j, vlo, vhi));
        _mm256_storeu_ps(s + j, p);
        sum = _mm256_add_ps(sum, p);
    }
    l += hsum(sum);
}

// The block kernel; kWide: with the 512-bit products (head_dim a multiple of 8).
template <bool kWide>
void attend_block(const AttnBlock &b, const void *k_cache, const void *v_cache, int kvh,
                  const KvLayout &kv, const AttnParams &ap, void *scratch) {
    const int hd = kv.head_dim, nk = block_keys(hd), rows = b.rows;
    const BlockScratch sc = carve(scratch, kv);
    float m[kBlockRows], l[kBlockRows];
    Range all{INT64_MAX, 0}; // the union of the rows' visible keys
    for (int r = 0; r < rows; r++) {
        m[r] = -INFINITY;
        l[r] = 0.0f;
        for (int d = 0; d < hd; d++)
            sc.acc[r * hd + d] = 0.0f;
        if (b.keys[r].begin < b.keys[r].end) {
            if (b.keys[r].begin < all.begin) all.begin = b.keys[r].begin;
            if (b.keys[r].end > all.end) all.end = b.keys[r].end;
        }
    }
    const int64_t head_base = int64_t(kvh) * kv.n_ctx;
    for (int64_t j0 = all.begin; j0 < all.end; j0 += nk) {
        const int n = int(all.end - j0 < nk ? all.end - j0 : nk);
        const int64_t at = (head_base + j0) * hd;
        const bool f16 = kv.type == KvType::f16;
        // Keys: paired for the 512-bit products (from either cache type), else f16 widened and
        // f32 read in place; values: f16 widened, f32 in place.
        const float *k = sc.k, *v = sc.v;
        if (kWide)
            pair_keys(sc.k,
                      static_cast<const unsigned char *>(k_cache) +
                          at * (f16 ? sizeof(uint16_t) : sizeof(float)),
                      kv.type, n, hd);
        else if (f16)
            widen_f16(sc.k, static_cast<const uint16_t *>(k_cache) + at, int64_t(n) * hd);
        else
            k = static_cast<const float *>(k_cache) + at;
        if (f16)
            widen_f16(sc.v, static_cast<const uint16_t *>(v_cache) + at, int64_t(n) * hd);
        else
            v = static_cast<const float *>(v_cache) + at;
        int r = 0;
        if constexpr (kWide) {
            for (; r < rows; r += 4)
                with_rows(rows - r, [&](auto nr) {
                    scores_rows_wide<nr.value>(sc.s + r * nk, nk, b.q + r, k, n, hd);
                });
        } else {
            for (; r + 2 <= rows; r += 2)
                scores_rows<2>(sc.s + r * nk, sc.s + (r + 1) * nk, b.q[r], b.q[r + 1], k, n, hd);
            if (r < rows) scores_rows<1>(sc.s + r * nk, nullptr, b.q[r], nullptr, k, n, hd);
        }
        for (r = 0; r < rows; r++) {
            int64_t lo = b.keys[r].begin - j0, hi = b.keys[r].end - j0;
            if (lo < 0) lo = 0;
            if (hi > n) hi = n;
            if (hi < lo) hi = lo;
            softmax_row(sc.s + r * nk, (n + 7) & ~7, int(lo), int(hi), ap, m[r], l[r], sc.acc + r * hd, hd);
        }
        for (r = 0; r < rows; r += 4)
            with_rows(rows - r, [&](auto nr) {
                if constexpr (kWide)
                    pv_rows_wide<nr.value>(sc.acc + r * hd, sc.s + r * nk, nk, v, n, hd);
                else
                    pv_rows<nr.value>(sc.acc + r * hd, sc.s + r * nk, nk, v, n, hd);
            });
    }
    for (int r = 0; r < rows; r++) {
        const float inv = attention_out_scale(m[r], l[r], ap.sinks, b.head[r]);
        for (int d = 0; d < hd; d++)
            b.o[r][d] = sc.acc[r * hd + d] * inv;
    }
}
// The 512-bit products need head_dim in whole 8-float chunks (the key pairs' layout).
void attend_block_avx512(const AttnBlock &b, const void *k_cache, const void *v_cache, int kvh,
                         const KvLayout &kv, const AttnParams &ap, void *scratch) {
    if (kv.head_dim % 8 == 0)
        attend_block<true>(b, k_cache, v_cache, kvh, kv, ap, scratch);
    else
        attend_block<false>(b, k_cache, v_cache, kvh, kv, ap, scratch);
}
#endif // INFER_CPU_X86

} // namespace

AttendBlockFn attend_block_kernel() {
#if INFER_CPU_X86
    if (simd_active())
        return cpu_isa_dispatch() == CpuIsa::Avx512Vnni ? attend_block_avx512 : attend_block<false>;
#endif
    return nullptr;
}

size_t attend_block_scratch_bytes(const KvLayout &kv) {
    const size_t nk = size_t(block_keys(kv.head_dim)), hd = size_t(kv.head_dim);
    return 2 * align64(sizeof(float) * nk * hd) + align64(sizeof(float) * kBlockRows * nk) +
           align64(sizeof(float) * kBlockRows * hd);
}

} // namespace infer::cpu
