// The graph ops' compute pipelines, made once per backend (at start()): every op shader shares
// one descriptor-set layout and one pipeline layout (shaders/common.glsl):
//   binding 0  the context memory (KV cache and activations), the whole allocation
//   binding 1  the weight chunk of the node's weight (vk_weights.h), or any buffer when none
//   binding 2  the backend's own buffer (expert counters)
// and one push-constant block of up to kPushBytes that carries offsets and shapes, so a
// descriptor set is per (context, weight chunk), not per node. The shaders that decode weights
// (Embed, MatMul, MoeMatvec) get a pipeline per weight type (blocks.glsl's WTYPE), made when a
// graph first needs it.
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
    // Makes the pipeline of weight-decoding shader `s` for ggml type `type`, unless made.
    Status prepare_typed(OpShader s, uint32_t type);

    // The pipeline of `s`; for a weight-decoding shader, its `type` pipeline (prepare_typed).
    VkPipeline pipeline(OpShader s, uint32_t type = 0) const {
        const int t = typed_index(s);
        return t < 0 ? pipelines_[static_cast<size_t>(s)]
                     : typed_[static_cast<size_t>(t)][type < kMaxTypes ? type : 0];
    }
    VkPipelineLayout layout() const { return layout_; }
    VkDescriptorSetLayout set_layout() const { return set_layout_; }

private:
    static constexpr uint32_t kMaxTypes = 64;  // ggml type ids
    static constexpr size_t kTypedShaders = 3; // Embed, MatMul, MoeMatvec
    static int typed_index(OpShader s) {
        return s == OpShader::Embed ? 0 : s == OpShader::MatMul ? 1 : s == OpShader::MoeMatvec ? 2 : -1;
    }

    VkDevice device_ = VK_NULL_HANDLE;
    std::array<std::array<VkPipeline, kMaxTypes>, kTypedShaders> typed_{};
    VkDescriptorSetLayout set_layout_ = VK_NULL_HANDLE;
    VkPipelineLayout layout_ = VK_NULL_HANDLE;
    std::array<VkPipeline, static_cast<size_t>(OpShader::Count)> pipelines_{};
};

} // namespace infer::vulkan
