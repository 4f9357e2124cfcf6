// The graph ops' compute pipelines, made once per backend (at start()): every op shader shares
// one descriptor-set layout and one pipeline layout (shaders/common.glsl):
//   binding 0  the context memory (KV cache and activations), the whole allocation
//   binding 1  the weight chunk of the node's weight (vk_weights.h), or any buffer when none
//   binding 2  the backend's own buffer (expert counters)
// and one push-constant block of up to kPushBytes that carries offsets and shapes, so a
// descriptor set is per (context, weight chunk), not per node.
#pragma once

#include "core/status.h"

#include <vulkan/vulkan.h>

#include <array>
#include <cstdint>

namespace infer::vulkan {

class Device;

enum class OpShader : uint32_t {
    Embed,
    RmsNorm,
    MatMul,
    Elementwise,
    Rope,
    KvStore,
    Attention,
    MoeRoute,
    MoeSelect,
    MoeMatvec,
    MoeCombine,
    Count
};

// The elementwise shader's op codes (shaders/elementwise.comp).
enum class ElementwiseOp : uint32_t { Add, Scale, Glu, SigmoidGate, Bias, Copy };

inline constexpr uint32_t kPushBytes = 128;
inline constexpr uint32_t kOpBindings = 3;

class OpPipelines {
public:
    OpPipelines() = default;
    ~OpPipelines();
    OpPipelines(const OpPipelines &) = delete;
    OpPipelines &operator=(const OpPipelines &) = delete;

    Status create(const Device &device);

    VkPipeline pipeline(OpShader s) const { return pipelines_[static_cast<size_t>(s)]; }
    VkPipelineLayout layout() const { return layout_; }
    VkDescriptorSetLayout set_layout() const { return set_layout_; }

private:
    VkDevice device_ = VK_NULL_HANDLE;
    VkDescriptorSetLayout set_layout_ = VK_NULL_HANDLE;
    VkPipelineLayout layout_ = VK_NULL_HANDLE;
    std::array<VkPipeline, static_cast<size_t>(OpShader::Count)> pipelines_{};
};

} // namespace infer::vulkan
