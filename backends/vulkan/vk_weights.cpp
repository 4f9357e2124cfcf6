// Weight upload: each weight (or a split expert stack's resident experts, packed by slot) is
// copied from the mapped file through one host-visible staging buffer into its chunk, a piece at
// a time; progress is reported after each piece, the caller may cancel, and read_done hands each
// host range back as soon as it is in the staging buffer.
#include "vulkan/vk_weights.h"

#include "vulkan/vk_check.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>

namespace infer::vulkan {
namespace {

constexpr uint64_t kStagingBytes = uint64_t{32} << 20;
constexpr uint64_t kAlign = 256;
// Chunks stay well under what one allocation can be on any driver.
constexpr uint64_t kMaxChunkBytes = uint64_t{1} << 30;

uint64_t align_up(uint64_t n) { return (n + kAlign - 1) & ~(kAlign - 1); }

// One host range to copy to (chunk, offset).
struct Piece {
    const uint8_t *src;
    uint64_t bytes;
    uint32_t chunk;
    uint64_t offset;
};

} // namespace

bool VulkanWeights::find(const void *host, WeightLocation *out) const {
    const std::vector<WeightLocation> *all = parts(host);
    if (!all) return false;
    *out = all->front();
    return true;
}

const std::vector<WeightLocation> *VulkanWeights::parts(const void *host) const {
    const auto it = by_host_.find(host);
    return it == by_host_.end() ? nullptr : &it->second;
}

Status VulkanWeights::upload(const std::vector<WeightSpan> &spans,
                             const std::function<bool(float)> &progress,
                             const std::function<void(const void *, uint64_t)> &read_done) {
    const DeviceInfo &info = device_->info();
    uint64_t cap = std::min<uint64_t>(kMaxChunkBytes, info.max_storage_buffer_range);
    if (const char *limit = std::getenv("INFER_VULKAN_WEIGHT_CHUNK_BYTES"))
        cap = std::min<uint64_t>(cap, std::max<uint64_t>(kAlign, std::strtoull(limit, nullptr, 10)));
    cap &= ~(kAlign - 1);
    // Layout: each span (or part of one) whole in one chunk, chunks filled in order.
    std::vector<uint64_t> chunk_bytes;
    std::vector<Piece> pieces;
    uint64_t total = 0;
    auto place = [&](uint64_t bytes) {
        if (chunk_bytes.empty() || chunk_bytes.back() + bytes > cap) chunk_bytes.push_back(0);
        const WeightLocation at{static_cast<uint32_t>(chunk_bytes.size() - 1), chunk_bytes.back()};
        chunk_bytes.back() += align_up(bytes);
        return at;
    };
    for (const WeightSpan &s : spans) {
        if (!s.bytes || by_host_.count(s.data)) continue;
        const uint64_t unit = s.unit_bytes;
        if (s.bytes > cap && (unit == 0 || unit > cap))
            return make_error(INFER_ERR_UNSUPPORTED,
                              "Vulkan: a weight of %llu bytes exceeds what one storage binding of "
                              "%s may span (%llu bytes), and its unit (a row or an expert: %llu "
                              "bytes; 0: it has none) does not fit either",
                              static_cast<unsigned long long>(s.bytes), info.name.c_str(),
                              static_cast<unsigned long long>(cap),
                              static_cast<unsigned long long>(unit));
        // The parts: the whole span when it fits, else runs of as many units as a chunk holds.
        const uint64_t n_units = unit ? s.bytes / unit : 0;
        const uint64_t per_part = s.bytes <= cap ? n_units : cap / unit;
        std::vector<WeightLocation> &parts = by_host_[s.data];
        const auto *src = static_cast<const uint8_t *>(s.data);
        uint64_t first = 0;
        do {
            const uint64_t units = std::min(per_part, n_units - first);
            const bool last = first + units >= n_units;
            const uint64_t bytes = last ? s.bytes - first * unit : units * unit;
            WeightLocation at = place(bytes);
            at.first = first;
            at.units = units;
            parts.push_back(at);
            if (!s.expert_slot) {
                pieces.push_back({src + first * unit, bytes, at.chunk, at.offset});
            } else { // the resident experts only, packed in slot order (= expert order)
                uint64_t slot = 0;
                for (int32_t e = 0; e < s.n_expert; ++e) {
                    if (s.expert_slot[e] < 0) continue;
                    if (slot >= first && slot < first + units)
                        pieces.push_back({src + static_cast<uint64_t>(e) * s.expert_bytes,
                                          s.expert_bytes, at.chunk,
                                          at.offset + (slot - first) * s.expert_bytes});
                    ++slot;
                }
                if (slot * s.expert_bytes > s.bytes)
                    return make_error(INFER_ERR_INTERNAL, "expert upload overruns its span");
            }
            first += units;
        } while (first < n_units);
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
