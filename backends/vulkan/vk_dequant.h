// Dequantization ops of the Vulkan backend: quantized blocks in one buffer to f32 in another.
#pragma once

#include "core/status.h"
#include "vulkan/vk_pipeline.h"

#include <cstdint>

namespace infer::vulkan {

class Buffer;
class Device;

// Creates the pipeline that dequant_q8_0 runs (shader dequant_q8_0.comp).
Status create_dequant_q8_0(const Device &device, Pipeline *out);

// dst[b*32 + j] = fp16_to_fp32(src_block[b].d) * src_block[b].qs[j] for b < n_blocks, where src
// holds n_blocks ggml Q8_0 blocks (34 bytes each) from byte 0 and dst n_blocks * 32 floats.
// max_groups > 0 caps the workgroups dispatched (the shader loops over the rest); 0 uses as many
// as the blocks need, up to the device limit.
Status dequant_q8_0(Device &device, Pipeline &pipeline, const Buffer &src, const Buffer &dst,
                    uint32_t n_blocks, uint32_t max_groups = 0);

} // namespace infer::vulkan
