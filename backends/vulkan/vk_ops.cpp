#include "vulkan/vk_ops.h"

#include "core/types.h"

#include "vulkan/vk_check.h"
#include "vulkan/vk_device.h"
#include "vulkan/vk_pipeline.h"
#include "vulkan/vk_shaders.h"

namespace infer::vulkan {
namespace {

// The embedded shader of each OpShader, in enum order.
constexpr const char *kShaderNames[] = {
    "embed",          "rms_norm",          "matmul",      "matmul_vec", "matmul_tile",
    "matmul_dot",     "quantize_q8",       "elementwise", "rope",       "kv_store",
    "attention",      "attention_combine", "moe_route",   "moe_select", "moe_matvec",
    "moe_matvec_vec", "moe_combine",       "moe_bias",    "head_copy",  "attention_wide"};
static_assert(sizeof kShaderNames / sizeof kShaderNames[0] == static_cast<size_t>(OpShader::Count));

} // namespace

bool shader_reads(uint32_t type) {
    switch (static_cast<TypeId>(type)) {
    case TypeId::F32:
    case TypeId::F16:
    case TypeId::BF16:
    case TypeId::Q4_0:
    case TypeId::Q4_1:
    case TypeId::Q5_0:
    case TypeId::Q5_1:
    case TypeId::Q8_0:
    case TypeId::MXFP4:
    case TypeId::Q2_K:
    case TypeId::Q3_K:
    case TypeId::Q4_K:
    case TypeId::Q5_K:
    case TypeId::Q6_K:
        return true;
    default:
        return false;
    }
}

// Float weights (one element a block).
static bool float_type(uint32_t type) {
    const TypeTraits *t = type_traits(type);
    return t && t->block_elems == 1;
}

bool matmul_dot_reads(uint32_t type) {
    return shader_reads(type) && !float_type(type) && type != static_cast<uint32_t>(TypeId::Q2_K) &&
           type != static_cast<uint32_t>(TypeId::Q3_K);
}

const char *OpPipelines::module_name(OpShader s, uint32_t type) const {
    if (s == OpShader::MatVec && subgroup_) return "matmul_vec_subgroup";
    if (s == OpShader::MoeMatvecVec && subgroup_) return "moe_matvec_vec_subgroup";
    if (s == OpShader::MatDot && subgroup_) return "matmul_dot_subgroup";
    // fp16 tiles for quantized weights only: a file keeps a weight in float where precision
    // matters, as a MoE router (ffn_gate_inp) is, and there an fp16 logit can flip the
    // router's choice of an expert (measured: 0.094 normalized error at one position of a
    // Qwen2-MoE golden, against the 0.05 bound). Nor MXFP4: its E8M0 block scales reach far
    // outside the fp16 range.
    if (s == OpShader::MatTile && fp16_ && !float_type(type) &&
        type != static_cast<uint32_t>(TypeId::MXFP4))
        return "matmul_tile_f16";
    return kShaderNames[static_cast<size_t>(s)];
}

OpPipelines::~OpPipelines() {
    if (device_ == VK_NULL_HANDLE) return;
    for (VkPipeline p : pipelines_)
        if (p != VK_NULL_HANDLE) vkDestroyPipeline(device_, p, nullptr);
    for (const auto &row : typed_)
        for (VkPipeline p : row)
            if (p != VK_NULL_HANDLE) vkDestroyPipeline(device_, p, nullptr);
    if (layout_ != VK_NULL_HANDLE) vkDestroyPipelineLayout(device_, layout_, nullptr);
    if (set_layout_ != VK_NULL_HANDLE) vkDestroyDescriptorSetLayout(device_, set_layout_, nullptr);
}

Status OpPipelines::create(const Device &device) {
    device_ = device.device();
    subgroup_ = device.info().subgroup_arithmetic;
    fp16_ = device.info().shader_float16;
    dot_ = device.info().int8_dot_matvec;
    if (device.info().max_push_constants_size < kPushBytes)
        return make_error(
            INFER_ERR_UNSUPPORTED, "Vulkan: %s offers %u push-constant bytes (%u needed)",
            device.info().name.c_str(), device.info().max_push_constants_size, kPushBytes);
    VkDescriptorSetLayoutBinding slots[kOpBindings]{};
    for (uint32_t i = 0; i < kOpBindings; ++i) {
        slots[i].binding = i;
        slots[i].descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER;
        slots[i].descriptorCount = 1;
        slots[i].stageFlags = VK_SHADER_STAGE_COMPUTE_BIT;
    }
    VkDescriptorSetLayoutCreateInfo set_layout{};
    set_layout.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO;
    set_layout.bindingCount = kOpBindings;
    set_layout.pBindings = slots;
    INFER_VK_TRY(vkCreateDescriptorSetLayout, device_, &set_layout, nullptr, &set_layout_);
    VkPushConstantRange push{VK_SHADER_STAGE_COMPUTE_BIT, 0, kPushBytes};
    VkPipelineLayoutCreateInfo layout{};
    layout.sType = VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO;
    layout.setLayoutCount = 1;
    layout.pSetLayouts = &set_layout_;
    layout.pushConstantRangeCount = 1;
    layout.pPushConstantRanges = &push;
    INFER_VK_TRY(vkCreatePipelineLayout, device_, &layout, nullptr, &layout_);
    for (size_t i = 0; i < pipelines_.size(); ++i) {
        if (typed_index(static_cast<OpShader>(i)) >= 0) continue; // per type, on demand
        const char *name = module_name(static_cast<OpShader>(i), 0);
        const SpirvShader *spirv = find_shader(name);
        if (!spirv) return make_error(INFER_ERR_INTERNAL, "no embedded Vulkan shader '%s'", name);
        INFER_TRY(create_compute_pipeline(device_, *spirv, layout_, &pipelines_[i]));
    }
    return Status::ok();
}

Status OpPipelines::prepare_typed(OpShader s, uint32_t type) {
    const int t = typed_index(s);
    if (t < 0) return Status::ok();
    if (type >= kMaxTypes)
        return make_error(INFER_ERR_MODEL_TENSOR_TYPE, "Vulkan: no shader for type %u", type);
    if (s == OpShader::MatDot && (!dot_ || !matmul_dot_reads(type)))
        return make_error(INFER_ERR_INTERNAL, "Vulkan: no int8 dot matvec for type %u here", type);
    VkPipeline &slot = typed_[static_cast<size_t>(t)][type];
    if (slot != VK_NULL_HANDLE) return Status::ok();
    const char *name = module_name(s, type);
    const SpirvShader *spirv = find_shader(name);
    if (!spirv) return make_error(INFER_ERR_INTERNAL, "no embedded Vulkan shader '%s'", name);
    const VkSpecializationMapEntry entry{0, 0, sizeof(uint32_t)};
    VkSpecializationInfo spec{};
    spec.mapEntryCount = 1;
    spec.pMapEntries = &entry;
    spec.dataSize = sizeof type;
    spec.pData = &type;
    return create_compute_pipeline(device_, *spirv, layout_, &slot, &spec);
}

} // namespace infer::vulkan
