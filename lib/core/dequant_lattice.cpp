// The lattice (IQ2, IQ3, IQ1) and ternary (TQ) formats: x_j = d * unit * scale * q_j, from the
// integer groups of iq_groups.h. Computed as ((d * scale) * unit) * q_j, which equals gguf-py's
// arithmetic bit for bit: its d * (0.5 + s) * 0.25 is d * (2s + 1) * 0.125 moved by a power of
// two, and its dl * (v +- 0.125) is dl * (8v +- 1) / 8.
#include "core/dequant_formats.h"

#include "core/iq_groups.h"

namespace infer::dequant {

namespace {

template <typename Format> void lattice(const uint8_t *src, float *dst, int64_t n_blocks) {
    for (int64_t i = 0; i < n_blocks; ++i, src += Format::block_bytes) {
        const float d = iq_d<Format>(src);
        for (int g = 0; g < QK_K / 32; ++g, dst += 32) {
            IqGroup group{};
            Format::group(src, g, &group);
            for (int h = 0; h < 2; ++h) {
                const float dl = d * static_cast<float>(group.scale[h]) * Format::unit;
                for (int j = 16 * h; j < 16 * h + 16; ++j)
                    dst[j] = dl * static_cast<float>(iq_value(group, Format::kind, j));
            }
        }
    }
}

} // namespace

void iq2_xxs(const uint8_t *src, float *dst, int64_t n) { lattice<IqIQ2_XXS>(src, dst, n); }
void iq2_xs(const uint8_t *src, float *dst, int64_t n) { lattice<IqIQ2_XS>(src, dst, n); }
void iq2_s(const uint8_t *src, float *dst, int64_t n) { lattice<IqIQ2_S>(src, dst, n); }
void iq3_xxs(const uint8_t *src, float *dst, int64_t n) { lattice<IqIQ3_XXS>(src, dst, n); }
void iq3_s(const uint8_t *src, float *dst, int64_t n) { lattice<IqIQ3_S>(src, dst, n); }
void iq1_s(const uint8_t *src, float *dst, int64_t n) { lattice<IqIQ1_S>(src, dst, n); }
void iq1_m(const uint8_t *src, float *dst, int64_t n) { lattice<IqIQ1_M>(src, dst, n); }
void tq1_0(const uint8_t *src, float *dst, int64_t n) { lattice<IqTQ1_0>(src, dst, n); }
void tq2_0(const uint8_t *src, float *dst, int64_t n) { lattice<IqTQ2_0>(src, dst, n); }

} // namespace infer::dequant
