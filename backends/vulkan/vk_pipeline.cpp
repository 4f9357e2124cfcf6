#include "vulkan/vk_pipeline.h"

#include "vulkan/vk_check.h"
#include "vulkan/vk_shaders.h"

namespace infer::vulkan {

Status create_compute_pipeline(VkDevice device, const SpirvShader &spirv, VkPipelineLayout layout,
                               VkPipeline *out, const VkSpecializationInfo *spec) {
    VkShaderModuleCreateInfo module_info{};
    module_info.sType = VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO;
    module_info.codeSize = spirv.word_count * sizeof(uint32_t);
    module_info.pCode = spirv.words;
    VkShaderModule module = VK_NULL_HANDLE;
    INFER_VK_TRY(vkCreateShaderModule, device, &module_info, nullptr, &module);
    VkComputePipelineCreateInfo pipeline{};
    pipeline.sType = VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO;
    pipeline.stage.sType = VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO;
    pipeline.stage.stage = VK_SHADER_STAGE_COMPUTE_BIT;
    pipeline.stage.module = module;
    pipeline.stage.pName = "main";
    pipeline.stage.pSpecializationInfo = spec;
    pipeline.layout = layout;
    const VkResult made =
        vkCreateComputePipelines(device, VK_NULL_HANDLE, 1, &pipeline, nullptr, out);
    // The pipeline keeps what it needs of the module.
    vkDestroyShaderModule(device, module, nullptr);
    if (made != VK_SUCCESS) return vk_error("vkCreateComputePipelines", made);
    return Status::ok();
}

} // namespace infer::vulkan
