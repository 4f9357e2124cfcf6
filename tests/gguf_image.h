// GGUF images for the reader's tests, made with the one GGUF writer (tooling/gguf_writer.h): the
// whole file in memory, and single fields patched through the writer's layout().
#pragma once

#include "tooling/gguf_writer.h"

#include <doctest/doctest.h>

#include <cstdint>
#include <cstring>
#include <vector>

namespace infer::test {

// The file `w` declares. Each data byte is distinct per tensor (tensor i, byte b: i * 31 + b) so
// tests can check where tensor_data() points.
inline std::vector<uint8_t> build_image(gguf::Writer &w) {
    std::vector<uint8_t> image;
    const Status begun = w.begin(&image);
    REQUIRE_MESSAGE(begun.is_ok(), begun.message());
    for (size_t i = 0; i < w.tensor_count(); ++i) {
        std::vector<uint8_t> data(w.tensor_bytes(i));
        for (size_t b = 0; b < data.size(); ++b)
            data[b] = static_cast<uint8_t>(i * 31 + b);
        REQUIRE(w.write_data(data.data(), data.size()).is_ok());
    }
    REQUIRE(w.finish().is_ok());
    return image;
}

// Overwrites a little-endian field of a built image.
template <class T> inline void patch(std::vector<uint8_t> &image, uint64_t pos, T value) {
    std::memcpy(image.data() + pos, &value, sizeof value);
}

} // namespace infer::test
