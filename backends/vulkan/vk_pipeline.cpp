#include "vulkan/vk_pipeline.h"

#include "vulkan/vk_buffer.h"
#include "vulkan/vk_check.h"
#include "vulkan/vk_device.h"
#include "vulkan/vk_shaders.h"

#include <utility>
#include <vector>

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

Pipeline::~Pipeline() { release(); }

Pipeline::Pipeline(Pipeline &&other) noexcept { *this = std::move(other); }

Pipeline &Pipeline::operator=(Pipeline &&other) noexcept {
    if (this != &other) {
        release();
        device_ = std::exchange(other.device_, VK_NULL_HANDLE);
        set_layout_ = std::exchange(other.set_layout_, VK_NULL_HANDLE);
        layout_ = std::exchange(other.layout_, VK_NULL_HANDLE);
        pipeline_ = std::exchange(other.pipeline_, VK_NULL_HANDLE);
        pool_ = std::exchange(other.pool_, VK_NULL_HANDLE);
        set_ = std::exchange(other.set_, VK_NULL_HANDLE);
        binding_count_ = std::exchange(other.binding_count_, 0);
        push_bytes_ = std::exchange(other.push_bytes_, 0);
        name_ = std::move(other.name_);
    }
    return *this;
}

void Pipeline::release() {
    if (device_ == VK_NULL_HANDLE) return;
    if (pipeline_ != VK_NULL_HANDLE) vkDestroyPipeline(device_, pipeline_, nullptr);
    if (layout_ != VK_NULL_HANDLE) vkDestroyPipelineLayout(device_, layout_, nullptr);
    if (pool_ != VK_NULL_HANDLE) vkDestroyDescriptorPool(device_, pool_, nullptr);
    if (set_layout_ != VK_NULL_HANDLE) vkDestroyDescriptorSetLayout(device_, set_layout_, nullptr);
    device_ = VK_NULL_HANDLE;
    set_layout_ = VK_NULL_HANDLE;
    layout_ = VK_NULL_HANDLE;
    pipeline_ = VK_NULL_HANDLE;
    pool_ = VK_NULL_HANDLE;
    set_ = VK_NULL_HANDLE;
}

Status Pipeline::create(const Device &device, std::string_view shader, uint32_t binding_count,
                        uint32_t push_bytes, Pipeline *out) {
    const SpirvShader *spirv = find_shader(shader);
    if (!spirv) {
        return make_error(INFER_ERR_NOT_FOUND, "no embedded Vulkan shader '%.*s'",
                          static_cast<int>(shader.size()), shader.data());
    }
    if (binding_count == 0 || push_bytes % 4 != 0 ||
        push_bytes > device.info().max_push_constants_size) {
        return make_error(INFER_ERR_INVALID_ARGUMENT,
                          "Vulkan pipeline %s: %u bindings, %u push-constant bytes (device max %u)",
                          spirv->name, binding_count, push_bytes,
                          device.info().max_push_constants_size);
    }
    Pipeline p;
    p.device_ = device.device();
    p.binding_count_ = binding_count;
    p.push_bytes_ = push_bytes;
    p.name_ = spirv->name;

    std::vector<VkDescriptorSetLayoutBinding> slots(binding_count);
    for (uint32_t i = 0; i < binding_count; ++i) {
        slots[i].binding = i;
        slots[i].descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER;
        slots[i].descriptorCount = 1;
        slots[i].stageFlags = VK_SHADER_STAGE_COMPUTE_BIT;
    }
    VkDescriptorSetLayoutCreateInfo set_layout{};
    set_layout.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO;
    set_layout.bindingCount = binding_count;
    set_layout.pBindings = slots.data();
    INFER_VK_TRY(vkCreateDescriptorSetLayout, p.device_, &set_layout, nullptr, &p.set_layout_);

    VkPushConstantRange push{};
    push.stageFlags = VK_SHADER_STAGE_COMPUTE_BIT;
    push.size = push_bytes;
    VkPipelineLayoutCreateInfo layout{};
    layout.sType = VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO;
    layout.setLayoutCount = 1;
    layout.pSetLayouts = &p.set_layout_;
    layout.pushConstantRangeCount = push_bytes > 0 ? 1 : 0;
    layout.pPushConstantRanges = &push;
    INFER_VK_TRY(vkCreatePipelineLayout, p.device_, &layout, nullptr, &p.layout_);

    INFER_TRY(create_compute_pipeline(p.device_, *spirv, p.layout_, &p.pipeline_));

    VkDescriptorPoolSize pool_size{VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, binding_count};
    VkDescriptorPoolCreateInfo pool{};
    pool.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO;
    pool.maxSets = 1;
    pool.poolSizeCount = 1;
    pool.pPoolSizes = &pool_size;
    INFER_VK_TRY(vkCreateDescriptorPool, p.device_, &pool, nullptr, &p.pool_);
    VkDescriptorSetAllocateInfo alloc{};
    alloc.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO;
    alloc.descriptorPool = p.pool_;
    alloc.descriptorSetCount = 1;
    alloc.pSetLayouts = &p.set_layout_;
    INFER_VK_TRY(vkAllocateDescriptorSets, p.device_, &alloc, &p.set_);

    *out = std::move(p);
    return Status::ok();
}

