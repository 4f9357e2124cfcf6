// The host-memory defaults of the Backend interface (what the CPU backend uses).
#include "runtime/backend.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>

namespace infer {

namespace {
constexpr uint64_t kHostAlignment = 64;
} // namespace

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
