// The integer math of the fast decode matvec (cuda_matvec_int8.cu), written once for the GPU and
// the host so that tests/unit/test_cuda_host.cpp can hold every piece of it to lib/core's
// reference dequantization on random blocks: activation quantization, the unaligned 16-byte
// weight loads, dp4a, K-quant scale unpacking, and each type's per-unit integer dot product.
//
// Activations. x is quantized once per matvec call, per 32 elements, to int8 with an f32 scale:
// d = amax / 127, q = roundf(x / d) (lib/core's Q8_1 rule, so the int8 bytes equal
// quantize_row_q8_1_ref's), kept with sum(q) for the min and offset terms of Q4_0, Q4_1, Q4_K and
// Q5_K. Layout for n_tokens rows of k: int8 q [n_tokens][k], then ActScale [n_tokens][k / 32].
// Unlike the CPU's Q8_0/Q8_1 (fp16 d) and Q8_K (one scale per 256), d stays f32 per 32, so the
// int8 path is at least as accurate as the CPU's.
//
// Weights are read in place (no repacking). A "unit" is the part of a block one lane decodes:
//   Q4_0, Q4_1, Q8_0, MXFP4: a whole block (32 elements; 18, 20, 34, 17 bytes);
//   Q4_K, Q5_K: a quarter (64 elements: 32 bytes of quants, plus the 16-byte header and, for
//               Q5_K, the 32 bytes of fifth bits that the block's four lanes share through L1);
//   Q6_K: a quarter (64 elements: three 16-byte pieces of ql/qh, plus the scales and d);
//   Q2_K, Q3_K: a quarter, as Q6_K (16 bytes of 2-bit quants, Q3_K's 16 bytes of high bits,
//               the scales and d).
// Consecutive lanes take consecutive units, so a warp's loads cover a contiguous span of the row.
// Q4_K and Q5_K blocks (144, 176 bytes) and their fields are 16-byte aligned whenever the matrix
// is, so their loads are single aligned 128-bit loads. The other blocks (18, 20, 34, 84, 110,
// 210 bytes) start at any even offset mod 16, MXFP4's (17) at any offset: load_bytes() reads the
// aligned 16-byte words that hold the wanted bytes (128-bit loads, never a byte past the last one
// wanted) and funnel-shifts them into place. Adjacent lanes' words overlap, so L1 serves the
// overlap and DRAM still sees each weight byte once; the shifts cost a few ALU ops per 16 bytes.
// (Repacking to an aligned layout would save those but would give prefill's dequantizer a second
// layout to read.)
#pragma once

#include "cuda/cuda_blocks.h"
#include "cuda/cuda_hd.h"

#include <cmath>
#include <cstdint>
#include <cstring>

