// The Vulkan backend (runtime/backend.h) for one context: the graph's ops as compute dispatches
// (vk_record.cpp) over one device-local allocation of context memory, on the device that holds
// the model's weights (vk_weights.h).
//
// Pointers: the executor and the context do pointer arithmetic on context memory (tensor data,
// KV planes), but a Vulkan buffer has no address. allocate(Context) therefore reserves an
// inaccessible range of host address space (PROT_NONE, no memory behind it) as large as the
// buffer and hands out its address; the backend maps a pointer back to (buffer, offset) by
// subtraction. Staging memory is a host-visible buffer, mapped, and its real host address.
//
// Submission: copies and dispatches are recorded into command buffers that wait, in order, in a
// pending list until something needs their results (copy_out, finish): then one vkQueueSubmit
// and one fence wait. The decode step's command buffer (a one-token graph) is recorded once per
// (bound graph, node range) and replayed, as are the copies between fixed staging and context
// addresses (the token id, the position, the logits): a decode step records nothing.
#pragma once

#include "runtime/backend.h"
#include "vulkan/vk_buffer.h"
#include "vulkan/vk_ops.h"
#include "vulkan/vk_weights.h"

#include <cstdint>
#include <vector>

namespace infer::vulkan {

class VulkanBackend final : public Backend {
public:
    explicit VulkanBackend(const VulkanWeights &weights);
    ~VulkanBackend() override;

    const char *name() const override { return "Vulkan"; }
    uint64_t alignment() const override;
    Status start() override;
    Status prepare(const BoundGraph &bound) override;
    void size_scratch(graph::Graph &graph, const KvCacheLayout &kv) const override;
    Status run(const BoundGraph &bound, NodeRange nodes, int64_t n_tokens, KvCache &kv,
               const StopSignal &stop) override;
    Status queue(const BoundGraph &bound, NodeRange nodes, int64_t n_tokens, KvCache &kv,
                 const StopSignal &stop) override;
    Status finish(const BoundGraph &bound) override;
    // A split graph's hand-offs to the CPU: copies to staging wait in the pending list with the
    // segment they follow, and wait_handoff submits them all and waits. (No overlap of device
    // and CPU within a step yet: the host waits for everything queued.)
    Status copy_out_queued(void *dst, const void *src, uint64_t bytes) override;
    Status wait_handoff() override { return flush(); }

    bool host_memory() const override { return false; }
    Status allocate(MemoryKind kind, uint64_t bytes, uint8_t **out) override;
    void release(MemoryKind kind, uint8_t *memory) override;
    Status copy_in(void *dst, const void *src, uint64_t bytes) override;
    Status copy_out(void *dst, const void *src, uint64_t bytes) override;
    uint64_t device_bytes() const override;

private:
    struct Allocation {
        MemoryKind kind;
        uint8_t *base = nullptr; // reserved address range (Context) or the mapping (Staging)
        uint64_t bytes = 0;
        Buffer buffer;
        // Context: a descriptor set per weight chunk, then one for nodes without a weight.
        std::vector<VkDescriptorSet> sets;
    };
    // A command buffer recorded once and replayed: a decode segment or a fixed copy.
    struct Cached {
        const void *key0;
        const void *key1;
        uint64_t key2;
        VkCommandBuffer cmd;
    };
    // Where a context pointer points: its allocation and the byte offset in it.
    struct Place {
        Allocation *alloc = nullptr;
        uint64_t offset = 0;
    };

    // ---- vk_runner.cpp: memory and submission
    Place find(const void *p, uint64_t bytes, MemoryKind kind) const;
    Status make_sets(Allocation &a);
    Status begin_oneoff(VkCommandBuffer *cmd);
    Status begin_cached(const void *key0, const void *key1, uint64_t key2, VkCommandBuffer *cmd,
                        bool *recorded);
    Status end(VkCommandBuffer cmd);
    // Submits the pending command buffers in one batch and waits for them.
    Status flush();
    void drop_cached();
    void forget_cached(VkCommandBuffer cmd);
    Status copy_through_bounce_in(const Place &dst, const uint8_t *src, uint64_t bytes);
    // Records (once) the copy between a staging and a context range and adds it to the pending
    // list; to_staging says which way.
    Status queue_staging_copy(const Place &staging, const Place &context, bool to_staging,
                              const void *key0, const void *key1, uint64_t bytes);

    // ---- vk_record.cpp: the graph's nodes as dispatches
    Status record_nodes(VkCommandBuffer cmd, const BoundGraph &bound, NodeRange nodes,
                        int64_t n_tokens, KvCache &kv, const StopSignal &stop);
    // Makes the weight-type pipelines node `n` needs (once per backend and type).
    Status prepare_pipelines(const graph::Node &n);
    Status record_node(VkCommandBuffer cmd, const BoundGraph &bound, const graph::Node &n,
                       int64_t n_tokens, KvCache &kv);
    // `groups` workgroups (capped: the shaders stride over their work), times `heads` rows of
    // them for a shader that runs a head per row (matmul_push.glsl).
    void dispatch(VkCommandBuffer cmd, OpShader shader, VkDescriptorSet set, const void *push,
                  uint32_t push_bytes, uint64_t groups, uint32_t type = 0,
                  uint32_t heads = 1) const;
    VkDescriptorSet set_for(const Allocation &ctx, const WeightLocation *w) const;

    const VulkanWeights &weights_;
    Device &device_;
    OpPipelines ops_;
    VkCommandPool pool_ = VK_NULL_HANDLE;
    VkDescriptorPool descriptor_pool_ = VK_NULL_HANDLE;
    VkFence fence_ = VK_NULL_HANDLE;
    bool started_ = false;
    Buffer bounce_; // host-visible: copies to and from host memory that is not staging
    uint64_t bounce_used_ = 0;
    Buffer aux_; // host-visible: the expert counters [layer][n_expert]
    uint64_t context_bytes_ = 0;
    std::vector<Allocation *> allocations_;
    std::vector<VkCommandBuffer> pending_;
    std::vector<VkCommandBuffer> oneoff_free_, oneoff_used_;
    std::vector<Cached> cached_;
};

} // namespace infer::vulkan
