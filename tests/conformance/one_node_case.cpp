#include "one_node_case.h"

#include "core/fp16.h"
#include "core/types.h"
#include "tooling/quant_weights.h"

#include <cstring>

namespace infer::conformance {

uint32_t OpCase::weight_type() const { return node().w ? node().w->type : UINT32_MAX; }

CaseBuilder::CaseBuilder(std::string label, int64_t max_tokens, int64_t n_tokens, uint64_t seed)
    : case_(std::make_unique<OpCase>()), builder_(max_tokens), rng_(seed) {
    case_->label = std::move(label);
    case_->n_tokens = n_tokens;
}

uint32_t CaseBuilder::below(uint32_t n) { return rng_.below(n); }
float CaseBuilder::normal() { return rng_.normal(); }

namespace {

// The bytes placeholder tables point at: never read (their Embed nodes never run).
const float kPlaceholder = 0;

std::vector<uint8_t> as_bytes(const void *p, size_t n) {
    std::vector<uint8_t> v(n);
    std::memcpy(v.data(), p, n);
    return v;
}

} // namespace

graph::TensorId CaseBuilder::placeholder(int64_t n) {
    Weight &table = case_->weights.emplace_back();
    table.ref.name = "placeholder";
    table.ref.ne[0] = n;
    table.ref.data = &kPlaceholder;
    return builder_.embed(table.ref, 1.0f);
}

graph::TensorId CaseBuilder::input(int64_t n, float scale) {
    std::vector<float> rows(static_cast<size_t>(case_->n_tokens * n));
    for (float &x : rows)
        x = scale * rng_.normal();
    const graph::TensorId id = placeholder(n);
    set_rows(id, rows);
    return id;
}

// Values q * 2^-7 with q in [-127, 127] and, in every 32-element block, one q of +-127: every
// activation format a backend may quantize to (Q8_0 and Q8_1 per 32, Q8_K per 256, the CUDA
// int8 per 32, fp16 for a GEMM) holds them exactly, as each block's scale comes out 2^-7. So a
// MatMul compares the backends' dot products, not their (legitimately different) rounding of the
// activations, and its tolerance can be tight. (Blocks run along the flat rows: aligned with each
// row when n is a multiple of 32, as quantized weights need; float weights keep float or fp16
// activations, which hold these values at any n.)
graph::TensorId CaseBuilder::int8_exact_input(int64_t n) {
    const graph::TensorId id = placeholder(n);
    std::vector<float> rows(static_cast<size_t>(case_->n_tokens * n));
    for (size_t b = 0; b < rows.size(); b += 32) {
        const size_t len = std::min<size_t>(32, rows.size() - b);
        for (size_t i = 0; i < len; ++i)
            rows[b + i] = static_cast<float>(static_cast<int>(rng_.below(255)) - 127) / 128.0f;
        rows[b + rng_.below(static_cast<uint32_t>(len))] =
            rng_.below(2) ? 127 / 128.0f : -127 / 128.0f;
    }
    set_rows(id, rows);
    return id;
}

void CaseBuilder::set_rows(graph::TensorId id, const std::vector<int32_t> &values) {
    case_->inputs.push_back({id, as_bytes(values.data(), values.size() * sizeof(int32_t))});
}

void CaseBuilder::set_rows(graph::TensorId id, const std::vector<float> &values) {
    case_->inputs.push_back({id, as_bytes(values.data(), values.size() * sizeof(float))});
}

const graph::WeightRef &CaseBuilder::weight(uint32_t type, int64_t ne0, int64_t ne1, int64_t ne2) {
    const TypeTraits &t = *type_traits(type);
    Weight &w = case_->weights.emplace_back();
    const int64_t blocks_per_row = ne0 / t.block_elems;
    w.bytes.resize(static_cast<size_t>(blocks_per_row * ne1 * ne2) * t.block_bytes);
    random_weight_bytes(type, rng_.next(), 0.5f, w.bytes.data(), blocks_per_row * ne1 * ne2);
    w.ref.name = "weight";
    w.ref.type = type;
    w.ref.ne[0] = ne0;
    w.ref.ne[1] = ne1;
    w.ref.ne[2] = ne2;
    w.ref.data = w.bytes.data();
    w.ref.row_bytes = static_cast<uint64_t>(blocks_per_row) * t.block_bytes;
    w.ref.n_bytes = w.bytes.size();
    return w.ref;
}

const graph::WeightRef &CaseBuilder::f32_vector(int64_t n, float mean, float spread) {
    std::vector<float> v(static_cast<size_t>(n));
    for (float &x : v)
        x = mean + spread * rng_.normal();
    Weight &w = case_->weights.emplace_back();
    w.bytes = as_bytes(v.data(), v.size() * sizeof(float));
    w.ref.name = "vector";
    w.ref.type = static_cast<uint32_t>(TypeId::F32);
    w.ref.ne[0] = n;
    w.ref.data = w.bytes.data();
    w.ref.row_bytes = w.ref.n_bytes = w.bytes.size();
    return w.ref;
}

void CaseBuilder::kv_cache(uint32_t type, int64_t n_ctx, int64_t n_head_kv, int64_t head_dim,
                           int64_t head_dim_v, bool v_in_k) {
    KvCacheLayout &kv = case_->kv;
    kv = {type, n_ctx, {KvLayerLayout{n_head_kv, head_dim, head_dim_v, v_in_k}}};
    const uint64_t n = kv.total_bytes() / kv.elem_bytes();
    case_->kv_init.resize(kv.total_bytes());
    for (uint64_t i = 0; i < n; ++i) {
        const float x = rng_.normal();
        if (type == 0)
            std::memcpy(case_->kv_init.data() + 4 * i, &x, 4);
        else {
            const uint16_t h = fp32_to_fp16(x);
            std::memcpy(case_->kv_init.data() + 2 * i, &h, 2);
        }
    }
}

void CaseBuilder::positions_from(int32_t p0) {
    positions_.resize(static_cast<size_t>(case_->n_tokens));
    for (size_t t = 0; t < positions_.size(); ++t)
        positions_[t] = p0 + static_cast<int32_t>(t);
}

std::unique_ptr<OpCase> CaseBuilder::finish(graph::TensorId out, Tolerance tol) {
    case_->graph = builder_.finish(out);
    if (!tokens_.empty()) set_rows(case_->graph.tokens, tokens_);
    if (!positions_.empty()) set_rows(case_->graph.positions, positions_);
    case_->tol = tol;
    return std::move(case_);
}

bool random_weight_bytes(uint32_t type, uint64_t seed, float scale, void *dst, int64_t n_blocks) {
    if (random_blocks(type, seed, scale, dst, n_blocks)) return true;
    // The codebook types random_blocks does not make: random indices (every byte after the
    // first field), then a sane scale in that field, which each of them keeps at offset 0.
    const TypeTraits *t = type_traits(type);
    if (!t) return false;
    uint16_t d16 = 0;
    switch (static_cast<TypeId>(type)) {
    case TypeId::IQ4_NL:
        d16 = fp32_to_fp16(scale / 64);
        break; // codebook values up to 127
    case TypeId::IQ4_XS:
        d16 = fp32_to_fp16(scale / (64 * 16));
        break; // and 6-bit sub-scales
    case TypeId::MXFP4:
        break; // an E8M0 exponent
    default:
        return false;
    }
    Rng rng(seed);
    auto *out = static_cast<uint8_t *>(dst);
    for (int64_t b = 0; b < n_blocks; ++b) {
        uint8_t *block = out + b * t->block_bytes;
        for (uint32_t i = 0; i < t->block_bytes; ++i)
            block[i] = static_cast<uint8_t>(rng.next());
        if (static_cast<TypeId>(type) == TypeId::MXFP4)
            block[0] = static_cast<uint8_t>(124 + rng.below(3)); // 2^-4 .. 2^-2: |x| <= 1.5
        else
            std::memcpy(block, &d16, 2);
    }
    return true;
}

} // namespace infer::conformance
