// The host-memory defaults of the Backend interface (what the CPU backend uses), and the device
// memory account the device backends share.
#include "runtime/backend.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>

namespace infer {

namespace {
constexpr uint64_t kHostAlignment = 64;

double mib(uint64_t bytes) { return static_cast<double>(bytes) / 1048576.0; }
} // namespace

Status DeviceMemoryAccount::reserve(uint64_t bytes, const char *what) {
    uint64_t used = used_.load();
    do {
        if (budget_ && used + bytes > budget_)
            return make_error(INFER_ERR_OUT_OF_MEMORY,
                              "%s needs %.1f MiB of device memory; %.1f MiB of the model's "
                              "device_memory_budget of %.1f MiB is left",
                              what, mib(bytes), mib(budget_ - std::min(used, budget_)),
                              mib(budget_));
    } while (!used_.compare_exchange_weak(used, used + bytes));
    return Status::ok();
}

uint64_t DeviceMemoryAccount::available() const {
    if (!budget_) return UINT64_MAX;
    return budget_ - std::min(used_.load(), budget_);
}

Status Backend::allocate(MemoryKind, uint64_t bytes, uint8_t **out) {
    const uint64_t size =
        (std::max<uint64_t>(bytes, 1) + kHostAlignment - 1) & ~(kHostAlignment - 1);
    *out = static_cast<uint8_t *>(std::aligned_alloc(kHostAlignment, size));
    if (!*out)
        return make_error(INFER_ERR_OUT_OF_MEMORY, "cannot allocate %llu bytes for the context",
                          static_cast<unsigned long long>(bytes));
    return Status::ok();
}

void Backend::release(MemoryKind, uint8_t *memory) { std::free(memory); }

Status Backend::copy_in(void *dst, const void *src, uint64_t bytes) {
    if (bytes) std::memcpy(dst, src, bytes);
    return Status::ok();
}

Status Backend::copy_out(void *dst, const void *src, uint64_t bytes) {
    if (bytes) std::memcpy(dst, src, bytes);
    return Status::ok();
}


} // namespace infer
