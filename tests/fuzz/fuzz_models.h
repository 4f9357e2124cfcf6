// The test models for the fuzz targets that need a vocabulary or a context: loaded once per
// process from INFER_MODEL_DIR, else ~/.cache/libinfer/models (scripts/model-dir.sh). A missing
// model aborts the run with a message: a fuzzer that silently fuzzed nothing would pass.
#pragma once

#include "infer.h"

#include <cstdio>
#include <cstdlib>
#include <string>

namespace infer::fuzz {

inline std::string model_path(const char *file) {
    const char *dir = std::getenv("INFER_MODEL_DIR");
    std::string base;
    if (dir && *dir) {
        base = dir;
    } else if (const char *xdg = std::getenv("XDG_CACHE_HOME"); xdg && *xdg) {
        base = std::string(xdg) + "/libinfer/models";
    } else {
        const char *home = std::getenv("HOME");
        base = std::string(home ? home : "") + "/.cache/libinfer/models";
    }
    return base + "/" + file;
}

// Never freed: the process ends with the fuzzer (LeakSanitizer ignores what globals still hold).
inline infer_model *load_model_or_die(const char *file) {
    const std::string path = model_path(file);
    infer_model *model = nullptr;
    if (infer_model_load_file(path.c_str(), nullptr, &model) != INFER_OK) {
        std::fprintf(stderr, "fuzz: cannot load the test model %s: %s (run scripts/fetch-models.sh)\n",
                     path.c_str(), infer_last_error());
        std::abort();
    }
    return model;
}

inline infer_model *smollm2() {
    static infer_model *model = load_model_or_die("SmolLM2-135M-Instruct.Q4_1.gguf");
    return model;
}

inline infer_model *gemma3() {
    static infer_model *model = load_model_or_die("gemma-3-270m-q4_k_m.gguf");
    return model;
}

inline void check(bool ok, const char *what) {
    if (!ok) {
        std::fprintf(stderr, "fuzz: property violated: %s\n", what);
        __builtin_trap();
    }
}

} // namespace infer::fuzz
