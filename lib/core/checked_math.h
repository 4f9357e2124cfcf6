// Overflow-safe size arithmetic for everything derived from untrusted file contents.
#pragma once

#include <cstdint>

namespace infer {

// Each returns false (and leaves *out unspecified) when the exact result does not fit.
inline bool checked_add(uint64_t a, uint64_t b, uint64_t *out) {
    return !__builtin_add_overflow(a, b, out);
}
inline bool checked_mul(uint64_t a, uint64_t b, uint64_t *out) {
    return !__builtin_mul_overflow(a, b, out);
}
// Rounds up to a multiple of `alignment`, which must be a power of two.
inline bool checked_align_up(uint64_t value, uint64_t alignment, uint64_t *out) {
    uint64_t bumped;
    if (!checked_add(value, alignment - 1, &bumped)) return false;
    *out = bumped & ~(alignment - 1);
    return true;
}

} // namespace infer
