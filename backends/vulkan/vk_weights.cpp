// Weight upload: each weight (or a split expert stack's resident experts, packed by slot) is
// copied from the mapped file through one host-visible staging buffer into its chunk, a piece at
// a time; progress is reported after each piece, the caller may cancel, and read_done hands each
// host range back as soon as it is in the staging buffer.
#include "vulkan/vk_weights.h"

#include "vulkan/vk_check.h"

#include <algorithm>
#include <cstring>

namespace infer::vulkan {
namespace {

constexpr uint64_t kStagingBytes = uint64_t{32} << 20;
constexpr uint64_t kAlign = 256;
// Chunks stay well under what one allocation can be on any driver.
constexpr uint64_t kMaxChunkBytes = uint64_t{1} << 30;

uint64_t align_up(uint64_t n) { return (n + kAlign - 1) & ~(kAlign - 1); }

double mib(uint64_t bytes) { return static_cast<double>(bytes) / 1048576.0; }

// One host range to copy to (chunk, offset).
struct Piece {
    const uint8_t *src;
    uint64_t bytes;
    uint32_t chunk;
    uint64_t offset;
};

} // namespace

bool VulkanWeights::find(const void *host, WeightLocation *out) const {
    const auto it = by_host_.find(host);
    if (it == by_host_.end()) return false;
    *out = it->second;
    return true;
}

Status VulkanWeights::upload(const std::vector<WeightSpan> &spans,
                             const std::function<bool(float)> &progress,
                             const std::function<void(const void *, uint64_t)> &read_done) {
    const DeviceInfo &info = device_->info();
    const uint64_t cap =
        std::min<uint64_t>(kMaxChunkBytes, info.max_storage_buffer_range) & ~(kAlign - 1);
    // Layout: each span whole in one chunk, chunks filled in order.
    std::vector<uint64_t> chunk_bytes;
    std::vector<Piece> pieces;
    uint64_t total = 0;
    for (const WeightSpan &s : spans) {
        if (!s.bytes || by_host_.count(s.data)) continue;
        if (s.bytes > cap)
            return make_error(INFER_ERR_UNSUPPORTED,
                              "Vulkan: a weight of %.1f MiB exceeds what one storage binding of "
                              "%s may span (%.1f MiB)",
                              mib(s.bytes), info.name.c_str(), mib(cap));
        if (chunk_bytes.empty() || chunk_bytes.back() + s.bytes > cap) chunk_bytes.push_back(0);
        const WeightLocation at{static_cast<uint32_t>(chunk_bytes.size() - 1), chunk_bytes.back()};
        by_host_[s.data] = at;
        const auto *src = static_cast<const uint8_t *>(s.data);
        if (!s.expert_slot) {
            pieces.push_back({src, s.bytes, at.chunk, at.offset});
        } else { // the resident experts only, packed in slot order (= expert order)
            uint64_t packed = 0;
            for (int32_t e = 0; e < s.n_expert; ++e) {
                if (s.expert_slot[e] < 0) continue;
                if (packed + s.expert_bytes > s.bytes)
                    return make_error(INFER_ERR_INTERNAL, "expert upload overruns its span");
                pieces.push_back({src + static_cast<uint64_t>(e) * s.expert_bytes, s.expert_bytes,
                                  at.chunk, at.offset + packed});
                packed += s.expert_bytes;
            }
        }
        chunk_bytes.back() += align_up(s.bytes);
        total += s.bytes;
    }
    for (uint64_t b : chunk_bytes) bytes_ += b;
    INFER_TRY(reserve(bytes_, "the weights"));
    for (uint64_t b : chunk_bytes) {
        Buffer chunk;
        const Status made = Buffer::create(*device_, b, &chunk, BufferMemory::DeviceLocal);
        if (!made.is_ok()) {
            release(bytes_);
            bytes_ = 0;
            return made;
        }
        chunks_.push_back(std::move(chunk));
    }

    Buffer staging;
    if (total) INFER_TRY(Buffer::create(*device_, std::min(kStagingBytes, align_up(total)), &staging));
    uint64_t copied = 0;
    for (const Piece &piece : pieces) {
        for (uint64_t done = 0; done < piece.bytes;) {
            const uint64_t n = std::min(staging.size(), piece.bytes - done);
            std::memcpy(staging.mapped(), piece.src + done, n);
            VkCommandBuffer cmd = VK_NULL_HANDLE;
            INFER_TRY(device_->begin_commands(&cmd));
            const VkBufferCopy region{0, piece.offset + done, n};
            vkCmdCopyBuffer(cmd, staging.handle(), chunks_[piece.chunk].handle(), 1, &region);
            INFER_TRY(device_->submit_and_wait());
            done += n;
            copied += n;
            if (progress && !progress(static_cast<float>(copied) / static_cast<float>(total)))
                return make_error(INFER_ERR_CANCELLED,
                                  "weight upload cancelled by the progress callback");
        }
        if (read_done) read_done(piece.src, piece.bytes);
    }
    if (progress && !progress(1.0f))
        return make_error(INFER_ERR_CANCELLED, "weight upload cancelled by the progress callback");
    return Status::ok();
}

Status upload_weights(const std::vector<WeightSpan> &spans, int32_t device, uint64_t budget,
                      const std::function<bool(float)> &progress,
                      const std::function<void(const void *, uint64_t)> &read_done,
                      std::unique_ptr<DeviceWeights> *out) {
    std::string why;
    const int32_t count = device_count(&why);
    if (count == 0) return make_error(INFER_ERR_UNSUPPORTED, "%s", why.c_str());
    if (device < 0 || device >= count)
        return make_error(INFER_ERR_INVALID_ARGUMENT, "Vulkan device %d does not exist (%d found)",
                          device, count);
    std::unique_ptr<Device> dev;
    INFER_TRY(Device::create(device, &dev));
    auto weights = std::make_unique<VulkanWeights>(std::move(dev), budget);
    INFER_TRY(weights->upload(spans, progress, read_done));
    *out = std::move(weights);
    return Status::ok();
}

} // namespace infer::vulkan
