// Scalar reference dot products of the lattice (IQ2, IQ3, IQ1) and ternary (TQ) formats with
// Q8_K activations. Each 32-weight group decodes to integers (core/iq_groups.h); the group's two
// 16-weight halves are summed, scaled and added as integers, then one float product per
// super-block and the format's power-of-two unit at the end. (llama.cpp's generic code rounds in
// other places, and its IQ1 kernels add the +-1/8 through Q8_K's bsums: the same integers here,
// since 8 * (v +- 1/8) is an integer.)
#include "cpu/cpu_vec_dot.h"

#include "core/blocks.h"
#include "core/iq_groups.h"

namespace infer::cpu {

namespace {

template <typename Format> float lattice_ref(int64_t k, const void *w_row, const void *act_row) {
    const auto *w = static_cast<const uint8_t *>(w_row);
    const auto *act = static_cast<const uint8_t *>(act_row);
    float sum = 0.0f;
    for (int64_t ib = 0; ib < k / QK_K; ++ib) {
        const uint8_t *block = w + ib * Format::block_bytes;
        const auto a = load_block<BlockQ8_K>(act, ib);
        int sumi = 0;
        for (int g = 0; g < QK_K / 32; ++g) {
            IqGroup group{};
            Format::group(block, g, &group);
            for (int h = 0; h < 2; ++h) {
                int half = 0;
                for (int j = 16 * h; j < 16 * h + 16; ++j)
                    half += iq_value(group, Format::kind, j) * a.qs[32 * g + j];
                sumi += group.scale[h] * half;
            }
        }
        sum += iq_d<Format>(block) * a.d * static_cast<float>(sumi);
    }
    return sum * Format::unit;
}

} // namespace

float vec_dot_iq2_xxs_ref(int64_t k, const void *w, const void *a) { return lattice_ref<IqIQ2_XXS>(k, w, a); }
float vec_dot_iq2_xs_ref(int64_t k, const void *w, const void *a) { return lattice_ref<IqIQ2_XS>(k, w, a); }
float vec_dot_iq2_s_ref(int64_t k, const void *w, const void *a) { return lattice_ref<IqIQ2_S>(k, w, a); }
float vec_dot_iq3_xxs_ref(int64_t k, const void *w, const void *a) { return lattice_ref<IqIQ3_XXS>(k, w, a); }
float vec_dot_iq3_s_ref(int64_t k, const void *w, const void *a) { return lattice_ref<IqIQ3_S>(k, w, a); }
float vec_dot_iq1_s_ref(int64_t k, const void *w, const void *a) { return lattice_ref<IqIQ1_S>(k, w, a); }
float vec_dot_iq1_m_ref(int64_t k, const void *w, const void *a) { return lattice_ref<IqIQ1_M>(k, w, a); }
float vec_dot_tq1_0_ref(int64_t k, const void *w, const void *a) { return lattice_ref<IqTQ1_0>(k, w, a); }
float vec_dot_tq2_0_ref(int64_t k, const void *w, const void *a) { return lattice_ref<IqTQ2_0>(k, w, a); }

} // namespace infer::cpu
