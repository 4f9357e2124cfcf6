// The graph ops' compute pipelines, made once per backend (at start()): every op shader shares
// one descriptor-set layout and one pipeline layout (shaders/common.glsl):
//   binding 0  the context memory (KV cache and activations), the whole allocation
//   binding 1  the weight chunk of the node's weight (vk_weights.h), or any buffer when none
//   binding 2  the backend's own buffer (expert counters)
// and one push-constant block of up to kPushBytes that carries offsets and shapes, so a
// descriptor set is per (context, weight chunk), not per node. The shaders that decode weights
// (Embed, the MatMul and MoE matvec kernels) get a pipeline per weight type (blocks.glsl's WTYPE),
// made when a graph first needs it. Where a kernel has a variant for an optional feature
// (subgroup reductions, fp16 tiles), the device's DeviceInfo picks the module.
#pragma once

#include "core/status.h"

#include <vulkan/vulkan.h>

#include <array>
#include <cstdint>
#include <iterator>

namespace infer::vulkan {

class Device;

enum class OpShader : uint32_t {
    Embed,
    RmsNorm,
    MatMul,     // the CPU-driver kernel: one invocation per row (matmul.comp)
    MatVec,     // GPU kernels: decode, a workgroup per row (matmul_vec.comp)
    MatTile,    // GPU kernels: prefill, shared-memory tiles (matmul_tile.comp)
    MatDot,     // GPU kernels: decode with int8 activations and dot products (matmul_dot.comp)
    QuantizeQ8, // the activations MatDot reads (quantize_q8.comp)
    Elementwise,
    Rope,
    KvStore,
    Attention,
    AttentionCombine, // flash-decoding's merge of the key chunks (GPU kernels)
    MoeRoute,
    MoeSelect,
    MoeMatvec,    // grouped by expert, one invocation per row (moe_matvec.comp)
    MoeMatvecVec, // GPU kernels: decode, a workgroup per (pair, row) (moe_matvec_vec.comp)
    MoeCombine,
    MoeBias,       // MoeFfn's expert biases (moe_bias.comp)
    HeadCopy,      // Slice and Concat (head_copy.comp)
    AttentionWide, // attention.comp for heads over 512 (up to 1024: DeepSeek's 576)
    Count
};

// The elementwise shader's op codes (shaders/elementwise.comp).
enum class ElementwiseOp : uint32_t { Add, Scale, Glu, SigmoidGate, Bias, Copy };

// The longest key or value head of attention.comp (its MAX_HEAD_DIM), and of its wide module.
inline constexpr int32_t kAttentionHeadDim = 512;
inline constexpr int32_t kAttentionWideHeadDim = 1024;

inline constexpr uint32_t kPushBytes = 128;
inline constexpr uint32_t kOpBindings = 3;

// The weight types shaders/blocks.glsl decodes (ggml ids).
bool shader_reads(uint32_t type);
// Of those, the ones matmul_dot.comp reads: the quantized ones but Q2_K and Q3_K.
bool matmul_dot_reads(uint32_t type);

class OpPipelines {
public:
    OpPipelines() = default;
    ~OpPipelines();
    OpPipelines(const OpPipelines &) = delete;
    OpPipelines &operator=(const OpPipelines &) = delete;

    Status create(const Device &device);
    // Makes the pipeline of weight-decoding shader `s` for ggml type `type`, unless made. MatDot
    // only where the device runs it (DeviceInfo::int8_dot_matvec) and for the types it reads
    // (matmul_dot_reads).
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
    static constexpr uint32_t kMaxTypes = 64; // ggml type ids
    // The shaders that decode weights: a pipeline per weight type each.
    static constexpr OpShader kTyped[] = {
        OpShader::Embed,  OpShader::MatMul,    OpShader::MatVec,      OpShader::MatTile,
        OpShader::MatDot, OpShader::MoeMatvec, OpShader::MoeMatvecVec};
    static constexpr size_t kTypedShaders = std::size(kTyped);
    static int typed_index(OpShader s) {
        for (size_t i = 0; i < kTypedShaders; ++i)
            if (kTyped[i] == s) return static_cast<int>(i);
        return -1;
    }
    // The embedded module of `s` for weight type `type` on this device (a feature's variant
    // where it has one).
    const char *module_name(OpShader s, uint32_t type) const;

    VkDevice device_ = VK_NULL_HANDLE;
    bool subgroup_ = false, fp16_ = false, dot_ = false;
    std::array<std::array<VkPipeline, kMaxTypes>, kTypedShaders> typed_{};
    VkDescriptorSetLayout set_layout_ = VK_NULL_HANDLE;
    VkPipelineLayout layout_ = VK_NULL_HANDLE;
    std::array<VkPipeline, static_cast<size_t>(OpShader::Count)> pipelines_{};
};

} // namespace infer::vulkan
