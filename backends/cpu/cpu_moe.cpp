// Mixture-of-experts routing and grouped expert FFN (contract in cpu_moe.h).
#include "cpu/cpu_moe.h"

#include "core/types.h"
#include "cpu/cpu_repack.h"
#include "cpu/cpu_vec_dot.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <numeric>
#include <vector>

namespace infer::cpu {

// ---- Routing -----------------------------------------------------------------------------------
namespace {

// llama.cpp clamps the sum of the k weights to the smallest normal half before dividing.
constexpr float kMinWeightSum = 6.103515625e-5f;

// ggml_vec_soft_max_f32's numerics: p_i = expf(l_i - max) * float(1 / sum_i expf(l_i - max)),
// the sum in double. Both routing paths compute p_i with this one function.
struct Softmax {
    float max;
    float inv_sum;
    float operator()(float logit) const { return std::exp(logit - max) * inv_sum; }
};

Softmax softmax_of(const float *logits, int n) {
    float max = -INFINITY;
    for (int i = 0; i < n; ++i) max = std::max(max, logits[i]);
    double sum = 0;
    for (int i = 0; i < n; ++i) sum += static_cast<double>(std::exp(logits[i] - max));
    return {max, static_cast<float>(1.0 / sum)};
}

void normalize(float *weights, int k) {
    double sum = 0;
    for (int j = 0; j < k; ++j) sum += weights[j];
    const float s = std::max(static_cast<float>(sum), kMinWeightSum);
    for (int j = 0; j < k; ++j) weights[j] /= s;
}

// Inserts expert e of score v into the best `have` of k (best first): strictly better moves
// ahead, so an equal score stays behind the lower id.
void insert_top(int32_t *top, float *topv, int k, int *have, int32_t e, float v) {
    if (*have == k && !(v > topv[k - 1])) return;
    int at = *have < k ? (*have)++ : k - 1;
    while (at > 0 && v > topv[at - 1]) {
        topv[at] = topv[at - 1];
        top[at] = top[at - 1];
        --at;
    }
    topv[at] = v;
    top[at] = e;
}

// softmax_topk's weights: the chosen logits (in place) become their softmax.
void softmax_in_place(float *x, int k) {
    const Softmax p = softmax_of(x, k);
    for (int j = 0; j < k; ++j)
        x[j] = p(x[j]);
}

// The score an expert is ranked and weighted by (before bias, groups and the top-k softmax).
struct Scores {
    const float *logits;
    RouteFn fn;
    Softmax softmax; // fn == softmax
    float operator()(int e) const {
        switch (fn) {
        case RouteFn::softmax:
            return softmax(logits[e]);
        case RouteFn::sigmoid: // ggml_vec_sigmoid_f32
            return 1.0f / (1.0f + std::exp(-logits[e]));
        case RouteFn::softmax_topk:
            break;
        }
        return logits[e];
    }
};

Scores scores_of(const float *logits, int n_expert, RouteFn fn) {
    return {logits, fn, fn == RouteFn::softmax ? softmax_of(logits, n_expert) : Softmax{}};
}

// The k chosen experts' weights from their unbiased scores.
void finish_weights(const Scores &score, const int32_t *ids, float *w, int k, bool norm,
                    float scale) {
    for (int j = 0; j < k; ++j)
        w[j] = score(ids[j]);
    if (score.fn == RouteFn::softmax_topk) softmax_in_place(w, k);
    if (norm) normalize(w, k);
    if (scale != 1.0f)
        for (int j = 0; j < k; ++j)
            w[j] *= scale;
}

} // namespace

void moe_route(const float *logits, int64_t t, int n_expert, int k, bool norm, int32_t *ids,
               float *weights, int ith, int nth, RouteFn fn, const RouteOptions &opt) {
    const Range r = split_range(t, ith, nth);
    const int group_size = opt.n_group > 0 ? n_expert / opt.n_group : n_expert;
    for (int64_t tok = r.begin; tok < r.end; ++tok) {
        const Scores score = scores_of(logits + tok * n_expert, n_expert, fn);
        auto selection = [&](int e) { return opt.bias ? score(e) + opt.bias[e] : score(e); };
        // Which groups compete: all, or the n_group_used of the best top-two sums.
        bool allowed[kMaxRouteGroups];
        std::fill(allowed, allowed + kMaxRouteGroups, opt.n_group == 0);
        if (opt.n_group > 0) {
            int32_t best[kMaxRouteGroups];
            float best_sum[kMaxRouteGroups];
            int have_groups = 0;
            for (int g = 0; g < opt.n_group; ++g) {
                int32_t top2[2];
                float top2v[2];
                int have = 0;
                for (int e = g * group_size; e < (g + 1) * group_size; ++e)
                    insert_top(top2, top2v, 2, &have, e, selection(e));
                insert_top(best, best_sum, opt.n_group_used, &have_groups, g, top2v[0] + top2v[1]);
            }
            for (int j = 0; j < have_groups; ++j)
                allowed[best[j]] = true;
        }
        int32_t *top = ids + tok * k; // the best `have` experts so far, best first
        float *topw = weights + tok * k;
        int have = 0;
        for (int g = 0; g < (opt.n_group > 0 ? opt.n_group : 1); ++g) {
            if (!allowed[g]) continue;
            for (int e = g * group_size; e < (g + 1) * group_size; ++e)
                insert_top(top, topw, k, &have, e, selection(e));
        }
        finish_weights(score, top, topw, k, norm, opt.scale);
    }
}

void moe_route_ref(const float *logits, int64_t t, int n_expert, int k, bool norm, int32_t *ids,
                   float *weights, RouteFn fn, const RouteOptions &opt) {
    std::vector<float> sel(static_cast<size_t>(n_expert));
    std::vector<int32_t> order(static_cast<size_t>(n_expert));
    for (int64_t tok = 0; tok < t; ++tok) {
        const Scores score = scores_of(logits + tok * n_expert, n_expert, fn);
        for (int e = 0; e < n_expert; ++e)
            sel[e] = score(e) + (opt.bias ? opt.bias[e] : 0.0f);
        auto by_selection = [&](int32_t a, int32_t b) { return sel[a] > sel[b]; };
        if (opt.n_group > 0) {
            // Rank the groups by the sum of their two best scores; mask all but the best.
            const int size = n_expert / opt.n_group;
            std::vector<float> group_sum(static_cast<size_t>(opt.n_group));
            for (int g = 0; g < opt.n_group; ++g) {
                std::vector<float> members(sel.begin() + g * size, sel.begin() + (g + 1) * size);
                std::sort(members.begin(), members.end(), std::greater<float>());
                group_sum[g] = members[0] + members[1];
            }
            std::vector<int32_t> groups(static_cast<size_t>(opt.n_group));
            std::iota(groups.begin(), groups.end(), 0);
            std::stable_sort(groups.begin(), groups.end(),
                             [&](int32_t a, int32_t b) { return group_sum[a] > group_sum[b]; });
            for (int j = opt.n_group_used; j < opt.n_group; ++j)
                std::fill(sel.begin() + groups[j] * size, sel.begin() + (groups[j] + 1) * size,
                          -INFINITY);
        }
        std::iota(order.begin(), order.end(), 0);
        std::stable_sort(order.begin(), order.end(), by_selection);
        std::copy(order.begin(), order.begin() + k, ids + tok * k);
        finish_weights(score, ids + tok * k, weights + tok * k, k, norm, opt.scale);
    }
}

void moe_count_selected(const MoeFfn &f, const int32_t *ids, int64_t n, uint64_t *counts) {
    for (int64_t i = 0; i < n; ++i)
        if (f.computes(ids[i])) ++counts[ids[i]];
}

// ---- Expert FFN --------------------------------------------------------------------------------
namespace {

// Weight rows per work item: small enough that a decode step's 8 experts make dozens of items,
// large enough that an item's setup is noise next to its rows.
constexpr int64_t kRowBlock = 32;
// Tokens per pass of the gate/up kernels inside an item (the per-thread up buffer's rows).
constexpr int64_t kTokenChunk = 64;

uint64_t align64(uint64_t n) { return (n + 63) & ~uint64_t{63}; }

// Where each array lives in the scratch, for max_tokens tokens x k slots ("pairs"). Pairs are
// grouped by expert: group e is the rows [start[e], start[e+1]) of the pair arrays.
struct Layout {
    int64_t n_embd, n_ff, n_pairs;
    uint64_t act_gate, act_up, act_down; // bytes of one quantized row for each matrix
    bool shared_act;                     // gate and up take the same activation format
    // Byte offsets.
    uint64_t control;  // 3 cache lines: gate/up item counter, down item counter, n_active
    uint64_t start;    // int32 [n_expert + 1]: group starts
    uint64_t cursor;   // int32 [n_expert]: fill positions while grouping
    uint64_t active;   // int32 [n_expert]: experts with at least one pair, ascending
    uint64_t ready;    // int32 [n_expert]: decode: the expert's gate/up items finished
    uint64_t units;    // decode: per thread, a cache line: DownUnits
    uint64_t pair_row; // int32 [max_tokens][k]: the grouped row of (token, slot)
    uint64_t hq;       // [n_pairs] quantized intermediate rows (down's activations)
    uint64_t up_tmp;   // f32 [nth][kTokenChunk][kRowBlock]: an item's up outputs
    // One region used twice: until the down phase, the gathered activations and the
    // intermediate rows; then the down outputs (the former are dead by then). Decode's down
    // phase starts while other threads may still read and write the former, so it has d apart.
    uint64_t xg_gate, xg_up; // [n_pairs] quantized x rows, grouped
    uint64_t h;              // f32 [n_pairs][n_ff]: act(gate) * up
    uint64_t d;              // f32 [n_pairs][n_embd]: each pair's down output
    uint64_t total;
};

Layout layout_of(const MoeFfn &f, int64_t max_tokens, int k, int nth, bool decode) {
    Layout L{};
    L.n_embd = f.gate.k;
    L.n_ff = f.gate.n;
    L.n_pairs = max_tokens * k;
    L.act_gate = matmul_act_row_bytes(f.gate.type, L.n_embd);
    L.act_up = matmul_act_row_bytes(f.up.type, L.n_embd);
    L.act_down = matmul_act_row_bytes(f.down.type, L.n_ff);
    uint32_t ag = 0, au = 0;
    vec_dot_act_type(f.gate.type, &ag);
    vec_dot_act_type(f.up.type, &au);
    L.shared_act = ag == au;
    const auto n_expert = static_cast<uint64_t>(f.gate.n_expert);
    const auto pairs = static_cast<uint64_t>(L.n_pairs);
    uint64_t at = 0;
    auto take = [&](uint64_t bytes) {
        const uint64_t offset = at;
        at += align64(bytes);
        return offset;
    };
    L.control = take(3 * 64);
    L.start = take((n_expert + 1) * 4);
    L.cursor = take(n_expert * 4);
    L.active = take(n_expert * 4);
    L.ready = take(n_expert * 4);
    L.units = take(static_cast<uint64_t>(nth) * 64);
    L.pair_row = take(pairs * 4);
    L.hq = take(pairs * L.act_down);
    L.up_tmp = take(static_cast<uint64_t>(nth) * kTokenChunk * kRowBlock * 4);
    const uint64_t region = at;
    L.xg_gate = take(pairs * L.act_gate);
    L.xg_up = L.shared_act ? L.xg_gate : take(pairs * L.act_up);
    L.h = take(pairs * static_cast<uint64_t>(L.n_ff) * 4);
    const uint64_t d_bytes = pairs * static_cast<uint64_t>(L.n_embd) * 4;
    L.d = decode ? take(d_bytes) : region;
    L.total = std::max(at, region + align64(d_bytes));
    return L;
}

template <class T> T *at(void *scratch, uint64_t offset) {
    return reinterpret_cast<T *>(static_cast<uint8_t *>(scratch) + offset);
}

// This thread's work items of a phase, numbered expert-major (item / blocks = index among the
// active experts, item % blocks = block of weight rows). One token (decode): every item costs the
// same, so each thread takes a static contiguous share, which streams long runs of consecutive
// weight rows. Several tokens: an item costs as many tokens as its expert has, so threads take
// items from the shared counter (relaxed: the items' data is published by barriers).
class Items {
public:
    Items(int64_t n_items, int64_t t, int64_t *counter, int ith, int nth)
        : counter_(t > 1 ? counter : nullptr), n_items_(n_items) {
        const Range r = split_range(n_items, ith, nth);
        next_ = r.begin;
        end_ = r.end;
    }
    bool take(int64_t *item) {
        if (counter_) {
            *item = std::atomic_ref<int64_t>(*counter_).fetch_add(1, std::memory_order_relaxed);
            return *item < n_items_;
        }
        *item = next_++;
        return *item < end_;
    }

private:
    int64_t *counter_;
    int64_t n_items_, next_, end_;
};

// rows[c * stride + i] += bias[i] for c < n, i < len; nothing when bias is null.
void add_bias(float *rows, int64_t stride, int64_t n, const float *bias, int64_t len) {
    if (!bias) return;
    for (int64_t c = 0; c < n; ++c)
        for (int64_t i = 0; i < len; ++i)
            rows[c * stride + i] += bias[i];
}

// Expert e's bias row of `bias` ([n_expert][width]) from element r0, or null.
const float *bias_at(const float *bias, int64_t e, int64_t width, int64_t r0) {
    return bias ? bias + e * width + r0 : nullptr;
}

// y[0..n) = sum over the slots j with rows[j] >= 0, in slot order, of w[j] * d[rows[j] * stride
// + i]; 0 when no slot is computed. The reference sums the same products in the same order.
void weighted_sum(const float *d, int64_t stride, const int32_t *rows, const float *w, int k,
                  int64_t n, float *y) {
    bool first = true;
    for (int j = 0; j < k; ++j) {
        if (rows[j] < 0) continue;
        const float *dj = d + rows[j] * stride;
        if (first) for (int64_t i = 0; i < n; ++i) y[i] = w[j] * dj[i];
        else for (int64_t i = 0; i < n; ++i) y[i] += w[j] * dj[i];
        first = false;
    }
    if (first) std::fill(y, y + n, 0.0f);
}

// Thread 0: groups the t * k pairs whose expert f computes by expert (tokens ascending within a
// group; the other pairs get row -1) and resets the work counters.
void group_pairs(const Layout &L, const MoeFfn &f, const int32_t *ids, int64_t t, int k,
                 void *scratch) {
    const auto n_expert = static_cast<int>(f.gate.n_expert);
    int32_t *start = at<int32_t>(scratch, L.start);
    int32_t *cursor = at<int32_t>(scratch, L.cursor);
    int32_t *active = at<int32_t>(scratch, L.active);
    int32_t *pair_row = at<int32_t>(scratch, L.pair_row);
    std::fill(cursor, cursor + n_expert, 0);
    for (int64_t i = 0; i < t * k; ++i)
        if (f.computes(ids[i])) ++cursor[ids[i]];
    int32_t n_active = 0;
    start[0] = 0;
    for (int e = 0; e < n_expert; ++e) {
        start[e + 1] = start[e] + cursor[e];
        if (cursor[e] > 0) active[n_active++] = e;
        cursor[e] = start[e];
    }
    for (int64_t i = 0; i < t * k; ++i) pair_row[i] = f.computes(ids[i]) ? cursor[ids[i]]++ : -1;
    int64_t *control = at<int64_t>(scratch, L.control);
    control[0] = 0;       // gate/up items taken
    control[8] = 0;       // down items taken
    control[16] = n_active;
}

// ---- One token (decode) ---------------------------------------------------------------------

// A thread's down work in decode: its share of n_embd's rows of each active expert, in two halves
// (units), which it takes from the front while threads done with their own take from the back.
struct DownUnits {
    int64_t ends;  // packed: the next unit from the front (low 32 bits), the end (high 32 bits)
    int32_t done;  // units whose rows of d are written (release)
    int32_t count; // units in all
};
static_assert(sizeof(DownUnits) <= 64);

bool take_unit(DownUnits &q, bool front, int32_t *unit) {
    const std::atomic_ref<int64_t> ends(q.ends);
    int64_t now = ends.load(std::memory_order_relaxed);
    for (;;) {
        const auto next = static_cast<int32_t>(now & 0xFFFFFFFF),
                   end = static_cast<int32_t>(now >> 32);
        if (next >= end) return false;
        *unit = front ? next : end - 1;
        const int64_t want =
            front ? (now & ~int64_t{0xFFFFFFFF}) | (next + 1) : (int64_t{end - 1} << 32) | next;
        if (ends.compare_exchange_weak(now, want, std::memory_order_relaxed)) return true;
    }
}

// The same work with one barrier where the general path has four: decode is bound by streaming
// the selected experts' weights, and every barrier is a point where the first thread to arrive
// idles (or, on a busy machine, one descheduled thread stalls the other).
//  - Thread 0 groups the pairs and quantizes the one activation row (a few microseconds).
//  - Gate/up items span whole activation blocks of down's format, so each item quantizes its
//    own slice of the intermediate row: the separate quantization phase is gone.
//  - Down is split by output rows: each thread streams its share of every selected expert's
//    down matrix and sums those rows over the token's slots itself, in slot order, so no barrier
//    precedes the weighted sum.
//  - Down waits for each expert's intermediate row alone (its gate/up items counted in `ready`)
//    rather than at a barrier for all of them, starting with the experts this thread made: the
//    barrier cost each of 2 threads 3-6% of OLMoE-1B-7B's expert FFN, the later one to finish
//    its gate/up items waiting there on each layer as often as the other.
//  - A thread done with its down units takes the others' last ones (DownUnits), and each thread
//    sums its rows once all of their units are written: the threads then finish together where
//    one waited 4-6% of the node for the other at the node's barrier (OLMoE-1B-7B).
// Each thread's reads are a few long streams, as a dense matmul's are: with items of 256 gate/up
// rows and of 128 down rows (every call starting a new stream of 73-295 KB), OLMoE-1B-7B's expert
// FFN read 25.5 GB/s where its dense matmuls read 29.4 (2 threads, Xeon, AVX2).
// Every output element is still computed with the general path's arithmetic.

// Gate/up rows per decode item: a multiple of down's activation block (256 for Q8_K).
int64_t decode_ff_block(const MoeFfn &f) {
    uint32_t act = 0;
    vec_dot_act_type(f.down.type, &act);
    const TypeTraits *tt = type_traits(act);
    const int64_t block = tt ? tt->block_elems : 1;
    return (kRowBlock + block - 1) / block * block;
}

// The decode path fits: an item's up rows fit the thread's up buffer.
bool decode_fits(const MoeFfn &f) { return decode_ff_block(f) <= kTokenChunk * kRowBlock; }

void moe_ffn_decode(const MoeFfn &f, const Layout &L, const float *x, const int32_t *ids,
                    const float *weights, int k, float *y, void *scratch, uint64_t *counts,
                    int ith, int nth, ThreadPool &pool, CpuIsa isa) {
    const int64_t n_embd = L.n_embd, n_ff = L.n_ff;
    const int64_t *control = at<int64_t>(scratch, L.control);
    const int32_t *start = at<int32_t>(scratch, L.start);
    const int32_t *active = at<int32_t>(scratch, L.active);
    const int32_t *pair_row = at<int32_t>(scratch, L.pair_row);
    int32_t *ready = at<int32_t>(scratch, L.ready);
    uint8_t *xg_gate = at<uint8_t>(scratch, L.xg_gate), *xg_up = at<uint8_t>(scratch, L.xg_up);
    float *h = at<float>(scratch, L.h);
    uint8_t *hq = at<uint8_t>(scratch, L.hq);
    float *tmp = at<float>(scratch, L.up_tmp) + ith * kTokenChunk * kRowBlock;
    const int64_t ff_block = decode_ff_block(f), ff_blocks = (n_ff + ff_block - 1) / ff_block;
    // Thread t's gate/up items, its rows of down, its down units.
    auto items_of = [&](int t) { return split_range(control[16] * ff_blocks, t, nth); };
    auto down_rows = [&](int t, int64_t *r0, int64_t *r1) {
        matmul_decode_share(f.down.expert(0), t, nth, r0, r1, isa);
    };
    auto units_of = [&](int t) { return at<DownUnits>(scratch, L.units + 64 * t); };

    // ---- Thread 0: group, count, quantize x once (every pair's activation row is row 0).
    if (ith == 0) {
        group_pairs(L, f, ids, 1, k, scratch);
        std::fill(ready, ready + f.gate.n_expert, 0);
        for (int t = 0; t < nth; ++t) {
            int64_t r0 = 0, r1 = 0;
            down_rows(t, &r0, &r1);
            const auto count = static_cast<int32_t>(r0 < r1 ? 2 * control[16] : 0);
            *units_of(t) = DownUnits{int64_t{count} << 32, 0, count};
        }
        if (counts) moe_count_selected(f, ids, k, counts);
        matmul_quantize_act_row(f.gate.type, x, n_embd, xg_gate, isa);
        if (!L.shared_act) matmul_quantize_act_row(f.up.type, x, n_embd, xg_up, isa);
    }
    pool.barrier(ith);

    // ---- This thread's share of the (expert, block of n_ff rows) items: h = act(gate x) * up x,
    // then its slice of hq. An expert's consecutive blocks are one run, which streams gate's
    // rows, then up's, in chunks of the up buffer's size.
    const int64_t chunk = kTokenChunk * kRowBlock / ff_block * ff_block;
    const Range items = items_of(ith);
    for (int64_t ei = items.begin / ff_blocks; ei * ff_blocks < items.end; ++ei) {
        const int32_t e = active[ei];
        // This thread's items of the expert, [i0, i1), are its rows [run0, run1).
        const int64_t i0 = std::max(items.begin, ei * ff_blocks),
                      i1 = std::min(items.end, (ei + 1) * ff_blocks);
        const int64_t run0 = (i0 - ei * ff_blocks) * ff_block,
                      run1 = std::min(n_ff, (i1 - ei * ff_blocks) * ff_block);
        float *he = h + start[e] * n_ff; // the expert's one pair
        for (int64_t r0 = run0; r0 < run1; r0 += chunk) {
            const int64_t r1 = std::min(run1, r0 + chunk);
            matmul_rows(f.gate.expert(e), xg_gate, L.act_gate, 1, he + r0, n_ff, r0, r1, isa);
            matmul_rows(f.up.expert(e), xg_up, L.act_up, 1, tmp, chunk, r0, r1, isa);
            add_bias(he + r0, n_ff, 1, bias_at(f.gate_bias, e, n_ff, r0), r1 - r0);
            add_bias(tmp, chunk, 1, bias_at(f.up_bias, e, n_ff, r0), r1 - r0);
            glu(he + r0, he + r0, tmp, r1 - r0, f.act, 0, 1);
            matmul_quantize_act_row(
                f.down.type, he + r0, r1 - r0,
                hq + start[e] * L.act_down + matmul_act_row_bytes(f.down.type, r0), isa);
        }
        std::atomic_ref<int32_t>(ready[e]).fetch_add(static_cast<int32_t>(i1 - i0),
                                                     std::memory_order_release);
    }

    // ---- Down, by units: unit u of thread t is half of t's share of n_embd's rows of active
    // expert (first + u / 2) % n_active (one pair each: a token picks an expert once), where
    // first is the first expert t had items of; its rows go into the pair's row of d once the
    // expert's intermediate row is complete. Then this thread's rows, summed over the slots.
    float *d = at<float>(scratch, L.d);
    const int64_t n_active = control[16];
    auto run_unit = [&](int t, int32_t u) {
        int64_t r0 = 0, r1 = 0;
        down_rows(t, &r0, &r1);
        const int64_t mid = r0 + (r1 - r0) / 2 / kRepackRows * kRepackRows;
        const int64_t u0 = u % 2 ? mid : r0, u1 = u % 2 ? r1 : mid;
        const int64_t first = std::min(items_of(t).begin / ff_blocks, n_active - 1);
        const int32_t e = active[(first + u / 2) % n_active];
        if (u0 < u1) {
            ThreadPool::wait_at_least(&ready[e], static_cast<int32_t>(ff_blocks));
            float *de = d + start[e] * n_embd + u0;
            matmul_rows(f.down.expert(e), hq + start[e] * L.act_down, L.act_down, 1, de, n_embd, u0,
                        u1, isa);
            add_bias(de, n_embd, 1, bias_at(f.down_bias, e, n_embd, u0), u1 - u0);
        }
        std::atomic_ref<int32_t>(units_of(t)->done).fetch_add(1, std::memory_order_release);
    };
    int32_t u = 0;
    while (take_unit(*units_of(ith), true, &u))
        run_unit(ith, u);
    for (int v = 1; v < nth; ++v) // then the others' last units
        while (take_unit(*units_of((ith + v) % nth), false, &u))
            run_unit((ith + v) % nth, u);
    int64_t r0 = 0, r1 = 0;
    down_rows(ith, &r0, &r1);
    if (r0 == r1) return;
    ThreadPool::wait_at_least(&units_of(ith)->done, units_of(ith)->count);
    weighted_sum(d + r0, n_embd, pair_row, weights, k, r1 - r0, y + r0);
}

} // namespace

uint64_t moe_ffn_scratch_bytes(const MoeFfn &f, int64_t max_tokens, int k, int nth) {
    const uint64_t general = layout_of(f, max_tokens, k, nth, false).total;
    return decode_fits(f) ? std::max(general, layout_of(f, 1, k, nth, true).total) : general;
}

void moe_ffn(const MoeFfn &f, const float *x, const int32_t *ids, const float *weights, int64_t t,
             int k, float *y, void *scratch, uint64_t *counts, int ith, int nth, ThreadPool &pool,
             CpuIsa isa) {
    const bool decode = t == 1 && decode_fits(f);
    const Layout L = layout_of(f, t, k, nth, decode); // offsets for t tokens: the scratch fits
    if (decode)
        return moe_ffn_decode(f, L, x, ids, weights, k, y, scratch, counts, ith, nth, pool, isa);
    const int64_t n_embd = L.n_embd, n_ff = L.n_ff;
    int64_t *control = at<int64_t>(scratch, L.control);
    const int32_t *start = at<int32_t>(scratch, L.start);
    const int32_t *active = at<int32_t>(scratch, L.active);
    const int32_t *pair_row = at<int32_t>(scratch, L.pair_row);
    uint8_t *xg_gate = at<uint8_t>(scratch, L.xg_gate);
    uint8_t *xg_up = at<uint8_t>(scratch, L.xg_up);
    float *h = at<float>(scratch, L.h);
    uint8_t *hq = at<uint8_t>(scratch, L.hq);
    float *d = at<float>(scratch, L.d);

    // ---- Phase 0: group the pairs by expert; count the selections.
    if (ith == 0) {
        group_pairs(L, f, ids, t, k, scratch);
        if (counts) moe_count_selected(f, ids, t * k, counts);
    }
    pool.barrier(ith);
    const int64_t n_active = control[16];

    // ---- Phase 1: quantize each token's row once, into its first grouped row; copy to the rest.
    const Range tokens = split_range(t, ith, nth);
    for (int64_t tok = tokens.begin; tok < tokens.end; ++tok) {
        const int32_t *rows = pair_row + tok * k;
        int j0 = 0;
        while (j0 < k && rows[j0] < 0) ++j0;
        if (j0 == k) continue; // none of its experts is computed here
        uint8_t *qg = xg_gate + rows[j0] * L.act_gate, *qu = xg_up + rows[j0] * L.act_up;
        matmul_quantize_act_row(f.gate.type, x + tok * n_embd, n_embd, qg, isa);
        if (!L.shared_act) matmul_quantize_act_row(f.up.type, x + tok * n_embd, n_embd, qu, isa);
        for (int j = j0 + 1; j < k; ++j) {
            if (rows[j] < 0) continue;
            std::memcpy(xg_gate + rows[j] * L.act_gate, qg, L.act_gate);
            if (!L.shared_act) std::memcpy(xg_up + rows[j] * L.act_up, qu, L.act_up);
        }
    }
    pool.barrier(ith);

    // ---- Phase 2: items (expert, block of n_ff rows): gate into h, up into this thread's
    // buffer, then h = act(gate) * up for the block.
    float *up_tmp = at<float>(scratch, L.up_tmp) + ith * kTokenChunk * kRowBlock;
    const int64_t ff_blocks = (n_ff + kRowBlock - 1) / kRowBlock;
    Items gate_up_items(n_active * ff_blocks, t, &control[0], ith, nth);
    for (int64_t item; gate_up_items.take(&item);) {
        const int32_t e = active[item / ff_blocks];
        const int64_t r0 = item % ff_blocks * kRowBlock, r1 = std::min(n_ff, r0 + kRowBlock);
        const WeightView wg = f.gate.expert(e), wu = f.up.expert(e);
        for (int64_t c0 = start[e]; c0 < start[e + 1]; c0 += kTokenChunk) {
            const int64_t nc = std::min<int64_t>(kTokenChunk, start[e + 1] - c0);
            float *hc = h + c0 * n_ff + r0;
            matmul_rows(wg, xg_gate + c0 * L.act_gate, L.act_gate, nc, hc, n_ff, r0, r1, isa);
            matmul_rows(wu, xg_up + c0 * L.act_up, L.act_up, nc, up_tmp, kRowBlock, r0, r1, isa);
            add_bias(hc, n_ff, nc, bias_at(f.gate_bias, e, n_ff, r0), r1 - r0);
            add_bias(up_tmp, kRowBlock, nc, bias_at(f.up_bias, e, n_ff, r0), r1 - r0);
            for (int64_t c = 0; c < nc; ++c)
                glu(hc + c * n_ff, hc + c * n_ff, up_tmp + c * kRowBlock, r1 - r0, f.act, 0, 1);
        }
    }
    pool.barrier(ith);

    // ---- Phase 3: quantize the intermediate rows for down.
    const int64_t n_rows = start[f.gate.n_expert]; // the computed pairs
    const Range prs = split_range(n_rows, ith, nth);
    for (int64_t r = prs.begin; r < prs.end; ++r)
        matmul_quantize_act_row(f.down.type, h + r * n_ff, n_ff, hq + r * L.act_down, isa);
    pool.barrier(ith);

    // ---- Phase 4: items (expert, block of n_embd rows) of down, into each pair's output row.
    const int64_t embd_blocks = (n_embd + kRowBlock - 1) / kRowBlock;
    Items down_items(n_active * embd_blocks, t, &control[8], ith, nth);
    for (int64_t item; down_items.take(&item);) {
        const int32_t e = active[item / embd_blocks];
        const int64_t r0 = item % embd_blocks * kRowBlock, r1 = std::min(n_embd, r0 + kRowBlock);
        matmul_rows(f.down.expert(e), hq + start[e] * L.act_down, L.act_down,
                    start[e + 1] - start[e], d + start[e] * n_embd + r0, n_embd, r0, r1, isa);
        add_bias(d + start[e] * n_embd + r0, n_embd, start[e + 1] - start[e],
                 bias_at(f.down_bias, e, n_embd, r0), r1 - r0);
    }
    pool.barrier(ith);

    // ---- Phase 5: each token's weighted sum over its computed slots, in slot order.
    for (int64_t tok = tokens.begin; tok < tokens.end; ++tok)
        weighted_sum(d, n_embd, pair_row + tok * k, weights + tok * k, k, n_embd, y + tok * n_embd);
}

void moe_ffn_ref(const MoeFfn &f, const float *x, const int32_t *ids, const float *weights,
                 int64_t t, int k, float *y) {
    const int64_t n_embd = f.gate.k, n_ff = f.gate.n;
    std::vector<float> gate(static_cast<size_t>(n_ff)), up(gate.size()), out(static_cast<size_t>(n_embd));
    for (int64_t tok = 0; tok < t; ++tok) {
        const float *xt = x + tok * n_embd; // (n_embd)
        float *yt = y + tok * n_embd;       // (n_embd)
        bool first = true;
        for (int j = 0; j < k; ++j) {
            const int32_t e = ids[tok * k + j];
            const float w = weights[tok * k + j];
            if (!f.computes(e)) continue;
            matmul_ref(f.gate.expert(e), xt, 1, gate.data()); // (n_ff)
            matmul_ref(f.up.expert(e), xt, 1, up.data());     // (n_ff)
            add_bias(gate.data(), 0, 1, bias_at(f.gate_bias, e, n_ff, 0), n_ff);
            add_bias(up.data(), 0, 1, bias_at(f.up_bias, e, n_ff, 0), n_ff);
            glu_ref(gate.data(), gate.data(), up.data(), n_ff, f.act);
            matmul_ref(f.down.expert(e), gate.data(), 1, out.data()); // (n_embd)
            add_bias(out.data(), 0, 1, bias_at(f.down_bias, e, n_embd, 0), n_embd);
            for (int64_t i = 0; i < n_embd; ++i) yt[i] = first ? w * out[i] : yt[i] + w * out[i];
            first = false;
        }
        if (first) std::fill(yt, yt + n_embd, 0.0f);
    }
}

} // namespace infer::cpu
