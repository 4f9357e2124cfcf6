#include "vulkan/vk_runner.h"

#include "vulkan/vk_check.h"

#include <sys/mman.h>

#include <algorithm>
#include <cstring>

namespace infer::vulkan {
namespace {

constexpr uint64_t kBounceBytes = uint64_t{4} << 20;
constexpr uint64_t kAuxBytes = uint64_t{1} << 20; // 262144 expert counters
constexpr size_t kMaxCached = 512;
constexpr uint32_t kMaxContextSets = 4; // contexts alive at once on one backend, at most

double mib(uint64_t bytes) { return static_cast<double>(bytes) / 1048576.0; }

// Every earlier write (shader, copy, host) before every later read or write: the recorded
// command buffers order each step after the previous one with this, nothing finer.
void full_barrier(VkCommandBuffer cmd) {
    VkMemoryBarrier b{};
    b.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER;
    b.srcAccessMask =
        VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT | VK_ACCESS_HOST_WRITE_BIT;
    b.dstAccessMask = VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT |
                      VK_ACCESS_TRANSFER_READ_BIT | VK_ACCESS_TRANSFER_WRITE_BIT |
                      VK_ACCESS_HOST_READ_BIT;
    vkCmdPipelineBarrier(cmd, VK_PIPELINE_STAGE_ALL_COMMANDS_BIT | VK_PIPELINE_STAGE_HOST_BIT,
                         VK_PIPELINE_STAGE_ALL_COMMANDS_BIT | VK_PIPELINE_STAGE_HOST_BIT, 0, 1, &b,
                         0, nullptr, 0, nullptr);
}

void record_copy(VkCommandBuffer cmd, VkBuffer src, uint64_t src_offset, VkBuffer dst,
                 uint64_t dst_offset, uint64_t bytes) {
    const VkBufferCopy region{src_offset, dst_offset, bytes};
    vkCmdCopyBuffer(cmd, src, dst, 1, &region);
}

} // namespace

VulkanBackend::VulkanBackend(const VulkanWeights &weights)
    : weights_(weights), device_(weights.device()) {}

VulkanBackend::~VulkanBackend() {
    (void)flush();
    while (!allocations_.empty())
        release(allocations_.back()->kind, allocations_.back()->base);
    VkDevice dev = device_.device();
    if (fence_ != VK_NULL_HANDLE) vkDestroyFence(dev, fence_, nullptr);
    if (descriptor_pool_ != VK_NULL_HANDLE) vkDestroyDescriptorPool(dev, descriptor_pool_, nullptr);
    // Destroying the pool frees its command buffers.
    if (pool_ != VK_NULL_HANDLE) vkDestroyCommandPool(dev, pool_, nullptr);
    if (aux_.handle() != VK_NULL_HANDLE) weights_.release(kAuxBytes + kBounceBytes);
}

uint64_t VulkanBackend::alignment() const {
    // Offsets go to the shaders as element indices; 256 also meets every driver's binding
    // alignment should a tensor ever be bound on its own.
    return std::max<uint64_t>(256, device_.info().min_storage_buffer_offset_alignment);
}

Status VulkanBackend::start() {
    if (started_) return Status::ok();
    VkDevice dev = device_.device();
    INFER_TRY(ops_.create(device_));
    VkCommandPoolCreateInfo pool{};
    pool.sType = VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO;
    pool.flags = VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT;
    pool.queueFamilyIndex = device_.info().queue_family;
    INFER_VK_TRY(vkCreateCommandPool, dev, &pool, nullptr, &pool_);
    VkFenceCreateInfo fence{};
    fence.sType = VK_STRUCTURE_TYPE_FENCE_CREATE_INFO;
    INFER_VK_TRY(vkCreateFence, dev, &fence, nullptr, &fence_);
    const uint32_t sets =
        kMaxContextSets * (static_cast<uint32_t>(weights_.chunks().size()) + 1);
    VkDescriptorPoolSize size{VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, sets * kOpBindings};
    VkDescriptorPoolCreateInfo dpool{};
    dpool.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO;
    dpool.flags = VK_DESCRIPTOR_POOL_CREATE_FREE_DESCRIPTOR_SET_BIT;
    dpool.maxSets = sets;
    dpool.poolSizeCount = 1;
    dpool.pPoolSizes = &size;
    INFER_VK_TRY(vkCreateDescriptorPool, dev, &dpool, nullptr, &descriptor_pool_);
    INFER_TRY(weights_.reserve(kAuxBytes + kBounceBytes, "the Vulkan backend's buffers"));
    Status made = Buffer::create(device_, kBounceBytes, &bounce_);
    if (made.is_ok()) made = Buffer::create(device_, kAuxBytes, &aux_);
    if (!made.is_ok()) {
        weights_.release(kAuxBytes + kBounceBytes);
        bounce_ = Buffer();
        aux_ = Buffer();
        return made;
    }
    std::memset(aux_.mapped(), 0, kAuxBytes);
    // Room decided now: a run grows no list.
    pending_.reserve(64);
    oneoff_free_.reserve(64);
    oneoff_used_.reserve(64);
    cached_.reserve(kMaxCached);
    started_ = true;
    return Status::ok();
}

Status VulkanBackend::prepare(const BoundGraph &bound) {
    INFER_TRY(start());
    for (const graph::Node &n : bound.graph->nodes)
        INFER_TRY(prepare_pipelines(n));
    if (graph::expert_counter_slots(*bound.graph) * sizeof(uint32_t) > kAuxBytes)
        return make_error(INFER_ERR_UNSUPPORTED,
                          "the Vulkan backend counts experts of at most %llu (layer, expert) pairs",
                          static_cast<unsigned long long>(kAuxBytes / sizeof(uint32_t)));
    return Status::ok();
}

uint64_t VulkanBackend::device_bytes() const {
    return context_bytes_ + (started_ ? kAuxBytes + kBounceBytes : 0);
}

// ---- Memory ----------------------------------------------------------------------------------

VulkanBackend::Place VulkanBackend::find(const void *p, uint64_t bytes, MemoryKind kind) const {
    const auto *q = static_cast<const uint8_t *>(p);
    for (Allocation *a : allocations_)
        if (a->kind == kind && q >= a->base && q <= a->base + a->bytes &&
            bytes <= static_cast<uint64_t>(a->base + a->bytes - q))
            return {a, static_cast<uint64_t>(q - a->base)};
    return {};
}

Status VulkanBackend::make_sets(Allocation &a) {
    const std::vector<Buffer> &chunks = weights_.chunks();
    a.sets.resize(chunks.size() + 1, VK_NULL_HANDLE);
    for (size_t i = 0; i < a.sets.size(); ++i) {
        VkDescriptorSetLayout layout = ops_.set_layout();
        VkDescriptorSetAllocateInfo alloc{};
        alloc.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO;
        alloc.descriptorPool = descriptor_pool_;
        alloc.descriptorSetCount = 1;
        alloc.pSetLayouts = &layout;
        const VkResult r = vkAllocateDescriptorSets(device_.device(), &alloc, &a.sets[i]);
        if (r != VK_SUCCESS) {
            a.sets[i] = VK_NULL_HANDLE;
            return r == VK_ERROR_OUT_OF_POOL_MEMORY || r == VK_ERROR_FRAGMENTED_POOL
                       ? make_error(INFER_ERR_UNSUPPORTED,
                                    "a Vulkan backend holds at most %u context allocations",
                                    kMaxContextSets)
                       : vk_error("vkAllocateDescriptorSets", r);
        }
        const Buffer &weight = i < chunks.size() ? chunks[i] : a.buffer;
        const VkDescriptorBufferInfo infos[kOpBindings] = {
            {a.buffer.handle(), 0, VK_WHOLE_SIZE},
            {weight.handle(), 0, VK_WHOLE_SIZE},
            {aux_.handle(), 0, VK_WHOLE_SIZE}};
        VkWriteDescriptorSet writes[kOpBindings]{};
        for (uint32_t b = 0; b < kOpBindings; ++b) {
            writes[b].sType = VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET;
            writes[b].dstSet = a.sets[i];
            writes[b].dstBinding = b;
            writes[b].descriptorCount = 1;
            writes[b].descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER;
            writes[b].pBufferInfo = &infos[b];
        }
        vkUpdateDescriptorSets(device_.device(), kOpBindings, writes, 0, nullptr);
    }
    return Status::ok();
}

Status VulkanBackend::allocate(MemoryKind kind, uint64_t bytes, uint8_t **out) {
    INFER_TRY(start()); // the context allocates before it starts the backend
    bytes = std::max<uint64_t>(bytes, 4);
    auto a = std::make_unique<Allocation>();
    a->kind = kind;
    a->bytes = bytes;
    if (kind == MemoryKind::Staging) {
        INFER_TRY(Buffer::create(device_, bytes, &a->buffer));
        a->base = a->buffer.mapped();
    } else {
        const uint64_t range = device_.info().max_storage_buffer_range;
        if (bytes > range)
            return make_error(INFER_ERR_UNSUPPORTED,
                              "the context needs %.1f MiB of device memory in one binding, over "
                              "the %.1f MiB %s allows (a smaller n_ctx or n_batch fits)",
                              mib(bytes), mib(range), device_.info().name.c_str());
        INFER_TRY(weights_.reserve(bytes, "the context (KV cache and activations)"));
        Status made = Buffer::create(device_, bytes, &a->buffer, BufferMemory::DeviceLocal);
        void *range_base = MAP_FAILED;
        if (made.is_ok()) {
            range_base = mmap(nullptr, bytes, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                              -1, 0);
            if (range_base == MAP_FAILED)
                made = make_error(INFER_ERR_OUT_OF_MEMORY,
                                  "cannot reserve %.1f MiB of address space for the context",
                                  mib(bytes));
        }
        if (made.is_ok()) {
            a->base = static_cast<uint8_t *>(range_base);
            made = make_sets(*a);
        }
        if (!made.is_ok()) {
            for (VkDescriptorSet s : a->sets)
                if (s != VK_NULL_HANDLE) vkFreeDescriptorSets(device_.device(), descriptor_pool_, 1, &s);
            if (range_base != MAP_FAILED) munmap(range_base, bytes);
            weights_.release(bytes);
            return made;
        }
        context_bytes_ += bytes;
    }
    *out = a->base;
    allocations_.push_back(a.release());
    return Status::ok();
}

void VulkanBackend::release(MemoryKind kind, uint8_t *memory) {
    const auto it = std::find_if(allocations_.begin(), allocations_.end(), [&](Allocation *a) {
        return a->kind == kind && a->base == memory;
    });
    if (it == allocations_.end()) return;
    (void)flush();
    // Recorded command buffers name its buffer and descriptor sets.
    drop_cached();
    std::unique_ptr<Allocation> a(*it);
    allocations_.erase(it);
    if (kind == MemoryKind::Context) {
        for (VkDescriptorSet s : a->sets)
            vkFreeDescriptorSets(device_.device(), descriptor_pool_, 1, &s);
        munmap(a->base, a->bytes);
        weights_.release(a->bytes);
        context_bytes_ -= a->bytes;
    }
}

// ---- Command buffers ---------------------------------------------------------------------------

Status VulkanBackend::begin_oneoff(VkCommandBuffer *cmd) {
    if (oneoff_free_.empty()) {
        VkCommandBufferAllocateInfo alloc{};
        alloc.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO;
        alloc.commandPool = pool_;
        alloc.level = VK_COMMAND_BUFFER_LEVEL_PRIMARY;
        alloc.commandBufferCount = 1;
        VkCommandBuffer made = VK_NULL_HANDLE;
        INFER_VK_TRY(vkAllocateCommandBuffers, device_.device(), &alloc, &made);
        oneoff_free_.push_back(made);
    }
    *cmd = oneoff_free_.back();
    oneoff_free_.pop_back();
    oneoff_used_.push_back(*cmd);
    INFER_VK_TRY(vkResetCommandBuffer, *cmd, 0);
    VkCommandBufferBeginInfo begin{};
    begin.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO;
    begin.flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT;
    INFER_VK_TRY(vkBeginCommandBuffer, *cmd, &begin);
    full_barrier(*cmd);
    return Status::ok();
}

Status VulkanBackend::begin_cached(const void *key0, const void *key1, uint64_t key2,
                                   VkCommandBuffer *cmd, bool *recorded) {
    for (const Cached &c : cached_)
        if (c.key0 == key0 && c.key1 == key1 && c.key2 == key2) {
            *cmd = c.cmd;
            *recorded = true;
            return Status::ok();
        }
    *recorded = false;
    if (cached_.size() == kMaxCached) return begin_oneoff(cmd);
    VkCommandBufferAllocateInfo alloc{};
    alloc.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO;
    alloc.commandPool = pool_;
    alloc.level = VK_COMMAND_BUFFER_LEVEL_PRIMARY;
    alloc.commandBufferCount = 1;
    INFER_VK_TRY(vkAllocateCommandBuffers, device_.device(), &alloc, cmd);
    VkCommandBufferBeginInfo begin{};
    begin.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO;
    const VkResult began = vkBeginCommandBuffer(*cmd, &begin);
    if (began != VK_SUCCESS) {
        vkFreeCommandBuffers(device_.device(), pool_, 1, cmd);
        return vk_error("vkBeginCommandBuffer", began);
    }
    cached_.push_back({key0, key1, key2, *cmd});
    full_barrier(*cmd);
    return Status::ok();
}

Status VulkanBackend::end(VkCommandBuffer cmd) {
    INFER_VK_TRY(vkEndCommandBuffer, cmd);
    pending_.push_back(cmd);
    return Status::ok();
}

void VulkanBackend::forget_cached(VkCommandBuffer cmd) {
    const auto it = std::find_if(cached_.begin(), cached_.end(),
                                 [&](const Cached &c) { return c.cmd == cmd; });
    if (it == cached_.end()) return; // a one-off (the cache was full)
    vkFreeCommandBuffers(device_.device(), pool_, 1, &cmd);
    cached_.erase(it);
}

void VulkanBackend::drop_cached() {
    for (const Cached &c : cached_)
        vkFreeCommandBuffers(device_.device(), pool_, 1, &c.cmd);
    cached_.clear();
}

Status VulkanBackend::flush() {
    bounce_used_ = 0;
    if (pending_.empty()) return Status::ok();
    VkSubmitInfo submit{};
    submit.sType = VK_STRUCTURE_TYPE_SUBMIT_INFO;
    submit.commandBufferCount = static_cast<uint32_t>(pending_.size());
    submit.pCommandBuffers = pending_.data();
    Status status = Status::ok();
    const VkResult reset = vkResetFences(device_.device(), 1, &fence_);
    if (reset != VK_SUCCESS) status = vk_error("vkResetFences", reset);
    if (status.is_ok()) status = device_.submit(submit, fence_);
    if (status.is_ok()) {
        // No timeout: a hung dispatch ends as VK_ERROR_DEVICE_LOST from the driver.
        const VkResult waited = vkWaitForFences(device_.device(), 1, &fence_, VK_TRUE, UINT64_MAX);
        if (waited != VK_SUCCESS) status = vk_error("vkWaitForFences", waited);
    }
    pending_.clear();
    oneoff_free_.insert(oneoff_free_.end(), oneoff_used_.begin(), oneoff_used_.end());
    oneoff_used_.clear();
    return status;
}

// ---- Copies ------------------------------------------------------------------------------------

Status VulkanBackend::copy_through_bounce_in(const Place &dst, const uint8_t *src, uint64_t bytes) {
    for (uint64_t done = 0; done < bytes;) {
        if (bounce_used_ == bounce_.size()) INFER_TRY(flush());
        const uint64_t n = std::min(bytes - done, bounce_.size() - bounce_used_);
        std::memcpy(bounce_.mapped() + bounce_used_, src + done, n);
        VkCommandBuffer cmd = VK_NULL_HANDLE;
        INFER_TRY(begin_oneoff(&cmd));
        record_copy(cmd, bounce_.handle(), bounce_used_, dst.alloc->buffer.handle(),
                    dst.offset + done, n);
        full_barrier(cmd);
        INFER_TRY(end(cmd));
        // Copies start at 4-byte offsets (vkCmdCopyBuffer has no alignment rule; this keeps
        // the staging words tidy).
        bounce_used_ = std::min(bounce_.size(), (bounce_used_ + n + 3) & ~uint64_t{3});
        done += n;
    }
    return Status::ok();
}

Status VulkanBackend::copy_in(void *dst, const void *src, uint64_t bytes) {
    if (!bytes) return Status::ok();
    const Place to = find(dst, bytes, MemoryKind::Context);
    if (!to.alloc)
        return make_error(INFER_ERR_INTERNAL, "Vulkan copy_in to memory the backend does not hold");
    const Place from = find(src, bytes, MemoryKind::Staging);
    if (!from.alloc) return copy_through_bounce_in(to, static_cast<const uint8_t *>(src), bytes);
    return queue_staging_copy(from, to, false, dst, src, bytes);
}

Status VulkanBackend::queue_staging_copy(const Place &staging, const Place &context,
                                         bool to_staging, const void *key0, const void *key1,
                                         uint64_t bytes) {
    VkCommandBuffer cmd = VK_NULL_HANDLE;
    bool recorded = false;
    // The direction is part of the key: copies both ways between the same two addresses.
    INFER_TRY(begin_cached(key0, key1, bytes * 2 + (to_staging ? 1 : 0), &cmd, &recorded));
    if (recorded) {
        pending_.push_back(cmd);
        return Status::ok();
    }
    const Place &from = to_staging ? context : staging;
    const Place &to = to_staging ? staging : context;
    record_copy(cmd, from.alloc->buffer.handle(), from.offset, to.alloc->buffer.handle(), to.offset,
                bytes);
    full_barrier(cmd);
    return end(cmd);
}

Status VulkanBackend::copy_out_queued(void *dst, const void *src, uint64_t bytes) {
    if (!bytes) return Status::ok();
    const Place from = find(src, bytes, MemoryKind::Context);
    const Place to = find(dst, bytes, MemoryKind::Staging);
    if (from.alloc && to.alloc) return queue_staging_copy(to, from, true, dst, src, bytes);
    return copy_out(dst, src, bytes);
}

Status VulkanBackend::copy_out(void *dst, const void *src, uint64_t bytes) {
    if (!bytes) return Status::ok();
    const Place from = find(src, bytes, MemoryKind::Context);
    if (!from.alloc)
        return make_error(INFER_ERR_INTERNAL,
                          "Vulkan copy_out from memory the backend does not hold");
    const Place to = find(dst, bytes, MemoryKind::Staging);
    if (to.alloc) {
        INFER_TRY(queue_staging_copy(to, from, true, dst, src, bytes));
        return flush();
    }
    INFER_TRY(flush());
    auto *out = static_cast<uint8_t *>(dst);
    for (uint64_t done = 0; done < bytes;) {
        const uint64_t n = std::min(bytes - done, bounce_.size());
        VkCommandBuffer cmd = VK_NULL_HANDLE;
        INFER_TRY(begin_oneoff(&cmd));
        record_copy(cmd, from.alloc->buffer.handle(), from.offset + done, bounce_.handle(), 0, n);
        full_barrier(cmd);
        INFER_TRY(end(cmd));
        INFER_TRY(flush());
        std::memcpy(out + done, bounce_.mapped(), n);
        done += n;
    }
    return Status::ok();
}

// ---- Runs --------------------------------------------------------------------------------------

Status VulkanBackend::run(const BoundGraph &bound, NodeRange nodes, int64_t n_tokens, KvCache &kv,
                          const StopSignal &stop) {
    const Status queued = queue(bound, nodes, n_tokens, kv, stop);
    const Status finished = finish(bound);
    return !queued.is_ok() ? queued : finished;
}

Status VulkanBackend::queue(const BoundGraph &bound, NodeRange nodes, int64_t n_tokens, KvCache &kv,
                            const StopSignal &stop) {
    if (!started_) return make_error(INFER_ERR_INTERNAL, "Vulkan backend run before start");
    if (stop.should_stop()) return make_error(INFER_ERR_CANCELLED, "decode cancelled");
    const graph::Graph &g = *bound.graph;
    VkCommandBuffer cmd = VK_NULL_HANDLE;
    if (g.max_tokens == 1 && n_tokens == 1) {
        bool recorded = false;
        const uint64_t range = static_cast<uint64_t>(static_cast<uint32_t>(nodes.begin)) << 32 |
                               static_cast<uint32_t>(nodes.end);
        INFER_TRY(begin_cached(&bound, &kv, range, &cmd, &recorded));
        if (recorded) {
            pending_.push_back(cmd);
            return Status::ok();
        }
        const Status made = record_nodes(cmd, bound, nodes, n_tokens, kv, StopSignal{});
        if (!made.is_ok()) { // not replayable: forget it
            vkEndCommandBuffer(cmd);
            forget_cached(cmd);
            return made;
        }
        return end(cmd);
    }
    INFER_TRY(begin_oneoff(&cmd));
    const Status made = record_nodes(cmd, bound, nodes, n_tokens, kv, stop);
    const VkResult ended = vkEndCommandBuffer(cmd);
    INFER_TRY(made);
    if (ended != VK_SUCCESS) return vk_error("vkEndCommandBuffer", ended);
    pending_.push_back(cmd);
    return Status::ok();
}

Status VulkanBackend::finish(const BoundGraph &bound) {
    INFER_TRY(flush());
    const uint64_t slots = graph::expert_counter_slots(*bound.graph);
    if (!slots || !aux_.mapped()) return Status::ok();
    auto *counters = reinterpret_cast<uint32_t *>(aux_.mapped());
    if (bound.expert_counts)
        for (uint64_t i = 0; i < slots; ++i)
            bound.expert_counts[i] += counters[i];
    std::memset(counters, 0, slots * sizeof(uint32_t));
    return Status::ok();
}

} // namespace infer::vulkan
