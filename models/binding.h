// Reading hyperparameters and binding weight tensors by name, with errors that name the key or
// tensor. Shared by every architecture file.
#pragma once

#include "core/status.h"
#include "gguf/gguf.h"
#include "graph/graph.h"

#include <initializer_list>
#include <string>

namespace infer::models {

// Reads `{arch}.{suffix}` keys.
class MetaReader {
public:
    MetaReader(const gguf::File &file, std::string arch) : file_(file), arch_(std::move(arch)) {}

    // A positive integer; missing and !required leaves *out unchanged.
    Status count(const char *suffix, int64_t *out, bool required = true) const;
    Status number(const char *suffix, float *out, bool required = true) const;
    Status text(const char *suffix, std::string *out, bool required = true) const;
    // A value that may be a scalar or a per-layer array; the array must be uniform.
    Status uniform_count(const char *suffix, int64_t *out, bool required = true) const;

private:
    std::string key(const char *suffix) const { return arch_ + "." + suffix; }
    const gguf::File &file_;
    std::string arch_;
};

// Binds tensor `name` and checks its dims (ne[0] first; trailing dims beyond those given must
// be 1). A missing optional tensor leaves *out empty (data == nullptr).
Status bind_tensor(const gguf::File &file, const std::string &name,
                   std::initializer_list<int64_t> dims, bool required, graph::WeightRef *out);

inline bool present(const graph::WeightRef &w) { return w.data != nullptr; }

// "blk.{layer}.{suffix}.{kind}", kind "weight" or "bias".
std::string layer_tensor(int64_t layer, const char *suffix, const char *kind = "weight");

} // namespace infer::models
