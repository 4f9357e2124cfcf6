// The host-memory defaults of the Backend interface (what the CPU backend uses), and the
// stand-ins for the CUDA entry points in a build without CUDA.
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

#if !INFER_HAVE_CUDA
Status upload_cuda_weights(const graph::Graph &, int32_t, uint64_t,
                           const std::function<bool(float)> &, std::unique_ptr<DeviceWeights> *) {
    return make_error(INFER_ERR_UNSUPPORTED, "this libinfer was built without CUDA");
}

std::unique_ptr<Backend> make_cuda_backend(const DeviceWeights &) { return nullptr; }
#endif

} // namespace infer
