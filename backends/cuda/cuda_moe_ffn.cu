// The routed experts' gated FFN (graph op MoeFfn) over stacked expert weights read in place:
//     y[t] = sum_j w[t][j] * down_e(act(gate_e x[t]) * up_e x[t]),   e = ids[t][j]
// each product plus its expert's bias row when the stacks have biases (gpt-oss).
// The (token, slot) pairs are grouped by expert on the device, so the launches depend on the
// token count only, never on which experts were chosen: the decode step is captured as a CUDA
// graph and replayed, and nothing here waits for the host.
//  1. group_pairs (one block): counts the pairs of each expert (adding them to the layer's
//     selection counters), prefix-sums the counts into group starts, lists the experts that have
//     pairs, and files each pair into its expert's group ("grouped rows"). The order inside a
//     group follows the atomics, but no result depends on it: a row's arithmetic is the same
//     wherever it sits.
//  2. gate/up: a grouped matvec whose grid covers the worst case: grid.y is min(n_expert, t * k)
//     expert slots, and blocks past the number of active experts return at once. A block takes
//     its slot's expert and a span of that expert's rows, and runs the expert's tokens through
//     them in tiles of up to kMatvecMaxTokens: in decode each selected expert's rows are read
//     once; in prefill once per tile of its tokens (from L2 after the first). Gate and up rows
//     share a warp (one activation load serves both) and the epilogue writes act(gate) * up.
//  3. down: the same grouped matvec over the intermediate rows, each output row written to its
//     pair's place.
//  4. combine: y[t] = sum_j w[t][j] * d[t][j] in slot order, as the CPU sums.
// Each matrix takes the int8 path (its activation rows quantized once per 32, dp4a against the
// weights; cuda_int8_dot.h) when its type and alignment allow, else the float path; the loops
// over a row are the dense matvecs' own (cuda_matvec_rows.h).
//
// Scratch for t tokens, n_pairs = t * k (offsets 256-byte aligned; layout_of):
//   n_active, start [n_expert + 1], active [n_expert], row_pair [n_pairs] (grouped row -> pair),
//   xq: x as int8 [t][n_embd], when gate or up may take the int8 path;
//   h [n_pairs][n_ff] f32, by grouped row; u, the same for up when gate and up differ in type;
//   hq: h as int8, when down may take the int8 path; d [n_pairs][n_embd] f32, by pair.
// Bytes moved per call: the selected experts' weights (once per token tile), plus
// n_pairs * (n_ff * 8 + n_embd * 8) of intermediate rows.
#include "cuda/cuda_activation.h"
#include "cuda/cuda_check.h"
#include "cuda/cuda_int8_dot.h"
#include "cuda/cuda_kernels.h"
#include "cuda/cuda_launch.h"
#include "cuda/cuda_matvec_rows.h"
#include "cuda/cuda_warp.h"

#include <algorithm>
#include <type_traits>

