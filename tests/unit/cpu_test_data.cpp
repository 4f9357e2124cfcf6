#include "cpu_test_data.h"

#include "core/fp16.h"
#include "core/iq_groups.h"
#include "cpu/cpu_repack.h"

#include <cmath>
#include <cstring>

namespace infer::test {

using cpu::cpu_isa_available;
using cpu::CpuIsa;

namespace {
void put_u16(std::vector<uint8_t> &v, size_t at, uint16_t h) { std::memcpy(v.data() + at, &h, 2); }
} // namespace

// Scales are drawn in [0.5, 1] * kScale; wmax follows from each format's largest quant.
constexpr float kScale = 1.0f / 64;
// MXFP4's power-of-two scales: exponents 121..124, half-scales 2^-7 .. 2^-4.
constexpr float kMXFP4Scale = 1.0f / 16;
const TypeCase kTypes[25] = {
    {TypeId::Q4_0, 32, 18, kScale * 8},
    {TypeId::Q4_1, 32, 20, kScale * 15 + kScale},
    {TypeId::Q5_0, 32, 22, kScale * 16},
    {TypeId::Q5_1, 32, 24, kScale * 31 + kScale},
    {TypeId::Q8_0, 32, 34, kScale * 128},
    {TypeId::Q2_K, 256, 84, kScale * 15 * 3 + kScale * 15},
    {TypeId::Q3_K, 256, 110, kScale * 32 * 4},
    {TypeId::Q4_K, 256, 144, kScale * 63 * 15 + kScale * 63},
    {TypeId::Q5_K, 256, 176, kScale * 63 * 31 + kScale * 63},
    {TypeId::Q6_K, 256, 210, kScale * 128 * 32},
    {TypeId::IQ4_NL, 32, 18, kScale * 127},
    {TypeId::IQ4_XS, 256, 136, kScale * 32 * 127},
    {TypeId::MXFP4, 32, 17, kMXFP4Scale * 12},
    // The lattice and ternary formats: d * unit * (2s + 1) * q at the largest s and |q|.
    {TypeId::IQ2_XXS, 256, 66, kScale * 31 * 43 / 8},
    {TypeId::IQ2_XS, 256, 74, kScale * 31 * 43 / 8},
    {TypeId::IQ2_S, 256, 82, kScale * 31 * 43 / 8},
    {TypeId::IQ3_XXS, 256, 98, kScale * 31 * 62 / 4},
    {TypeId::IQ3_S, 256, 110, kScale * 31 * 15},
    {TypeId::IQ1_S, 256, 50, kScale * 15 * 9 / 8},
    {TypeId::IQ1_M, 256, 56, kScale * 15 * 9 / 8},
    {TypeId::TQ1_0, 256, 54, kScale},
    {TypeId::TQ2_0, 256, 66, kScale * 2}, // random bytes hold the unused code 3: q = 2
    {TypeId::F32, 1, 4, 1.0f},
    {TypeId::F16, 1, 2, 1.0f},
    {TypeId::BF16, 1, 2, 1.0f},
};

std::vector<uint8_t> random_weights(const TypeCase &tc, int64_t k, int64_t n, std::mt19937 &rng) {
    const int64_t nblocks = k / tc.block_elems * n;
    std::vector<uint8_t> v(static_cast<size_t>(nblocks * tc.block_bytes));
    std::uniform_int_distribution<int> byte(0, 255);
    std::uniform_real_distribution<float> unit(-1.0f, 1.0f), scale(0.5f * kScale, kScale);
    for (auto &b : v)
        b = static_cast<uint8_t>(byte(rng));
    auto d = [&] { return fp32_to_fp16(scale(rng)); };
    auto m = [&] { return fp32_to_fp16(unit(rng) * kScale); };
    for (int64_t ib = 0; ib < nblocks; ++ib) {
        const size_t at = static_cast<size_t>(ib * tc.block_bytes);
        if (is_lattice_type(static_cast<uint32_t>(tc.type))) {
            iq_set_d_bits(static_cast<uint32_t>(tc.type), v.data() + at, d());
            continue;
        }
        switch (tc.type) {
        case TypeId::Q4_0:
        case TypeId::Q5_0:
        case TypeId::Q8_0:
        case TypeId::IQ4_NL:
        case TypeId::IQ4_XS:
            put_u16(v, at, d());
            break;
        case TypeId::MXFP4:
            v[at] = static_cast<uint8_t>(121 + byte(rng) % 4);
            break;
        case TypeId::Q4_1:
        case TypeId::Q5_1:
            put_u16(v, at, d()), put_u16(v, at + 2, m());
            break;
        case TypeId::Q4_K:
        case TypeId::Q5_K:
            put_u16(v, at, d()), put_u16(v, at + 2, d());
            break;
        case TypeId::Q2_K:
            put_u16(v, at + 80, d()), put_u16(v, at + 82, d());
            break;
        case TypeId::Q3_K:
            put_u16(v, at + 108, d());
            break;
        case TypeId::Q6_K:
            put_u16(v, at + 208, d());
            break;
        case TypeId::F32: {
            const float f = unit(rng);
            std::memcpy(v.data() + at, &f, 4);
            break;
        }
        case TypeId::F16:
            put_u16(v, at, fp32_to_fp16(unit(rng)));
            break;
        case TypeId::BF16:
            put_u16(v, at, fp32_to_bf16(unit(rng)));
            break;
        default:
            break;
        }
    }
    return v;
}

std::vector<float> random_floats(int64_t count, std::mt19937 &rng) {
    std::normal_distribution<float> nd(0.0f, 1.0f);
    std::vector<float> x(static_cast<size_t>(count));
    for (auto &f : x)
        f = nd(rng);
    return x;
}

float abs_bound(const TypeCase &tc, const float *x, int64_t k) {
    double s = 0;
    for (int64_t i = 0; i < k; ++i)
        s += std::fabs(x[i]);
    return static_cast<float>(s * tc.wmax * 1.01);
}

std::vector<CpuIsa> simd_isas() {
    std::vector<CpuIsa> isas;
    for (CpuIsa isa : cpu::cpu_isa_simd_levels())
        if (cpu_isa_available(isa)) isas.push_back(isa);
    return isas;
}

int64_t test_k(const TypeCase &tc) {
    if (tc.block_elems == 256) return 256 * 3;
    if (tc.block_elems == 32) return 32 * 7;
    return 32 * 7 + 5; // float weights take any k: exercise the tail
}

cpu::WeightLayout test_layout(TypeId type) {
    // The layout this architecture's SIMD levels load `type` in (the rows where it has none).
    const auto levels = cpu::cpu_isa_simd_levels();
    return cpu::repack_layout(static_cast<uint32_t>(type),
                              levels.empty() ? CpuIsa::Scalar : levels.back());
}

cpu::WeightView repacked(const cpu::WeightView &w, cpu::WeightLayout layout,
                         std::vector<uint8_t> *buf) {
    const uint64_t bytes = cpu::layout_matrix_bytes(w.type, layout, w.k, w.n);
    buf->assign(bytes + 2, 0);
    cpu::repack_matrix(w.type, layout, w.k, w.n, w.data, w.row_bytes, buf->data() + 2);
    const TypeTraits *t = type_traits(w.type);
    const auto row = static_cast<uint64_t>(w.k / t->block_elems * t->block_bytes);
    return {w.type, w.k, w.n, buf->data() + 2, row, layout};
}

} // namespace infer::test
