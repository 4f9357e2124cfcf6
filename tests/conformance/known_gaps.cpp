#include "known_gaps.h"

#include "core/types.h"

#include <cstdint>
#include <string_view>
#include <vector>

namespace infer::conformance {
namespace {

using graph::Op;

constexpr uint32_t kAnyType = UINT32_MAX; // every case of the op

// CUDA and Vulkan read none of the codebook, lattice and ternary types: the CPU dequantizes
// their token tables and multiplies their matrices, and placement leaves such a node on the CPU.
constexpr TypeId kDeviceCpuOnlyTypes[] = {
    TypeId::IQ4_NL, TypeId::IQ4_XS, TypeId::IQ2_XXS, TypeId::IQ2_XS, TypeId::IQ2_S, TypeId::IQ3_XXS,
    TypeId::IQ3_S,  TypeId::IQ1_S,  TypeId::IQ1_M,   TypeId::TQ1_0,  TypeId::TQ2_0,
};
constexpr Op kWeightOps[] = {Op::Embed, Op::MatMul, Op::MoeFfn, Op::HeadMatMul};

std::string gap_name(const std::string &backend, graph::Op op, uint32_t type) {
    const std::string what = type == kAnyType ? "every case" : type_traits(type)->name;
    return "(" + backend + ", " + graph::op_name(op) + ", " + what + ")";
}

} // namespace

// Per backend, the cases it refuses today (nullptr label: every case of the op). Delete a line
// as its kernel lands.
struct LabelGap {
    const char *backend;
    Op op;
    const char *label_part;
};
// A vector: the list may be empty (every such kernel landed).
const std::vector<LabelGap> kBackendLabelGaps = {};

KnownGaps::KnownGaps(const std::string &backend, graph::Op op) : backend_(backend), op_(op) {
    if (backend != "CUDA" && backend != "Vulkan") return;
    for (const Op weight_op : kWeightOps)
        if (weight_op == op) {
            for (const TypeId t : kDeviceCpuOnlyTypes)
                entries_.push_back({static_cast<uint32_t>(t), false});
        }
    for (const LabelGap &g : kBackendLabelGaps)
        if (backend == g.backend && g.op == op) entries_.push_back({kAnyType, false, g.label_part});
}

bool KnownGaps::covers(const OpCase &c) {
    for (Entry &e : entries_) {
        if (e.label_part && c.label.find(e.label_part) == std::string::npos) continue;
        if (e.type == kAnyType || e.type == c.weight_type()) return e.met = true;
    }
    return false;
}

std::vector<std::string> KnownGaps::unmet() const {
    std::vector<std::string> names;
    for (const Entry &e : entries_)
        if (!e.met)
            names.push_back(gap_name(backend_, op_, e.type) +
                            (e.label_part ? std::string(" '") + e.label_part + "'" : ""));
    return names;
}

} // namespace infer::conformance
