// Element types: one value per "block". Bytes are little-endian, as in GGUF.
#include "core/dequant_formats.h"

#include <cstring>

#include "core/fp16.h"

namespace infer::dequant {

void f32(const uint8_t *src, float *dst, int64_t n_blocks) {
    std::memcpy(dst, src, static_cast<size_t>(n_blocks) * sizeof(float));
}

void f16(const uint8_t *src, float *dst, int64_t n_blocks) {
    for (int64_t i = 0; i < n_blocks; ++i) {
        uint16_t h;
        std::memcpy(&h, src + 2 * i, sizeof h);
        dst[i] = fp16_to_fp32(h);
    }
}

void bf16(const uint8_t *src, float *dst, int64_t n_blocks) {
    for (int64_t i = 0; i < n_blocks; ++i) {
        uint16_t h;
        std::memcpy(&h, src + 2 * i, sizeof h);
        dst[i] = bf16_to_fp32(h);
    }
}

} // namespace infer::dequant
