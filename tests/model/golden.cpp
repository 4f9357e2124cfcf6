#include "golden.h"

#include "core/fp16.h"

#include <cmath>
#include <cstring>
#include <fstream>
#include <iterator>
#include <stdexcept>

namespace infer::test {
namespace {

class Reader {
public:
    Reader(std::vector<char> bytes, std::string path) : bytes_(std::move(bytes)), path_(std::move(path)) {}

    template <class T> T scalar() {
        T v;
        take(&v, sizeof v);
        return v;
    }
    template <class T> std::vector<T> array(size_t n) {
        std::vector<T> v(n);
        take(v.data(), n * sizeof(T));
        return v;
    }
    std::vector<float> halves(size_t n) {
        std::vector<uint16_t> h = array<uint16_t>(n);
        std::vector<float> f(n);
        for (size_t i = 0; i < n; ++i) f[i] = fp16_to_fp32(h[i]);
        return f;
    }
    bool at_end() const { return pos_ == bytes_.size(); }

private:
    void take(void *dst, size_t n) {
        if (bytes_.size() - pos_ < n) throw std::runtime_error(path_ + ": truncated golden file");
        std::memcpy(dst, bytes_.data() + pos_, n);
        pos_ += n;
    }
    std::vector<char> bytes_;
    std::string path_;
    size_t pos_ = 0;
};

} // namespace

Golden read_golden(const std::string &path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw std::runtime_error(path + ": cannot open golden file");
    Reader r(std::vector<char>(std::istreambuf_iterator<char>(in), {}), path);
    const auto magic = r.array<char>(4);
    if (std::string(magic.begin(), magic.end()) != "IGLD" || r.scalar<uint32_t>() != 2)
        throw std::runtime_error(path + ": not a version 2 golden file");
    Golden g;
    g.n_vocab = r.scalar<uint32_t>();
    const uint32_t n_prompt = r.scalar<uint32_t>();
    g.top_k = r.scalar<uint32_t>();
    const uint32_t n_gen = r.scalar<uint32_t>();
    const uint32_t has_all = r.scalar<uint32_t>();
    g.prompt = r.array<int32_t>(n_prompt);
    g.last_logits = r.halves(g.n_vocab);
    for (uint32_t p = 0; p < n_prompt; ++p) {
        const auto ids = r.array<int32_t>(g.top_k);
        const auto values = r.array<float>(g.top_k);
        g.top_ids.insert(g.top_ids.end(), ids.begin(), ids.end());
        g.top_values.insert(g.top_values.end(), values.begin(), values.end());
    }
    g.gen = r.array<int32_t>(n_gen);
    g.gen_margin = r.array<float>(n_gen);
    g.spread = r.array<float>(n_prompt);
    g.variant_disagreements = r.scalar<uint32_t>();
    g.variant_greedy_matched = r.scalar<uint32_t>();
    if (has_all) g.all_logits = r.halves(size_t{n_prompt} * g.n_vocab);
    if (!r.at_end()) throw std::runtime_error(path + ": trailing bytes in golden file");
    return g;
}

double normalized_rms_error(const float *ours, const float *ref, size_t n) {
    double diff = 0, norm = 0;
    for (size_t i = 0; i < n; ++i) {
        diff += (double(ours[i]) - ref[i]) * (double(ours[i]) - ref[i]);
        norm += double(ref[i]) * ref[i];
    }
    return std::sqrt(diff / norm);
}

int32_t argmax(const float *v, size_t n) {
    size_t best = 0;
    for (size_t i = 1; i < n; ++i)
        if (v[i] > v[best]) best = i;
    return static_cast<int32_t>(best);
}

} // namespace infer::test
