// CPU kernels for the non-matmul ops of a transformer layer: RMSNorm, RoPE, gated activations,
// elementwise add/mul/scale/softcap, the KV-cache store and attention over the KV cache.
//
// Conventions shared by every op here:
// - Plain float arrays; activations are row-major [t][n]: t tokens, each a contiguous vector.
// - Every fast op takes (ith, nth): thread ith of nth handles one contiguous slice of the work
//   (rows or elements; see split_range), or for attention every nth unit. nth = 1 does
//   everything. Slices never overlap and no op has a second phase, so calling ith = 0..nth-1 one
//   after another is as valid as running them on nth threads at once.
// - Ops allocate nothing. Attention and RoPE take per-thread scratch sized by *_scratch_bytes().
// - `*_ref` functions are the readable single-threaded scalar references the fast paths and the
//   GPU backends are tested against. They may allocate (attention_ref does); never call them on
//   the decode path.
// - Numerics follow ggml's CPU backend (see each .cpp for the exact correspondence), so results
//   stay close to llama.cpp's.
#pragma once

#include <cstddef>
#include <cstdint>

namespace infer::cpu {

// ---- Work split --------------------------------------------------------------------------------

struct Range {
    int64_t begin;
    int64_t end; // exclusive
};

// The contiguous slice [begin, end) of n items that thread ith of nth owns: sizes differ by at most
// one, earlier threads take the larger ones, and the slices cover 0..n in order.
inline Range split_range(int64_t n, int ith, int nth) {
    const int64_t base = n / nth;
    const int64_t rem = n % nth;
    const int64_t begin = ith * base + (ith < rem ? ith : rem);
    return {begin, begin + base + (ith < rem ? 1 : 0)};
}

// ---- RMSNorm -----------------------------------------------------------------------------------
// y[r] = x[r] / sqrt(mean(x[r]^2) + eps) * w, for each of `rows` rows of n floats.
// w (n floats) may be null: no weight. y == x is allowed. Gemma's GGUF weights already hold 1 + w.
// Per-head Q/K norm (qwen3, gemma3): call with n = head_dim, rows = t * n_head, w = head_dim
// weight. Split: rows; fewer rows than threads (not in place): each row's elements.
void rms_norm(float *y, const float *x, const float *w, int64_t rows, int n, float eps, int ith,
              int nth);
void rms_norm_ref(float *y, const float *x, const float *w, int64_t rows, int n, float eps);

// ---- RoPE --------------------------------------------------------------------------------------
// Values equal ggml's GGML_ROPE_TYPE_* so a model table can carry either.
enum class RopeMode : int {
    normal = 0, // rotate pairs (2i, 2i+1): llama
    neox = 2,   // rotate pairs (i, i + n_rot/2): qwen2, qwen3, gemma3
};

struct RopeParams {
    int n_head;                // heads in x
    int head_dim;              // floats per head
    int n_rot;                 // leading dims of each head that rotate (even, <= head_dim)
    float freq_base;           // e.g. 10000
    float freq_scale;          // 1 / linear scaling factor; 1 = none
    const float *freq_factors; // n_rot/2 divisors of theta (llama3 `rope_freqs`), or null
    RopeMode mode;
    // YaRN (llama.cpp's rope_yarn): with ext_factor != 0, pair i's angle blends the interpolated
    // angle (freq_scale theta) with the extrapolated one (theta) by a ramp over the pairs between
    // corr_dims[0] and corr_dims[1] (graph::rope_yarn), and cos/sin grow by 1 + 0.1 ln(1 /
    // freq_scale). attn_factor multiplies cos and sin always. ext_factor 0, attn_factor 1: plain
    // RoPE, the same bits.
    float ext_factor = 0;
    float attn_factor = 1;
    float corr_dims[2] = {0, 0};
};

// In place on x [t][n_head][head_dim] at positions pos[t]: pair i turns by
// theta_i = pos * freq_scale * freq_base^(-2i/n_rot) / freq_factors[i] (blended by YaRN when
// set); dims >= n_rot untouched.
// Split: (token, head) rows. scratch: this thread's rope_scratch_bytes(p) bytes, 4-byte aligned.
size_t rope_scratch_bytes(const RopeParams &p);
void rope(float *x, const int32_t *pos, int t, const RopeParams &p, void *scratch, int ith,
          int nth);
void rope_ref(float *x, const int32_t *pos, int t, const RopeParams &p);

// ---- Gated activation --------------------------------------------------------------------------
enum class GluAct : int {
    silu,      // x * sigmoid(x): SwiGLU (llama, qwen)
    gelu_tanh, // 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))): GeGLU (gemma)
    // gpt-oss: g' = min(g, 7), u' = clamp(u, -7, 7), y = g' / (1 + exp(-1.702 g')) * (u' + 1).
    // The up operand enters as u' + 1, so this one is not act(gate) * up.
    swiglu_oai,
};

// y = act(gate) * up over n floats (any [t][n_ff] layout: the arrays are contiguous).
// y may alias gate or up. Split: elements.
void glu(float *y, const float *gate, const float *up, int64_t n, GluAct act, int ith, int nth);
void glu_ref(float *y, const float *gate, const float *up, int64_t n, GluAct act);
float silu_ref(float x);
float gelu_tanh_ref(float x);
float swiglu_oai_ref(float gate, float up);

// ---- Elementwise -------------------------------------------------------------------------------
// All split over elements (mul_rows over rows); y may alias any input.
void add(float *y, const float *a, const float *b, int64_t n, int ith, int nth); // y = a + b
void add_ref(float *y, const float *a, const float *b, int64_t n);
// y[r][i] = x[r][i] * w[i] for rows x [rows][n]
void mul_rows(float *y, const float *x, const float *w, int64_t rows, int n, int ith, int nth);
void mul_rows_ref(float *y, const float *x, const float *w, int64_t rows, int n);
void scale(float *y, const float *x, float s, int64_t n, int ith, int nth); // y = s * x
void scale_ref(float *y, const float *x, float s, int64_t n);
// y = cap * tanh(x / cap) (gemma2-style logit soft-capping); cap > 0
void softcap(float *y, const float *x, float cap, int64_t n, int ith, int nth);
void softcap_ref(float *y, const float *x, float cap, int64_t n);
// y[r][i] = x[r][i] * sigmoid(g[r]) for rows x [rows][n] (qwen2moe's shared-expert gate; llama.cpp
// writes sigmoid as silu(g) / g). Split: rows.
void sigmoid_gate(float *y, const float *x, const float *g, int64_t rows, int n, int ith, int nth);
void sigmoid_gate_ref(float *y, const float *x, const float *g, int64_t rows, int n);

// ---- KV cache and attention --------------------------------------------------------------------
enum class KvType : int { f32, f16 };

// One layer's caches: K [n_kv_head][n_ctx][head_dim] and V [n_kv_head][n_ctx][dv()] of kv_type
// (f16 = IEEE half bits). Cache row j holds the key/value of absolute position j (one sequence).
// With v_in_k (multi-head latent attention) there is no V cache: value row j is the first dv()
// elements of key row j.
struct KvLayout {
    int n_kv_head;
    int head_dim;
    int n_ctx;
    KvType type;
    int head_dim_v = 0; // 0: head_dim
    bool v_in_k = false;

