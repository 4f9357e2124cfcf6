// infer-tokenize-load MODEL.gguf KIND MEGABYTES [--max-bytes-per-byte B] [--max-seconds S]
// Tokenizes one generated input of KIND (spaces, word, random, english, cjk, digits) and prints
// the token count, the time, and the peak memory the tokenizer added over what the process held
// before (ru_maxrss against the resident size just before the call), per input byte. With the
// limits it is a check: exit 1 when either is exceeded. One input per process, so that the peak
// is this input's.
#include "infer.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <sys/resource.h>
#include <vector>

namespace {

// Deterministic bytes: the same input every run.
struct Lcg {
    uint64_t state = 0x2545F4914F6CDD1Dull;
    uint32_t next() {
        state = state * 6364136223846793005ull + 1442695040888963407ull;
        return static_cast<uint32_t>(state >> 33);
    }
};

std::string repeat_to(const std::string &unit, size_t size) {
    std::string out;
    out.reserve(size);
    while (out.size() + unit.size() <= size) out += unit;
    // Cut at a character boundary so that valid text stays valid.
    size_t rest = size - out.size();
    while (rest > 0 && (static_cast<unsigned char>(unit[rest]) & 0xC0) == 0x80) --rest;
    out.append(unit, 0, rest);
    return out;
}

bool make_input(const std::string &kind, size_t size, std::string *out) {
    Lcg rng;
    out->clear();
    out->reserve(size);
    if (kind == "spaces") {
        out->assign(size, ' ');
    } else if (kind == "word") { // one long word of lowercase letters, no spaces
        while (out->size() < size) out->push_back(static_cast<char>('a' + rng.next() % 26));
    } else if (kind == "random") { // random bytes: mostly invalid UTF-8, some NULs and controls
        while (out->size() < size) out->push_back(static_cast<char>(rng.next() & 0xFF));
    } else if (kind == "digits") {
        while (out->size() < size) out->push_back(static_cast<char>('0' + rng.next() % 10));
    } else if (kind == "english") {
        *out = repeat_to("The quick brown fox jumps over the lazy dog. It's 2024, and we're "
                         "testing tokenizers: don't they handle \"quotes\", numbers like "
                         "3.14159 and new\nlines?\n\n",
                         size);
    } else if (kind == "cjk") {
        *out = repeat_to("我们今天在测试分词器的性能。東京は日本の首都です。한국어 문장도 있습니다. ",
                         size);
    } else {
        return false;
    }
    return true;
}

long resident_kib() {
    FILE *f = std::fopen("/proc/self/statm", "r");
    long pages_total = 0, pages_resident = 0;
    if (f) {
        if (std::fscanf(f, "%ld %ld", &pages_total, &pages_resident) != 2) pages_resident = 0;
        std::fclose(f);
    }
    return pages_resident * 4;
}

long peak_kib() {
    struct rusage usage;
    getrusage(RUSAGE_SELF, &usage);
    return usage.ru_maxrss;
}

} // namespace

int main(int argc, char **argv) {
    if (argc < 4) {
        std::fprintf(stderr, "usage: %s MODEL.gguf KIND MEGABYTES [--max-bytes-per-byte B] "
                             "[--max-seconds S]\n", argv[0]);
        return 2;
    }
    const std::string kind = argv[2];
    const size_t size = static_cast<size_t>(std::atof(argv[3]) * 1024 * 1024);
    double max_per_byte = 0, max_seconds = 0;
    for (int i = 4; i + 1 < argc; i += 2) {
        if (!std::strcmp(argv[i], "--max-bytes-per-byte")) max_per_byte = std::atof(argv[i + 1]);
        else if (!std::strcmp(argv[i], "--max-seconds")) max_seconds = std::atof(argv[i + 1]);
    }
    infer_model_params params;
    infer_model_params_init(&params);
    infer_model *model = nullptr;
    if (infer_model_load_file(argv[1], &params, &model) != INFER_OK) {
        std::fprintf(stderr, "%s: %s\n", argv[1], infer_last_error());
        return 2;
    }
    std::string input;
    if (!make_input(kind, size, &input)) {
        std::fprintf(stderr, "unknown kind %s\n", kind.c_str());
        return 2;
    }
    // At most one token per input byte, plus BOS/EOS; zero-filled so that it is resident now.
    std::vector<int32_t> tokens(size + 4);
    size_t count = 0;
    const long before_kib = std::max(resident_kib(), peak_kib());
    const auto start = std::chrono::steady_clock::now();
    const infer_status status =
        infer_tokenize(model, input.data(), input.size(), 1, 0, tokens.data(), tokens.size(), &count);
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const long growth_kib = peak_kib() - before_kib;
    if (status != INFER_OK) {
        std::fprintf(stderr, "tokenize: %s\n", infer_last_error());
        return 2;
    }
    const double per_byte = size ? growth_kib * 1024.0 / static_cast<double>(size) : 0;
    std::printf("%-8s %6.1f MiB  %9zu tokens  %7.2f s  peak +%7.1f MiB  %6.1f bytes/input byte\n",
                kind.c_str(), size / 1048576.0, count, seconds, growth_kib / 1024.0, per_byte);
    infer_model_free(model);
    bool ok = true;
    if (max_per_byte > 0 && per_byte > max_per_byte) {
        std::fprintf(stderr, "peak memory growth %.1f bytes per input byte exceeds %.1f\n", per_byte,
                     max_per_byte);
        ok = false;
    }
    if (max_seconds > 0 && seconds > max_seconds) {
        std::fprintf(stderr, "%.1f s exceeds %.1f s\n", seconds, max_seconds);
        ok = false;
    }
    return ok ? 0 : 1;
}
