// Reads the binary test vectors written by scripts/make_quant_vectors.py (formats documented
// there). A missing or malformed file fails the calling test: vectors are never optional.
#pragma once

#include <cstdint>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include <doctest/doctest.h>

namespace infer::test {

inline std::string quant_data_path(const std::string &name) {
    return std::string(INFER_TEST_DATA_DIR) + "/quant/" + name;
}

inline std::vector<uint8_t> read_file_bytes(const std::string &name) {
    const std::string path = quant_data_path(name);
    std::ifstream in(path, std::ios::binary);
    REQUIRE_MESSAGE(in.good(), "missing test vector file " << path
                                   << " (regenerate with scripts/make_quant_vectors.py)");
    return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), {});
}

// Sequential little-endian reader over a vector file; every read is bounds-checked.
class VectorReader {
public:
    VectorReader(const std::string &name, const char magic[4]) : bytes_(read_file_bytes(name)) {
        REQUIRE_MESSAGE(bytes_.size() >= 4, name << ": too short");
        REQUIRE_MESSAGE(std::memcmp(bytes_.data(), magic, 4) == 0, name << ": bad magic");
        pos_ = 4;
    }

    uint32_t u32() {
        uint32_t v;
        copy(&v, sizeof v);
        return v;
    }

    // `count` raw bytes.
    std::vector<uint8_t> bytes(size_t count) {
        std::vector<uint8_t> v(count);
        copy(v.data(), count);
        return v;
    }

    template <typename T> std::vector<T> array(size_t count) {
        std::vector<T> v(count);
        copy(v.data(), count * sizeof(T));
        return v;
    }

    bool at_end() const { return pos_ == bytes_.size(); }

private:
    void copy(void *dst, size_t n) {
        REQUIRE_MESSAGE(n <= bytes_.size() - pos_, "vector file truncated");
        if (n != 0) std::memcpy(dst, bytes_.data() + pos_, n);
        pos_ += n;
    }

    std::vector<uint8_t> bytes_;
    size_t pos_ = 0;
};

inline uint32_t float_bits(float f) {
    uint32_t u;
    std::memcpy(&u, &f, sizeof u);
    return u;
}

inline float bits_float(uint32_t u) {
    float f;
    std::memcpy(&f, &u, sizeof f);
    return f;
}

} // namespace infer::test
