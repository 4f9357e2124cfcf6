// The node profile (node_profile.h): kinds of nodes found by a linear search of a small table
// (profiling only), printed sorted by time.
#include "cpu/node_profile.h"

#include "core/types.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>

namespace infer::cpu {
namespace {

// Bytes and multiply-adds of one run of n over n_tokens rows: a matmul reads its whole weight;
// an expert FFN the experts its tokens select (at most all of them), three matrices each.
void weight_work(const graph::Node &n, int64_t n_tokens, double *bytes, double *macs) {
    *bytes = *macs = 0.0;
    if (!n.w) return;
    const double k = static_cast<double>(n.w->ne[0]), rows = static_cast<double>(n.w->ne[1]);
    const double tokens = static_cast<double>(n_tokens);
    if (n.op == graph::Op::MatMul) {
        *bytes = static_cast<double>(n.w->n_bytes);
        *macs = k * rows * tokens;
    } else if (n.op == graph::Op::MoeFfn) {
        const double experts = static_cast<double>(n.w->ne[2]);
        const double picks = tokens * static_cast<double>(n.n_expert_used);
        double per_expert = 0.0;
        for (const graph::WeightRef *w : {n.w, n.w2, n.w3})
            if (w) per_expert += static_cast<double>(w->n_bytes) / experts;
        *bytes = per_expert * std::min(experts, picks);
        *macs = 3.0 * k * rows * picks;
    }
}

} // namespace

bool NodeProfile::wanted() {
    const char *v = std::getenv("INFER_PROFILE");
    return v && v[0] == '1';
}

void NodeProfile::add(const graph::Node &n, int64_t n_tokens, int64_t rows, double seconds) {
    const bool matrix = n.w && (n.op == graph::Op::MatMul || n.op == graph::Op::MoeFfn);
    const uint32_t type = matrix ? n.w->type : UINT32_MAX;
    const int64_t k = matrix ? n.w->ne[0] : 0, out = matrix ? n.w->ne[1] : 0;
    const bool decode = n_tokens == 1;
    Kind *kind = nullptr;
    for (int i = 0; i < used_ && !kind; ++i) {
        Kind &c = kinds_[i];
        if (c.op == n.op && c.type == type && c.k == k && c.n == out && c.decode == decode)
            kind = &c;
    }
    if (!kind) {
        if (used_ == kKinds) {
            ++dropped_;
            return;
        }
        kind = &kinds_[used_++];
        *kind = {n.op, type, k, out, decode, 0, 0.0, 0.0, 0.0};
    }
    double bytes, macs;
    weight_work(n, rows, &bytes, &macs);
    ++kind->calls;
    kind->seconds += seconds;
    kind->bytes += bytes;
    kind->macs += macs;
}

NodeProfile::~NodeProfile() {
    if (used_ == 0) return;
    std::sort(kinds_, kinds_ + used_,
              [](const Kind &a, const Kind &b) { return a.seconds > b.seconds; });
    double total = 0.0;
    for (int i = 0; i < used_; ++i)
        total += kinds_[i].seconds;
    std::fprintf(stderr, "profile: %.1f ms in CPU nodes (thread 0's view, to each barrier)\n",
                 1e3 * total);
    for (int i = 0; i < used_; ++i) {
        const Kind &c = kinds_[i];
        std::fprintf(stderr, "profile: %-7s %-10s", c.decode ? "decode" : "prefill",
                     graph::op_name(c.op));
        if (c.type != UINT32_MAX)
            std::fprintf(stderr, " %-7s %6lld x %-6lld",
                         type_traits(c.type) ? type_traits(c.type)->name : "?",
                         static_cast<long long>(c.k), static_cast<long long>(c.n));
        else
            std::fprintf(stderr, " %-7s %15s", "", "");
        std::fprintf(stderr, " %7lld calls %9.2f ms %5.1f%% %8.1f us/call",
                     static_cast<long long>(c.calls), 1e3 * c.seconds,
                     total > 0.0 ? 100.0 * c.seconds / total : 0.0,
                     1e6 * c.seconds / static_cast<double>(c.calls));
        if (c.bytes > 0.0 && c.seconds > 0.0)
            std::fprintf(stderr, " %6.1f GB/s %7.1f GMAC/s", c.bytes / c.seconds / 1e9,
                         c.macs / c.seconds / 1e9);
        std::fprintf(stderr, "\n");
    }
    if (dropped_ > 0)
        std::fprintf(stderr, "profile: %lld runs of further kinds not counted\n",
                     static_cast<long long>(dropped_));
}

} // namespace infer::cpu
