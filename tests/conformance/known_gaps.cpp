#include "known_gaps.h"

#include "core/types.h"

#include <cstdint>
#include <string_view>

namespace infer::conformance {
namespace {

using graph::Op;

constexpr uint32_t kAnyType = UINT32_MAX; // every case of the op

struct Gap {
    const char *backend;
    Op op;
    uint32_t type;
};

constexpr uint32_t id(TypeId t) { return static_cast<uint32_t>(t); }

constexpr Gap kGaps[] = {
    // CUDA: token tables of codebook types; the CPU dequantizes them, the CUDA kernels read none.
    {"CUDA", Op::Embed, id(TypeId::IQ4_NL)},
    {"CUDA", Op::Embed, id(TypeId::IQ4_XS)},
    {"CUDA", Op::Embed, id(TypeId::MXFP4)},
    // CUDA: matrices of codebook types; the CPU multiplies them, and placement leaves such a
    // node on the CPU.
    {"CUDA", Op::MatMul, id(TypeId::IQ4_NL)},
    {"CUDA", Op::MatMul, id(TypeId::IQ4_XS)},
    {"CUDA", Op::MatMul, id(TypeId::MXFP4)},
    {"CUDA", Op::MoeFfn, id(TypeId::IQ4_NL)},
    {"CUDA", Op::MoeFfn, id(TypeId::IQ4_XS)},
    {"CUDA", Op::MoeFfn, id(TypeId::MXFP4)},
};

std::string gap_name(const std::string &backend, graph::Op op, uint32_t type) {
    const std::string what = type == kAnyType ? "every type" : type_traits(type)->name;
    return "(" + backend + ", " + graph::op_name(op) + ", " + what + ")";
}

} // namespace

KnownGaps::KnownGaps(const std::string &backend, graph::Op op) : backend_(backend), op_(op) {
    for (const Gap &g : kGaps)
        if (g.backend == backend && g.op == op) entries_.push_back({g.type, false});
}

bool KnownGaps::covers(const OpCase &c) {
    for (Entry &e : entries_)
        if (e.type == kAnyType || e.type == c.weight_type()) return e.met = true;
    return false;
}

std::vector<std::string> KnownGaps::unmet() const {
    std::vector<std::string> names;
    for (const Entry &e : entries_)
        if (!e.met) names.push_back(gap_name(backend_, op_, e.type));
    return names;
}

} // namespace infer::conformance
