#include "compare.h"

#include "core/fp16.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>

namespace infer::conformance {
namespace {

std::vector<float> floats_of(const std::vector<uint8_t> &bytes) {
    std::vector<float> v(bytes.size() / 4);
    std::memcpy(v.data(), bytes.data(), v.size() * 4);
    return v;
}

std::vector<float> kv_floats(const std::vector<uint8_t> &bytes, uint32_t type) {
    if (type == 0) return floats_of(bytes);
    std::vector<float> v(bytes.size() / 2);
    for (size_t i = 0; i < v.size(); ++i) {
        uint16_t h;
        std::memcpy(&h, bytes.data() + 2 * i, 2);
        v[i] = fp16_to_fp32(h);
    }
    return v;
}

// Compares one F32 tensor; appends to `c` what differs.
void compare_floats(const char *what, const std::vector<float> &got, const std::vector<float> &ref,
                    double tol, Comparison *c) {
    double err = 0, mag = 0;
    size_t worst_at = 0;
    for (size_t i = 0; i < ref.size(); ++i) {
        const double d = std::fabs(static_cast<double>(got[i]) - ref[i]);
        if (!(d <= err)) { // NaN in got (with a finite ref) lands here and stays the worst
            err = std::isfinite(d) ? d : INFINITY;
            worst_at = i;
        }
        mag = std::max(mag, std::fabs(static_cast<double>(ref[i])));
    }
    const double rel = err == 0 ? 0 : err / std::max(mag, 1e-30);
    c->worst = std::max(c->worst, rel);
    if (rel <= tol) return;
    c->ok = false;
    char line[256];
    std::snprintf(line, sizeof line,
                  "%s: max|a-b|/max|ref| = %.3g > %.3g (element %zu: got %.9g, reference %.9g); ",
                  what, rel, tol, worst_at, static_cast<double>(got[worst_at]),
                  static_cast<double>(ref[worst_at]));
    c->detail += line;
}

void compare_ints(const char *what, const std::vector<uint8_t> &got,
                  const std::vector<uint8_t> &ref, Comparison *c) {
    std::vector<int32_t> a(got.size() / 4), b(ref.size() / 4);
    std::memcpy(a.data(), got.data(), a.size() * 4);
    std::memcpy(b.data(), ref.data(), b.size() * 4);
    for (size_t i = 0; i < b.size(); ++i)
        if (a[i] != b[i]) {
            c->ok = false;
            c->detail += std::string(what) + ": element " + std::to_string(i) + " is " +
                         std::to_string(a[i]) + ", reference " + std::to_string(b[i]) + "; ";
            return;
        }
}

} // namespace

Comparison compare_outputs(const OpCase &c, const Outputs &got, const Outputs &ref) {
    Comparison result;
    const graph::Node &n = c.node();
    const graph::TensorId ids[2] = {n.out, n.out2};
    size_t at = 0;
    for (graph::TensorId id : ids) {
        if (id == graph::kNoTensor) continue;
        const char *what = at == 0 ? "out" : "out2";
        if (c.graph.tensors[id].dtype == graph::DType::I32)
            compare_ints(what, got.tensors[at], ref.tensors[at], &result);
        else
            compare_floats(what, floats_of(got.tensors[at]), floats_of(ref.tensors[at]),
                           c.tol.max_rel, &result);
        ++at;
    }
    // The cache: what KvStore wrote and everything it must leave alone (compared in full for
    // every op that has one: Attention must not write it at all).
    if (!ref.kv.empty())
        compare_floats("KV cache", kv_floats(got.kv, c.kv.type), kv_floats(ref.kv, c.kv.type),
                       n.op == graph::Op::KvStore ? c.tol.max_rel : 0, &result);
    if (got.expert_counts != ref.expert_counts) {
        result.ok = false;
        result.detail += "expert counts differ; ";
    }
    return result;
}

} // namespace infer::conformance