Status dispatch(Device &device, Pipeline &pipeline, std::span<const Binding> bindings,
                const void *push, uint32_t push_bytes, uint32_t groups_x) {
    const DeviceInfo &info = device.info();
    if (pipeline.pipeline_ == VK_NULL_HANDLE || pipeline.device_ != device.device()) {
        return make_error(INFER_ERR_INVALID_ARGUMENT,
                          "Vulkan dispatch of a pipeline not made on this device");
    }
    if (bindings.size() != pipeline.binding_count_ || push_bytes != pipeline.push_bytes_ ||
        (push_bytes > 0 && !push)) {
        return make_error(
            INFER_ERR_INVALID_ARGUMENT,
            "Vulkan dispatch of %s: %zu bindings and %u push bytes, expected %u and %u",
            pipeline.name_.c_str(), bindings.size(), push_bytes, pipeline.binding_count_,
            pipeline.push_bytes_);
    }
    if (groups_x == 0 || groups_x > info.max_workgroup_count_x) {
        return make_error(INFER_ERR_INVALID_ARGUMENT,
                          "Vulkan dispatch of %s: %u workgroups (max %u)", pipeline.name_.c_str(),
                          groups_x, info.max_workgroup_count_x);
    }

    std::vector<VkDescriptorBufferInfo> buffer_infos(bindings.size());
    std::vector<VkWriteDescriptorSet> writes(bindings.size());
    for (size_t i = 0; i < bindings.size(); ++i) {
        const Binding &b = bindings[i];
        if (!b.buffer || b.buffer->handle() == VK_NULL_HANDLE) {
            return make_error(INFER_ERR_INVALID_ARGUMENT,
                              "Vulkan dispatch of %s: binding %zu has no buffer",
                              pipeline.name_.c_str(), i);
        }
        const VkDeviceSize size = b.buffer->size();
        const VkDeviceSize range =
            b.range == VK_WHOLE_SIZE && b.offset < size ? size - b.offset : b.range;
        if (b.offset % info.min_storage_buffer_offset_alignment != 0 || b.offset >= size ||
            range == 0 || range > size - b.offset || range > info.max_storage_buffer_range) {
            return make_error(
                INFER_ERR_INVALID_ARGUMENT,
                "Vulkan dispatch of %s: binding %zu spans [%llu, +%llu) of a %llu-byte "
                "buffer (offset alignment %llu, max range %llu)",
                pipeline.name_.c_str(), i, static_cast<unsigned long long>(b.offset),
                static_cast<unsigned long long>(range), static_cast<unsigned long long>(size),
                static_cast<unsigned long long>(info.min_storage_buffer_offset_alignment),
                static_cast<unsigned long long>(info.max_storage_buffer_range));
        }
        buffer_infos[i] = {b.buffer->handle(), b.offset, range};
        writes[i].sType = VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET;
        writes[i].dstSet = pipeline.set_;
        writes[i].dstBinding = static_cast<uint32_t>(i);
        writes[i].descriptorCount = 1;
        writes[i].descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER;
        writes[i].pBufferInfo = &buffer_infos[i];
    }
    // Legal because the previous dispatch of this pipeline has completed: dispatch waits.
    vkUpdateDescriptorSets(device.device(), static_cast<uint32_t>(writes.size()), writes.data(), 0,
                           nullptr);

    VkCommandBuffer cmd = VK_NULL_HANDLE;
    INFER_TRY(device.begin_commands(&cmd));
    vkCmdBindPipeline(cmd, VK_PIPELINE_BIND_POINT_COMPUTE, pipeline.pipeline_);
    vkCmdBindDescriptorSets(cmd, VK_PIPELINE_BIND_POINT_COMPUTE, pipeline.layout_, 0, 1,
                            &pipeline.set_, 0, nullptr);
    if (push_bytes > 0) {
        vkCmdPushConstants(cmd, pipeline.layout_, VK_SHADER_STAGE_COMPUTE_BIT, 0, push_bytes, push);
    }
    vkCmdDispatch(cmd, groups_x, 1, 1);
    return device.submit_and_wait();
}

} // namespace infer::vulkan
