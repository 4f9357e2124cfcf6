#include "models/transformer.h"

namespace infer::models {

extern const Architecture kLlama, kQwen2, kQwen3, kGemma3, kQwen2Moe, kQwen3Moe, kOlmoe, kGptOss,
    kDeepseek2;

namespace {
const Architecture *const kArchitectures[] = {&kLlama,    &kQwen2, &kQwen3,  &kGemma3,   &kQwen2Moe,
                                              &kQwen3Moe, &kOlmoe, &kGptOss, &kDeepseek2};
}

const Architecture *find_architecture(std::string_view name) {
    for (const Architecture *a : kArchitectures)
        if (name == a->name) return a;
    return nullptr;
}

std::string supported_architectures() {
    std::string names;
    for (const Architecture *a : kArchitectures) {
        if (!names.empty()) names += ", ";
        names += a->name;
    }
    return names;
}

} // namespace infer::models