namespace infer::cuda {

// ---- Activations ---------------------------------------------------------------------------

constexpr int kActBlock = 32;

// One activation block's scale: x ~= d * q; sum = sum(q) as a float (exact: |sum| <= 32 * 127).
struct ActScale {
    float d, sum;
};

// Bytes of the quantized activations for n_tokens rows of k (k a multiple of kActBlock).
INFER_HD uint64_t act_int8_bytes(int64_t k, int64_t n_tokens) {
    return static_cast<uint64_t>(n_tokens * k) +
           static_cast<uint64_t>(n_tokens * (k / kActBlock)) * sizeof(ActScale);
}

// Quantizes the kActBlock floats at x into q; operation for operation lib/core's
// quantize_row_q8_1_ref (so the bytes match it), with the scale kept in f32.
INFER_HD ActScale quantize_act_block(const float *x, int8_t *q) {
    float amax = 0.0f;
    for (int j = 0; j < kActBlock; ++j) {
        const float a = fabsf(x[j]);
        if (a > amax) amax = a;
    }
    const float d = amax / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    int sum = 0;
    for (int j = 0; j < kActBlock; ++j) {
        const float v = roundf(x[j] * id);
        // Saturate as lib/core does (NaN -> 0), so a stray inf or NaN gives garbage, not UB.
        const int iv =
            v != v ? 0 : (v >= 127.0f ? 127 : (v <= -128.0f ? -128 : static_cast<int>(v)));
        q[j] = static_cast<int8_t>(iv);
        sum += iv;
    }
    return {d, static_cast<float>(sum)};
}

// ---- Integer and bit helpers ---------------------------------------------------------------

// c + the four signed byte products of a and b (the dp4a instruction).
INFER_HD int dot4(uint32_t a, uint32_t b, int c) {
#if defined(__CUDA_ARCH__)
    return __dp4a(static_cast<int>(a), static_cast<int>(b), c);
#else
    for (int i = 0; i < 4; ++i)
        c += static_cast<int8_t>(a >> (8 * i)) * static_cast<int8_t>(b >> (8 * i));
    return c;
#endif
}

// The low 32 bits of (hi:lo) >> sh, sh in 0..31.
INFER_HD uint32_t funnel_right(uint32_t lo, uint32_t hi, int sh) {
#if defined(__CUDA_ARCH__)
    return __funnelshift_r(lo, hi, static_cast<unsigned>(sh));
#else
    return static_cast<uint32_t>(((static_cast<uint64_t>(hi) << 32) | lo) >> sh);
#endif
}

// Each byte b (0..127) of v to the int8 b - n, n <= 128 (no borrow crosses bytes: every byte is
// >= 0x80 before the subtraction).
INFER_HD uint32_t bytes_minus(uint32_t v, uint32_t n) {
    return ((v | 0x80808080u) - n * 0x01010101u) ^ 0x80808080u;
}

// The 16 bytes at p (16-byte aligned) as four little-endian words: one 128-bit load on the
// device, through the read-only cache (weights and activations do not change during a kernel).
INFER_HD void load_raw16(const uint8_t *p, uint32_t *w) {
#if defined(__CUDA_ARCH__)
    const uint4 v = __ldg(reinterpret_cast<const uint4 *>(p));
    w[0] = v.x;
    w[1] = v.y;
    w[2] = v.z;
    w[3] = v.w;
#else
    std::memcpy(w, p, 16);
#endif
}

// Word i of raw, 0 past its end (constant indices only, so raw stays in registers).
template <int NR> INFER_HD uint32_t word_or_zero(const uint32_t (&raw)[NR], int i) {
    return i < NR ? raw[i] : 0u;
}

// out[i] = bytes s + 4i .. s + 4i + 3 of raw (s in 0..15). The word offset s / 4 is applied with
// selects over constant indices, not a run-time array index (which would spill raw to memory).
template <int NW, int NR>
INFER_HD void shift_bytes(const uint32_t (&raw)[NR], int s, uint32_t *out) {
    const int q = s >> 2, sh = 8 * (s & 3);
    uint32_t t[NW + 1];
    INFER_UNROLL
    for (int i = 0; i <= NW; ++i) {
        const uint32_t w0 = word_or_zero(raw, i), w1 = word_or_zero(raw, i + 1),
                       w2 = word_or_zero(raw, i + 2), w3 = word_or_zero(raw, i + 3);
        t[i] = q == 0 ? w0 : (q == 1 ? w1 : (q == 2 ? w2 : w3));
    }
    INFER_UNROLL
    for (int i = 0; i < NW; ++i)
        out[i] = funnel_right(t[i], t[i + 1], sh);
}

// The NB bytes at p (p even, or any p with AnyOffset; any offset mod 16) as words: out[i] =
// bytes 4i .. 4i + 3; bytes past NB are unspecified. Loads the aligned 16-byte words holding
// those bytes and no others.
template <int NB, bool AnyOffset = false>
INFER_HD void load_bytes(const uint8_t *p, uint32_t *out) {
    constexpr int kWorstOffset = AnyOffset ? 15 : 14;
    constexpr int kWords16 = (NB + kWorstOffset + 15) / 16;
    const int s = static_cast<int>(reinterpret_cast<uintptr_t>(p) & 15);
    const uint8_t *base = p - s;
    uint32_t raw[4 * kWords16];
    INFER_UNROLL
    for (int v = 0; v < kWords16; ++v) {
        if (16 * v < s + NB) {
            load_raw16(base + 16 * v, raw + 4 * v);
        } else {
            raw[4 * v] = raw[4 * v + 1] = raw[4 * v + 2] = raw[4 * v + 3] = 0u;
        }
    }
    shift_bytes<(NB + 3) / 4>(raw, s, out);
}

// Byte i (0..15) of four words, selected without a run-time array index.
INFER_HD uint32_t byte_of(const uint32_t *w, int i) {
    const int q = i >> 2;
    const uint32_t word = q == 0 ? w[0] : (q == 1 ? w[1] : (q == 2 ? w[2] : w[3]));
    return (word >> (8 * (i & 3))) & 0xffu;
}

// Q4_K/Q5_K's six-bit scale and min of sub-block j from the 12 scale bytes as three words
// (k4_scale_min in cuda_blocks.h, reading registers instead of memory).
INFER_HD void k4_scale_min_words(const uint32_t *s, int j, int *scale, int *min) {
    const uint32_t w[4] = {s[0], s[1], s[2], 0u};
    if (j < 4) {
        *scale = static_cast<int>(byte_of(w, j) & 63);
        *min = static_cast<int>(byte_of(w, j + 4) & 63);
    } else {
        *scale = static_cast<int>((byte_of(w, j + 4) & 0x0f) | ((byte_of(w, j - 4) >> 6) << 4));
        *min = static_cast<int>((byte_of(w, j + 4) >> 4) | ((byte_of(w, j) >> 6) << 4));
    }
}

// Q3_K's scale of sub-block j from its 12 scale bytes as words (q3_k_scale in cuda_blocks.h,
// reading registers instead of memory); s holds four words, the fourth past the scales.
INFER_HD int q3_k_scale_words(const uint32_t *s, int j) {
    const int low = static_cast<int>(j < 8 ? byte_of(s, j) & 0x0f : byte_of(s, j - 8) >> 4);
    const int high = static_cast<int>((byte_of(s, 8 + j % 4) >> (2 * (j / 4))) & 3);
    return low | (high << 4);
}

INFER_HD ActScale load_act_scale(const ActScale *p) {
#if defined(__CUDA_ARCH__)
    const float2 v = __ldg(reinterpret_cast<const float2 *>(p));
    return {v.x, v.y};
#else
    return *p;
#endif
}

constexpr uint32_t kLowNibbles = 0x0f0f0f0fu;

// ---- Weight types --------------------------------------------------------------------------
// Each: the ggml type id and block shape; kUnits lanes per block; kWords weight words a unit
// loads (load()); kActPieces 16-element activation pieces it pairs with, piece i starting at
// element act_elem(u, i) of the block; kActScales activation blocks whose scales it needs,
// the j-th being block act_block(u, j) of the block's; kUnroll units per lane in flight at once;
// dot(): the unit's contribution to W[r] . x, given its weight words, activation words
// (a[4i + m] = elements act_elem(u, i) + 4m .. + 3) and scales.

// The 32-element formats: a block is one unit, read whole; its two activation pieces are the
// halves of one activation block. A block of an odd size (MXFP4's 17 bytes) starts at any offset.
template <uint32_t Type, int Bytes, int Words> struct Int8Block32 {
    static constexpr uint32_t kType = Type;
    static constexpr int kBlockElems = 32, kBlockBytes = Bytes, kUnits = 1, kWords = Words;
    static constexpr int kActPieces = 2, kActScales = 1, kUnroll = 2;
    INFER_HD static int act_elem(int, int i) { return 16 * i; }
    INFER_HD static int act_block(int, int) { return 0; }
    INFER_HD static void load(const uint8_t *b, int, uint32_t (&w)[kWords]) {
        load_bytes<kBlockBytes, kBlockBytes % 2 == 1>(b, w);
    }
};

// sum over the 32 elements of q * a for the 16 bytes of 4-bit quants qs[0..3]: byte j holds
// element j (low nibble) and j + 16 (high).
INFER_HD int nibbles_dot(const uint32_t (&qs)[4], const uint32_t *a) {
    int sumi = 0;
    INFER_UNROLL
    for (int i = 0; i < 4; ++i) {
        sumi = dot4(qs[i] & kLowNibbles, a[i], sumi);
        sumi = dot4((qs[i] >> 4) & kLowNibbles, a[4 + i], sumi);
    }
    return sumi;
}

// Q4_0 {d; qs[16]}: x = (q - 8) * d.
struct Int8Q4_0 : Int8Block32<2, 18, 5> {
    INFER_HD static float dot(const uint32_t (&w)[kWords], int, const uint32_t *a,
                              const ActScale *s) {
        uint32_t qs[4];
        INFER_UNROLL
        for (int i = 0; i < 4; ++i)
            qs[i] = funnel_right(w[i], w[i + 1], 16); // qs bytes 4i..4i+3
        const float d = half_to_float(static_cast<uint16_t>(w[0]));
        return d * s[0].d * static_cast<float>(nibbles_dot(qs, a) - 8 * static_cast<int>(s[0].sum));
    }
};

// Q4_1 {d; m; qs[16]}: x = q * d + m.
struct Int8Q4_1 : Int8Block32<3, 20, 5> {
    INFER_HD static float dot(const uint32_t (&w)[kWords], int, const uint32_t *a,
                              const ActScale *s) {
        const uint32_t qs[4] = {w[1], w[2], w[3], w[4]};
        const float d = half_to_float(static_cast<uint16_t>(w[0]));
        const float m = half_to_float(static_cast<uint16_t>(w[0] >> 16));
        return s[0].d * (d * static_cast<float>(nibbles_dot(qs, a)) + m * s[0].sum);
    }
};

// Q8_0 {d; qs[32] int8}: x = q * d.
struct Int8Q8_0 : Int8Block32<8, 34, 9> {
    INFER_HD static float dot(const uint32_t (&w)[kWords], int, const uint32_t *a,
                              const ActScale *s) {
        int sumi = 0;
        INFER_UNROLL
        for (int i = 0; i < 8; ++i)
            sumi = dot4(funnel_right(w[i], w[i + 1], 16), a[i], sumi); // qs bytes 4i..4i+3
        const float d = half_to_float(static_cast<uint16_t>(w[0]));
        return d * s[0].d * static_cast<float>(sumi);
    }
};

// The int8 values (lib/core's kValuesMXFP4) of the eight 4-bit codes of q4: lo byte i = the
// value of byte i's low nibble, hi byte i = its high nibble's.
INFER_HD void mxfp4_values(uint32_t q4, uint32_t *lo, uint32_t *hi) {
#if defined(__CUDA_ARCH__)
    // The table as four words of bytes: entries 0-7 (codes without the sign bit) in t0, t1 and
    // 8-15 in t2, t3. Per nibble, one byte_perm picks from each half by its low three bits and
    // a third chooses by the sign bit; two more split low and high nibbles (llama.cpp's
    // get_int_from_table_16).
    constexpr uint32_t t0 = 0x03020100u, t1 = 0x0c080604u, t2 = 0xfdfeff00u, t3 = 0xf4f8fafcu;
    uint32_t by_nibble[2]; // the values of nibbles 4i .. 4i + 3 of q4, in nibble order
    INFER_UNROLL
    for (int i = 0; i < 2; ++i) {
        const uint32_t codes = (q4 >> (16 * i)) & 0xffffu;
        const uint32_t positive = __byte_perm(t0, t1, codes & 0x7777u);
        const uint32_t negative = __byte_perm(t2, t3, codes & 0x7777u);
        by_nibble[i] = __byte_perm(positive, negative, 0x3210u | ((codes & 0x8888u) >> 1));
    }
    *lo = __byte_perm(by_nibble[0], by_nibble[1], 0x6420u);
    *hi = __byte_perm(by_nibble[0], by_nibble[1], 0x7531u);
#else
    *lo = *hi = 0;
    for (int i = 0; i < 4; ++i) {
        const uint32_t byte = (q4 >> (8 * i)) & 0xffu;
        *lo |= (static_cast<uint32_t>(mxfp4_value(static_cast<int>(byte & 0x0f))) & 0xffu)
               << (8 * i);
        *hi |= (static_cast<uint32_t>(mxfp4_value(static_cast<int>(byte >> 4))) & 0xffu) << (8 * i);
    }
#endif
}

// MXFP4 {e; qs[16]}: x = kValuesMXFP4[q] * 2^(e - 128), an int8 codebook value times a power of
// two, so its dot is one integer sum times the two scales.
struct Int8MXFP4 : Int8Block32<39, 17, 5> {
    INFER_HD static float dot(const uint32_t (&w)[kWords], int, const uint32_t *a,
                              const ActScale *s) {
        int sumi = 0;
        INFER_UNROLL
        for (int i = 0; i < 4; ++i) {
            uint32_t lo, hi;
            mxfp4_values(funnel_right(w[i], w[i + 1], 8), &lo, &hi); // qs bytes 4i..4i+3
            sumi = dot4(lo, a[i], sumi);
            sumi = dot4(hi, a[4 + i], sumi);
        }
        const float d = e8m0_to_float_half(static_cast<uint8_t>(w[0]));
        return d * s[0].d * static_cast<float>(sumi);
    }
};

// Q4_K and Q5_K: unit u is qs[32u .. 32u + 31], whose low nibbles are sub-block 2u (elements
// 64u + l) and high nibbles sub-block 2u + 1 (64u + 32 + l); x = d * sc * q - dmin * m. Given
// the unit's 8 words of (five-bit) low and high quants and its 16-byte header, its dot is
//   d * (sc1 * da1 * sum(q1 a1) + sc2 * da2 * sum(q2 a2)) - dmin * (m1 * da1 * sum(a1) + ...).
INFER_HD float k4_unit_dot(const uint32_t *header, const uint32_t *lo, const uint32_t *hi, int u,
                           const uint32_t *a, const ActScale *s) {
    int sum1 = 0, sum2 = 0;
    INFER_UNROLL
    for (int i = 0; i < 8; ++i) {
        sum1 = dot4(lo[i], a[i], sum1);
        sum2 = dot4(hi[i], a[8 + i], sum2);
    }
    int sc1, m1, sc2, m2;
    k4_scale_min_words(header + 1, 2 * u, &sc1, &m1);
    k4_scale_min_words(header + 1, 2 * u + 1, &sc2, &m2);
    const float d = half_to_float(static_cast<uint16_t>(header[0]));
    const float dmin = half_to_float(static_cast<uint16_t>(header[0] >> 16));
    return d * (s[0].d * static_cast<float>(sc1 * sum1) + s[1].d * static_cast<float>(sc2 * sum2)) -
           dmin * (s[0].d * static_cast<float>(m1 * static_cast<int>(s[0].sum)) +
                   s[1].d * static_cast<float>(m2 * static_cast<int>(s[1].sum)));
}

// Q4_K {d; dmin; scales[12]; qs[128]}: words 0-3 the header, 4-11 the unit's quants.
// Q4_K and Q5_K share the unit layout: four units of 64 elements (two activation blocks) each.
template <uint32_t Type, int Bytes, int Words> struct Int8K4Layout {
    static constexpr uint32_t kType = Type;
    static constexpr int kBlockElems = 256, kBlockBytes = Bytes, kUnits = 4, kWords = Words;
    static constexpr int kActPieces = 4, kActScales = 2, kUnroll = 1;
    INFER_HD static int act_elem(int u, int i) { return 64 * u + 16 * i; }
    INFER_HD static int act_block(int u, int j) { return 2 * u + j; }
};

struct Int8Q4_K : Int8K4Layout<12, 144, 12> {
    INFER_HD static void load(const uint8_t *b, int u, uint32_t (&w)[kWords]) {
        load_raw16(b, w);
        load_raw16(b + 16 + 32 * u, w + 4);
        load_raw16(b + 32 + 32 * u, w + 8);
    }
    INFER_HD static float dot(const uint32_t (&w)[kWords], int u, const uint32_t *a,
                              const ActScale *s) {
        uint32_t lo[8], hi[8];
        INFER_UNROLL
        for (int i = 0; i < 8; ++i) {
            lo[i] = w[4 + i] & kLowNibbles;
            hi[i] = (w[4 + i] >> 4) & kLowNibbles;
        }
        return k4_unit_dot(w, lo, hi, u, a, s);
    }
};

// Q5_K {d; dmin; scales[12]; qh[32]; qs[128]}: words 0-3 the header, 4-11 all of qh (byte l
// holds bit 2u of element 64u + l and bit 2u + 1 of element 64u + 32 + l), 12-19 the quants.
struct Int8Q5_K : Int8K4Layout<13, 176, 20> {
    INFER_HD static void load(const uint8_t *b, int u, uint32_t (&w)[kWords]) {
        load_raw16(b, w);
        load_raw16(b + 16, w + 4);
        load_raw16(b + 32, w + 8);
        load_raw16(b + 48 + 32 * u, w + 12);
        load_raw16(b + 64 + 32 * u, w + 16);
    }
    INFER_HD static float dot(const uint32_t (&w)[kWords], int u, const uint32_t *a,
                              const ActScale *s) {
        uint32_t lo[8], hi[8];
        INFER_UNROLL
        for (int i = 0; i < 8; ++i) {
            const uint32_t qs = w[12 + i], qh = w[4 + i];
            lo[i] = (qs & kLowNibbles) | (((qh >> (2 * u)) & 0x01010101u) << 4);
            hi[i] = ((qs >> 4) & kLowNibbles) | (((qh >> (2 * u + 1)) & 0x01010101u) << 4);
        }
        return k4_unit_dot(w, lo, hi, u, a, s);
    }
};

// Q2_K, Q3_K and Q6_K pack their quants in two halves of 128 (cuda_blocks.h) and share a unit
// layout: unit u = (half h = u / 2, part p = u % 2) covers l = 16p .. 16p + 15 of half h for all
// four j, element 128h + 32j + l, sub-block (of 16) 8h + 2j + p; its four activation pieces
// are j = 0..3, each in activation block 4h + j.
template <uint32_t Type, int Bytes, int Words> struct Int8HalvesLayout {
    static constexpr uint32_t kType = Type;
    static constexpr int kBlockElems = 256, kBlockBytes = Bytes, kUnits = 4, kWords = Words;
    static constexpr int kActPieces = 4, kActScales = 4, kUnroll = 1;
    INFER_HD static int act_elem(int u, int j) { return 128 * (u / 2) + 32 * j + 16 * (u % 2); }
    INFER_HD static int act_block(int u, int j) { return 4 * (u / 2) + j; }
};

// Q2_K {scales[16]; qs[64]; d; dmin}: q = bits 2j..2j+1 of qs[32h + l]; the sub-block's scale
// byte holds sc (low nibble) and m (high); x = d * sc * q - dmin * m, so a sub-block's dot is
// da * (d * sc * sum(q a) - dmin * m * sum(a)). Words: 0-3 qs[32h + 16p ..], 4-7 the 16 scale
// bytes, 8 d and dmin.
struct Int8Q2_K : Int8HalvesLayout<10, 84, 9> {
    INFER_HD static void load(const uint8_t *b, int u, uint32_t (&w)[kWords]) {
        const int h = u / 2, p = u % 2;
        load_bytes<16>(b + 16 + 32 * h + 16 * p, w);
        load_bytes<16>(b, w + 4);
        load_bytes<4>(b + 80, w + 8);
    }
    INFER_HD static float dot(const uint32_t (&w)[kWords], int u, const uint32_t *a,
                              const ActScale *s) {
        const int h = u / 2, p = u % 2;
        float acc_d = 0.0f, acc_m = 0.0f;
        INFER_UNROLL
        for (int j = 0; j < 4; ++j) {
            int sumi = 0, suma = 0;
            INFER_UNROLL
            for (int i = 0; i < 4; ++i) {
                sumi = dot4((w[i] >> (2 * j)) & 0x03030303u, a[4 * j + i], sumi);
                suma = dot4(0x01010101u, a[4 * j + i], suma);
            }
            const int sc = static_cast<int>(byte_of(w + 4, 8 * h + 2 * j + p));
            acc_d += s[j].d * static_cast<float>((sc & 0x0f) * sumi);
            acc_m += s[j].d * static_cast<float>((sc >> 4) * suma);
        }
        return half_to_float(static_cast<uint16_t>(w[8])) * acc_d -
               half_to_float(static_cast<uint16_t>(w[8] >> 16)) * acc_m;
    }
};

// Q3_K {hmask[32]; qs[64]; scales[12]; d}: q = (bits 2j..2j+1 of qs[32h + l] | bit 4h + j of
// hmask[l] << 2) - 4; x = d * (sc - 32) * q. Words: 0-3 qs[32h + 16p ..], 4-7 hmask[16p ..],
// 8-11 the scales and d (bytes 96..109).
struct Int8Q3_K : Int8HalvesLayout<11, 110, 12> {
    INFER_HD static void load(const uint8_t *b, int u, uint32_t (&w)[kWords]) {
        const int h = u / 2, p = u % 2;
        load_bytes<16>(b + 32 + 32 * h + 16 * p, w);
        load_bytes<16>(b + 16 * p, w + 4);
        load_bytes<14>(b + 96, w + 8);
    }
    INFER_HD static float dot(const uint32_t (&w)[kWords], int u, const uint32_t *a,
                              const ActScale *s) {
        const int h = u / 2, p = u % 2;
        float acc = 0.0f;
        INFER_UNROLL
        for (int j = 0; j < 4; ++j) {
            int sumi = 0;
            INFER_UNROLL
            for (int i = 0; i < 4; ++i) {
                const uint32_t lo = (w[i] >> (2 * j)) & 0x03030303u;
                const uint32_t hi = ((w[4 + i] >> (4 * h + j)) & 0x01010101u) << 2;
                sumi = dot4(bytes_minus(lo | hi, 4), a[4 * j + i], sumi);
            }
            const int sc = q3_k_scale_words(w + 8, 8 * h + 2 * j + p) - 32;
            acc += s[j].d * static_cast<float>(sc * sumi);
        }
        return half_to_float(static_cast<uint16_t>(w[11])) * acc;
    }
};

// Q6_K {ql[128]; qh[64]; scales[16] int8; d}: element 128h + 32j + l takes the low (j = 0, 1) or
// high (j = 2, 3) nibble of ql[64h + 32 (j % 2) + l] and bits 2j..2j+1 of qh[32h + l], scale
// scales[8h + 2j + p]; x = d * sc * (q - 32). Words: 0-3 ql[64h + 16p ..], 4-7 ql[64h + 32 + 16p
// ..], 8-11 qh[32h + 16p ..], 12-16 the 16 scales and d (bytes 192..209).
struct Int8Q6_K : Int8HalvesLayout<14, 210, 17> {
    INFER_HD static void load(const uint8_t *b, int u, uint32_t (&w)[kWords]) {
        const int h = u / 2, p = u % 2;
        load_bytes<16>(b + 64 * h + 16 * p, w);
        load_bytes<16>(b + 64 * h + 32 + 16 * p, w + 4);
        load_bytes<16>(b + 128 + 32 * h + 16 * p, w + 8);
        load_bytes<18>(b + 192, w + 12);
    }
    INFER_HD static float dot(const uint32_t (&w)[kWords], int u, const uint32_t *a,
                              const ActScale *s) {
        const int h = u / 2, p = u % 2;
        float acc = 0.0f;
        INFER_UNROLL
        for (int j = 0; j < 4; ++j) {
            int sumi = 0;
            INFER_UNROLL
            for (int i = 0; i < 4; ++i) {
                const uint32_t ql = w[4 * (j % 2) + i];
                const uint32_t lo = (j < 2 ? ql : ql >> 4) & kLowNibbles;
                const uint32_t hi = ((w[8 + i] >> (2 * j)) & 0x03030303u) << 4;
                sumi = dot4(bytes_minus(lo | hi, 32), a[4 * j + i], sumi);
            }
            const auto sc = static_cast<int8_t>(byte_of(w + 12, 8 * h + 2 * j + p));
            acc += s[j].d * static_cast<float>(sc * sumi);
        }
        return half_to_float(static_cast<uint16_t>(w[16])) * acc;
    }
};

// Loads the activation words and scales unit u of weight block `blk` pairs with, for one token
// (q: that token's int8 row; scales: its ActScale row).
template <class Q>
INFER_HD void load_act(const int8_t *q, const ActScale *scales, int64_t blk, int u,
                       uint32_t (&a)[4 * Q::kActPieces], ActScale (&s)[Q::kActScales]) {
    const auto *qb = reinterpret_cast<const uint8_t *>(q + blk * Q::kBlockElems);
    INFER_UNROLL
    for (int i = 0; i < Q::kActPieces; ++i)
        load_raw16(qb + Q::act_elem(u, i), a + 4 * i);
    const ActScale *sb = scales + blk * (Q::kBlockElems / kActBlock);
    INFER_UNROLL
    for (int j = 0; j < Q::kActScales; ++j)
        s[j] = load_act_scale(sb + Q::act_block(u, j));
}

// Calls fn(Q{}) for the int8 type struct of ggml type `type`; false for a type the int8 path
// does not take (those use the simple matvec).
template <class Fn> bool with_int8_type(uint32_t type, Fn &&fn) {
    switch (type) {
    case Int8Q4_0::kType:
        fn(Int8Q4_0{});
        return true;
    case Int8Q4_1::kType:
        fn(Int8Q4_1{});
        return true;
    case Int8Q8_0::kType:
        fn(Int8Q8_0{});
        return true;
    case Int8MXFP4::kType:
        fn(Int8MXFP4{});
        return true;
    case Int8Q2_K::kType:
        fn(Int8Q2_K{});
        return true;
    case Int8Q3_K::kType:
        fn(Int8Q3_K{});
        return true;
    case Int8Q4_K::kType:
        fn(Int8Q4_K{});
        return true;
    case Int8Q5_K::kType:
        fn(Int8Q5_K{});
        return true;
    case Int8Q6_K::kType:
        fn(Int8Q6_K{});
        return true;
    default:
        return false;
    }
}

} // namespace infer::cuda
