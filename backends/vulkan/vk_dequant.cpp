#include "vulkan/vk_dequant.h"

#include "vulkan/vk_buffer.h"
#include "vulkan/vk_device.h"

#include <algorithm>

namespace infer::vulkan {
namespace {

// Must match dequant_q8_0.comp.
constexpr uint32_t kQ8_0BlockBytes = 34;
constexpr uint32_t kQ8_0BlocksPerGroup = 32;
struct DequantPush {
    uint32_t n_blocks;
};

} // namespace

Status create_dequant_q8_0(const Device &device, Pipeline *out) {
    return Pipeline::create(device, "dequant_q8_0", 2, sizeof(DequantPush), out);
}

Status dequant_q8_0(Device &device, Pipeline &pipeline, const Buffer &src, const Buffer &dst,
                    uint32_t n_blocks, uint32_t max_groups) {
    if (n_blocks == 0) return Status::ok();
    const VkDeviceSize src_bytes = VkDeviceSize{n_blocks} * kQ8_0BlockBytes;
    const VkDeviceSize dst_bytes = VkDeviceSize{n_blocks} * 32 * sizeof(float);
    if (src.size() < src_bytes || dst.size() < dst_bytes) {
        return make_error(INFER_ERR_INVALID_ARGUMENT,
                          "Vulkan dequant_q8_0 of %u blocks needs %llu source and %llu destination "
                          "bytes; the buffers have %llu and %llu",
                          n_blocks, static_cast<unsigned long long>(src_bytes),
                          static_cast<unsigned long long>(dst_bytes),
                          static_cast<unsigned long long>(src.size()),
                          static_cast<unsigned long long>(dst.size()));
    }
    uint32_t groups = (n_blocks + kQ8_0BlocksPerGroup - 1) / kQ8_0BlocksPerGroup;
    groups = std::min(groups, device.info().max_workgroup_count_x);
    if (max_groups > 0) groups = std::min(groups, max_groups);
    // Exact ranges, so a shader's runtime array length never covers bytes of another tensor.
    const Binding bindings[] = {{&src, 0, src_bytes}, {&dst, 0, dst_bytes}};
    const DequantPush push{n_blocks};
    return dispatch(device, pipeline, bindings, &push, sizeof(push), groups);
}

} // namespace infer::vulkan