namespace infer::cuda {
namespace {

constexpr int kWarps = 4;
constexpr int kRowsPerWarp = 2; // plain launches: weight rows per warp, sharing activation loads
constexpr int kThreads = 256;   // combine

uint64_t align256(uint64_t n) { return (n + 255) & ~uint64_t{255}; }

// Whether a matrix's type and shape may take the int8 path (its data's alignment is known only
// on the device, so the scratch is sized by this and the path chosen by int8_ready).
bool int8_type(const DeviceMatrix &m) {
    return with_int8_type(m.type, [](auto) {}) && m.k % kActBlock == 0 && m.k <= kInt8MaxK;
}

bool int8_ready(const DeviceExperts &e) {
    DeviceMatrix staged = e.m;
    if (e.staged) staged.data = e.staged;
    return matvec_int8_supported(e.m) && matvec_int8_supported(staged) && e.expert_stride % 16 == 0;
}

struct Layout {
    bool fused;            // gate and up of one type: one launch, a (gate, up) row pair per warp
    bool xq_int8, hq_int8; // xq and hq exist
    uint64_t n_active, start, active, row_pair, xq, h, u, hq, d, total;
};

Layout layout_of(const MoeFfnArgs &a, int64_t t) {
    const auto n_embd = static_cast<uint64_t>(a.gate.m.k), n_ff = static_cast<uint64_t>(a.gate.m.n);
    const auto n_expert = static_cast<uint64_t>(a.gate.n_expert);
    const auto pairs = static_cast<uint64_t>(t * a.k);
    Layout L{};
    L.fused = a.gate.m.type == a.up.m.type;
    L.xq_int8 = a.int8 && (int8_type(a.gate.m) || int8_type(a.up.m));
    L.hq_int8 = a.int8 && int8_type(a.down.m);
    uint64_t at = 0;
    auto take = [&](uint64_t bytes) {
        const uint64_t offset = at;
        at += align256(bytes);
        return offset;
    };
    L.n_active = take(4);
    L.start = take((n_expert + 1) * 4);
    L.active = take(n_expert * 4);
    L.row_pair = take(pairs * 4);
    L.xq = L.xq_int8 ? take(act_int8_bytes(a.gate.m.k, t)) : 0;
    L.h = take(pairs * n_ff * 4);
    L.u = L.fused ? 0 : take(pairs * n_ff * 4);
    L.hq = L.hq_int8 ? take(act_int8_bytes(a.gate.m.n, static_cast<int64_t>(pairs))) : 0;
    L.d = take(pairs * n_embd * 4);
    L.total = at;
    return L;
}

// A routed id as an expert index. The router writes valid ids; a stray one (NaN logits upstream)
// must still not send the kernels outside the weights.
__device__ __forceinline__ int expert_of(int32_t id, int n_expert) {
    return id < 0 ? 0 : (id >= n_expert ? n_expert - 1 : id);
}

// Whether this launch computes expert e: all of them, or a subset's resident and staged ones.
__device__ __forceinline__ bool computes(const int32_t *slot, int e) {
    return !slot || slot[e] != kCpuExpert;
}

// Expert e's part of a stack (weights: bytes; biases: floats), `stride` elements apart: its
// packed slot, or its place among the staged experts.
template <class T>
__device__ __forceinline__ const T *expert_data(const T *packed, const T *staged, uint64_t stride,
                                                const int32_t *slot, int e) {
    const int32_t s = slot ? slot[e] : e;
    return s >= 0 ? packed + static_cast<uint64_t>(s) * stride
                  : staged + static_cast<uint64_t>(staged_index(s)) * stride;
}

// A stack as a grouped launch reads it: weights and bias rows, packed and staged.
struct Stack {
    const uint8_t *w, *staged;
    const float *bias, *staged_bias; // null without biases
};

Stack stack_of(const DeviceExperts &e) { return {e.m.data, e.staged, e.bias, e.staged_bias}; }

// Expert e's bias for rows [row0, ..) of n (null without biases).
__device__ __forceinline__ const float *bias_rows(const Stack &s, int64_t n, const int32_t *slot,
                                                  int e, int64_t row0) {
    return s.bias ? expert_data(s.bias, s.staged_bias, static_cast<uint64_t>(n), slot, e) + row0
                  : nullptr;
}

// One block of blockDim.x >= n_expert threads (thread i < n_expert: expert i).
__global__ void __launch_bounds__(kMaxExperts)
    group_pairs_kernel(const int32_t *__restrict__ ids, int n_pairs, int n_expert,
                       const int32_t *__restrict__ slot, int32_t *__restrict__ n_active,
                       int32_t *__restrict__ active, int32_t *__restrict__ start,
                       int32_t *__restrict__ row_pair, unsigned long long *__restrict__ counts) {
    __shared__ int fill[kMaxExperts]; // pairs per expert, then each group's next free row
    __shared__ int scan_rows[kMaxExperts], scan_active[kMaxExperts];
    const int i = static_cast<int>(threadIdx.x), nth = static_cast<int>(blockDim.x);
    if (i < n_expert) fill[i] = 0;
    __syncthreads();
    for (int p = i; p < n_pairs; p += nth) {
        const int e = expert_of(ids[p], n_expert);
        if (computes(slot, e)) atomicAdd(&fill[e], 1);
    }
    __syncthreads();
    const int count = i < n_expert ? fill[i] : 0;
    if (counts && count > 0) counts[i] += static_cast<unsigned long long>(count);
    // Inclusive prefix sums over experts 0..i of the pair counts and of "has pairs".
    int rows = count, n_act = count > 0 ? 1 : 0;
    for (int off = 1; off < n_expert; off <<= 1) {
        scan_rows[i] = rows;
        scan_active[i] = n_act;
        __syncthreads();
        if (i >= off) {
            rows += scan_rows[i - off];
            n_act += scan_active[i - off];
        }
        __syncthreads();
    }
    if (i == 0) start[0] = 0;
    if (i < n_expert) {
        start[i + 1] = rows;
        fill[i] = rows - count;
        if (count > 0) active[n_act - 1] = i;
        if (i == n_expert - 1) *n_active = n_act;
    }
    __syncthreads();
    for (int p = i; p < n_pairs; p += nth) {
        const int e = expert_of(ids[p], n_expert);
        if (computes(slot, e)) row_pair[atomicAdd(&fill[e], 1)] = p;
    }
}

// Where a grouped launch finds its rows: what group_pairs wrote.
struct Groups {
    const int32_t *n_active, *active, *start, *row_pair;
    const int32_t *slot; // expert -> its place in the packed stacks, or null: the expert's id
    int k;               // pairs per token
};

// Grouped row r (a pair of the block's expert) multiplies input row in_by_token ? its token : r
// and writes output row out_by_pair ? its pair : r.
struct GroupedIo {
    bool in_by_token, out_by_pair;
    int act; // the fused gate/up epilogue's activation
};

// Input rows as floats of k: the float path for any block type B.
template <class B> struct FloatRows {
    const float *x;
    int64_t k;
    template <int R, int NT>
    __device__ void operator()(const uint8_t *const (&rows)[R], const int32_t (&src)[NT],
                               int n_tokens, float (&acc)[R][NT]) const {
        float_rows_dot<B, R, NT>(
            rows, k, n_tokens, [&](int t) { return x + src[t] * k; }, acc);
    }
};

// Input rows as int8 activations of k (act_int8_bytes layout): the dp4a path for int8 type Q.
template <class Q> struct Int8Rows {
    const int8_t *q;
    const ActScale *s;
    int64_t k;
    template <int R, int NT>
    __device__ void operator()(const uint8_t *const (&rows)[R], const int32_t (&src)[NT],
                               int n_tokens, float (&acc)[R][NT]) const {
        int8_rows_dot<Q, R, NT>(
            rows, k / Q::kBlockElems, n_tokens,
            [&](int t) {
                return ActRow{q + src[t] * k, s + src[t] * (k / kActBlock)};
            },
            acc);
    }
};

// grid (row spans, expert slots). GateUp: each warp one row of gate (w) and up (w_up), writing
// act(gate) * up; else kRowsPerWarp rows of w. Each product adds its expert's bias row, if any.
template <class Rows, int NT, bool GateUp>
__global__ void __launch_bounds__(32 * kWarps)
    grouped_matvec_kernel(Rows in, Stack w, Stack w_up, uint64_t expert_stride, uint64_t row_bytes,
                          int64_t n, Groups g, GroupedIo io, float *__restrict__ out) {
    constexpr int R = GateUp ? 2 : kRowsPerWarp;
    constexpr int kOutRows = GateUp ? 1 : R;
    if (static_cast<int>(blockIdx.y) >= *g.n_active) return;
    const int e = g.active[blockIdx.y];
    const int g0 = g.start[e], g1 = g.start[e + 1];
    const int lane = threadIdx.x % 32;
    const int64_t row0 = (static_cast<int64_t>(blockIdx.x) * kWarps + threadIdx.x / 32) * kOutRows;
    if (row0 >= n) return;
    const uint8_t *expert = expert_data(w.w, w.staged, expert_stride, g.slot, e);
    const float *bias = bias_rows(w, n, g.slot, e, row0);
    const float *bias_up = GateUp ? bias_rows(w_up, n, g.slot, e, row0) : nullptr;
    const uint8_t *rows[R];
    if constexpr (GateUp) {
        rows[0] = expert + row0 * row_bytes;
        rows[1] = expert_data(w_up.w, w_up.staged, expert_stride, g.slot, e) + row0 * row_bytes;
    } else {
        // Rows past the end repeat the last row (valid memory); their sums are not stored.
        INFER_UNROLL
        for (int r = 0; r < R; ++r)
            rows[r] = expert + (row0 + r < n ? row0 + r : n - 1) * row_bytes;
    }
    for (int t0 = g0; t0 < g1; t0 += NT) {
        const int nt = g1 - t0 < NT ? g1 - t0 : NT;
        int32_t src[NT];
        INFER_UNROLL
        for (int t = 0; t < NT; ++t) {
            const int r = t0 + (t < nt ? t : nt - 1);
            src[t] = io.in_by_token ? g.row_pair[r] / g.k : r;
        }
        float acc[R][NT] = {};
        in(rows, src, nt, acc);
        INFER_UNROLL
        for (int t = 0; t < NT; ++t) {
            if constexpr (GateUp) {
                float gate = warp_sum(acc[0][t]), up = warp_sum(acc[1][t]);
                if (bias) gate += bias[0];
                if (bias_up) up += bias_up[0];
                if (lane == 0 && t < nt) out[(t0 + t) * n + row0] = glu_value(gate, up, io.act);
            } else {
                INFER_UNROLL
                for (int r = 0; r < R; ++r) {
                    const float sum = warp_sum(acc[r][t]);
                    if (lane == 0 && t < nt && row0 + r < n) {
                        const int64_t o = io.out_by_pair ? g.row_pair[t0 + t] : t0 + t;
                        out[o * n + row0 + r] = bias ? sum + bias[r] : sum;
                    }
                }
            }
        }
    }
}

// y[t] = sum_j w[t][j] * d[t * k + j], slot by slot, over the pairs this launch computed
// (y[t] += that sum when accumulating).
__global__ void combine_kernel(const float *__restrict__ d, const float *__restrict__ w,
                               const int32_t *__restrict__ ids, const int32_t *__restrict__ slot,
                               int n_expert, int64_t n_tokens, int k, int64_t n, bool accumulate,
                               float *__restrict__ y) {
    for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n_tokens * n;
         i += int64_t(gridDim.x) * blockDim.x) {
        const int64_t t = i / n, c = i % n;
        const float *wt = w + t * k;
        const float *dt = d + t * k * n + c;
        float acc = 0;
        bool first = true;
        for (int j = 0; j < k; ++j) {
            if (!computes(slot, expert_of(ids[t * k + j], n_expert))) continue;
            acc = first ? wt[j] * dt[j * n] : acc + wt[j] * dt[j * n];
            first = false;
        }
        y[i] = accumulate ? y[i] + acc : acc;
    }
}

// The token tile a launch is compiled for: one token (decode), else kMatvecMaxTokens.
template <class Fn> Status with_moe_tile(int64_t n_tokens, Fn &&fn) {
    if (n_tokens == 1) return fn(std::integral_constant<int, 1>{});
    return fn(std::integral_constant<int, kMatvecMaxTokens>{});
}

// Calls fn(rows) with the input policy for matrix m: int8 rows in xq (n_rows of m.k, quantized)
// or float rows x.
template <class Fn>
Status with_rows(const DeviceMatrix &m, bool int8, const float *x, const uint8_t *xq,
                 int64_t n_rows, Fn &&fn) {
    if (int8) {
        const auto *q = reinterpret_cast<const int8_t *>(xq);
        const auto *s = reinterpret_cast<const ActScale *>(q + n_rows * m.k);
        // The error is made only when it happens: a Status holding one allocates.
        Status result = Status::ok();
        const bool found = with_int8_type(m.type, [&](auto type) {
            (void)(result = fn(Int8Rows<decltype(type)>{q, s, m.k}));
        });
        return found
                   ? result
                   : make_error(INFER_ERR_INTERNAL, "CUDA expert FFN: no int8 path for %u", m.type);
    }
    return for_block_type(m.type, "CUDA expert FFN", [&](auto block) {
        return fn(FloatRows<decltype(block)>{x, m.k});
    });
}

// GateUp: `up` is the second stack of each warp's row pair; else null.
template <bool GateUp, class Rows>
Status launch_grouped(const Rows &in, int64_t n_tokens, const DeviceExperts &w,
                      const DeviceExperts *up, unsigned slots, const Groups &g, const GroupedIo &io,
                      float *out, cudaStream_t stream) {
    const int out_rows = GateUp ? 1 : kRowsPerWarp;
    const dim3 grid(static_cast<unsigned>(blocks_for(w.m.n, kWarps * out_rows)), slots);
    return with_moe_tile(n_tokens, [&](auto nt) {
        INFER_LAUNCH(grid, 32 * kWarps, 0, stream,
                     grouped_matvec_kernel<Rows, decltype(nt)::value, GateUp>)
        (in, stack_of(w), up ? stack_of(*up) : Stack{}, w.expert_stride, w.m.row_bytes, w.m.n, g,
         io, out);
        return INFER_CUDA_STATUS(cudaGetLastError());
    });
}

} // namespace