    int dv() const { return head_dim_v ? head_dim_v : head_dim; }
    // Elements between one value row and the next.
    int v_stride() const { return v_in_k ? head_dim : dv(); }
};

// Writes k [t][n_kv_head][head_dim] and v [t][n_kv_head][dv] into the caches at rows pos[t]
// (f16: round to nearest even); v and v_cache are unused with v_in_k. Split: (token, kv head)
// rows. Positions must lie in [0, n_ctx).
void kv_store(void *k_cache, void *v_cache, const float *k, const float *v, const int32_t *pos,
              int t, const KvLayout &kv, int ith, int nth);
void kv_store_ref(void *k_cache, void *v_cache, const float *k, const float *v, const int32_t *pos,
                  int t, const KvLayout &kv);

struct AttnParams {
    int n_head;    // query heads; a multiple of kv.n_kv_head (GQA: head h reads kv head
                   // h / (n_head / n_kv_head))
    float scale;   // logit scale, usually 1/sqrt(head_dim); gemma3: query_pre_attn_scalar^-0.5
    float softcap; // 0 = none; else logit = softcap * tanh(scale * q.k / softcap)
    int n_swa;     // sliding window, 0 = none; key j visible to position p iff p - j < n_swa
                   // (llama.cpp LLAMA_SWA_TYPE_STANDARD: masked when p - j >= n_swa)
    // Attention sinks (gpt-oss), or null: sinks[h] is one more logit in head h's softmax, with no
    // value: it joins the max and the denominator only, so the weights sum to less than 1.
    const float *sinks = nullptr;
};

// o[i][h] = softmax_j(logit(q[i][h], K[kvh][j])) . V[kvh][j] over the visible keys j of query i:
// j <= pos[i] (causal) and, with a window, pos[i] - j < n_swa. q: [t][n_head][head_dim] f32
// (q already roped), o: [t][n_head][dv]; o must not alias q. With v_in_k pass v_cache = k_cache.
// Keys are streamed in tiles with a running max and sum (online softmax), so no [t][n_ctx] score
// matrix exists. Split: units of a token's query heads that share a kv head, dealt out in turn
// (later tokens see more keys). scratch: this thread's attention_scratch_bytes() bytes
// (float-aligned; 64 keeps it on its own cache lines).
size_t attention_scratch_bytes(const KvLayout &kv);
void attention(float *o, const float *q, const void *k_cache, const void *v_cache,
               const int32_t *pos, int t, const KvLayout &kv, const AttnParams &p, void *scratch,
               int ith, int nth);
void attention_ref(float *o, const float *q, const void *k_cache, const void *v_cache,
                   const int32_t *pos, int t, const KvLayout &kv, const AttnParams &p);

// ---- Views of head-structured rows
// --------------------------------------------------------------- Copies (multi-head latent
// attention splits and joins the parts of its heads). Split: rows. y[r][g][i] = x[r][g * stride +
// offset + i] for rows of x_width floats; g < groups, i < width.
void slice_heads(float *y, const float *x, int64_t rows, int64_t x_width, int groups, int width,
                 int64_t stride, int64_t offset, int ith, int nth);
// y[r][g] = a[r][g] (wa floats) then b[r][g] (wb floats), for g < groups.
void concat_heads(float *y, const float *a, const float *b, int64_t rows, int groups, int wa,
                  int wb, int ith, int nth);

// ---- Testing hook ------------------------------------------------------------------------------
// True when the SIMD paths run (AVX2/FMA/F16C on x86, NEON on AArch64) and are not disabled.
bool simd_active();
// Tests call this to run the scalar fallback on a SIMD machine. Not for use while ops run.
void simd_disable_for_testing(bool disable);

} // namespace infer::cpu