uint64_t moe_ffn_scratch_bytes(const MoeFfnArgs &a, int64_t max_tokens) {
    return layout_of(a, max_tokens).total;
}

Status moe_ffn(const MoeFfnArgs &a, const float *x, const int32_t *ids, const float *weights,
               int64_t n_tokens, float *y, void *scratch, unsigned long long *counts,
               cudaStream_t stream) {
    if (n_tokens <= 0) return Status::ok();
    const int n_expert = a.gate.n_expert;
    if (a.k < 1 || a.k > n_expert || n_expert > kMaxExperts || n_tokens > kMaxTokensPerRun)
        return make_error(INFER_ERR_INTERNAL,
                          "CUDA expert FFN: k %d of %d experts (at most %d), %lld tokens", a.k,
                          n_expert, kMaxExperts, static_cast<long long>(n_tokens));
    const Layout L = layout_of(a, n_tokens);
    auto *base = static_cast<uint8_t *>(scratch);
    auto i32 = [&](uint64_t offset) { return reinterpret_cast<int32_t *>(base + offset); };
    auto f32 = [&](uint64_t offset) { return reinterpret_cast<float *>(base + offset); };
    const int64_t n_pairs = n_tokens * a.k, n_embd = a.gate.m.k, n_ff = a.gate.m.n;

    // 1. Groups.
    const int64_t threads = std::max<int64_t>(n_expert, std::min<int64_t>(n_pairs, kMaxExperts));
    INFER_LAUNCH(1, static_cast<unsigned>((threads + 31) / 32 * 32), 0, stream, group_pairs_kernel)
    (ids, static_cast<int>(n_pairs), n_expert, a.slot, i32(L.n_active), i32(L.active), i32(L.start),
     i32(L.row_pair), counts);
    INFER_CUDA_LAUNCHED();
    const Groups g{i32(L.n_active), i32(L.active), i32(L.start), i32(L.row_pair), a.slot, a.k};
    const auto slots = static_cast<unsigned>(std::min<int64_t>(n_expert, n_pairs));

    // 2. gate and up into h (fused), or into h and u, then h = act(h) * u.
    const bool gate8 = L.xq_int8 && int8_ready(a.gate), up8 = L.xq_int8 && int8_ready(a.up);
    if (gate8 || up8) INFER_TRY(quantize_act_int8(x, n_embd, n_tokens, base + L.xq, stream));
    float *h = f32(L.h);
    // A subset fills only its pairs' rows; the rest are quantized for down all the same, so they
    // must hold numbers, not what the memory held before.
    if (a.slot) {
        const auto bytes = static_cast<size_t>(n_pairs * n_ff) * sizeof(float);
        INFER_CUDA_TRY(cudaMemsetAsync(base + L.h, 0, bytes, stream));
        if (!L.fused) INFER_CUDA_TRY(cudaMemsetAsync(base + L.u, 0, bytes, stream));
    }
    const GroupedIo by_token{true, false, a.act};
    if (L.fused) {
        INFER_TRY(with_rows(a.gate.m, gate8 && up8, x, base + L.xq, n_tokens, [&](const auto &in) {
            return launch_grouped<true>(in, n_tokens, a.gate, &a.up, slots, g, by_token, h, stream);
        }));
    } else {
        float *u = f32(L.u);
        INFER_TRY(with_rows(a.gate.m, gate8, x, base + L.xq, n_tokens, [&](const auto &in) {
            return launch_grouped<false>(in, n_tokens, a.gate, nullptr, slots, g, by_token, h,
                                         stream);
        }));
        INFER_TRY(with_rows(a.up.m, up8, x, base + L.xq, n_tokens, [&](const auto &in) {
            return launch_grouped<false>(in, n_tokens, a.up, nullptr, slots, g, by_token, u,
                                         stream);
        }));
        INFER_TRY(glu(h, h, u, n_pairs * n_ff, a.act, stream));
    }

    // 3. down, each pair's output row in its place.
    const bool down8 = L.hq_int8 && int8_ready(a.down);
    if (down8) INFER_TRY(quantize_act_int8(h, n_ff, n_pairs, base + L.hq, stream));
    float *d = f32(L.d);
    INFER_TRY(with_rows(a.down.m, down8, h, base + L.hq, n_pairs, [&](const auto &in) {
        return launch_grouped<false>(in, n_tokens, a.down, nullptr, slots, g,
                                     GroupedIo{false, true, a.act}, d, stream);
    }));

    // 4. The weighted sum over each token's slots.
    INFER_LAUNCH(grid_stride_blocks(n_tokens * n_embd, kThreads), kThreads, 0, stream,
                 combine_kernel)
    (d, weights, ids, a.slot, n_expert, n_tokens, a.k, n_embd, a.accumulate, y);
    INFER_CUDA_LAUNCHED();
    return Status::ok();
}

} // namespace infer::cuda
