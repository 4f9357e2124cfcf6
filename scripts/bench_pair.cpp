// bench_pair: libinfer and llama.cpp on the same model in one process, taking turns run by run
// (pp: one decode call of P tokens from an empty context; tg: T single-token decode calls), and
// the median of the per-round ratios with its spread.
//
//   bench_pair MODEL THREADS PP TG ROUNDS
//
// Why one process: the model load and warm-up happen once, so a round costs half of what two
// whole benchmark processes in turn do, and its two runs are back to back instead of tens of
// seconds apart; each round alternates who goes first. On a shared host whose speed swings within
// seconds, single rounds still scatter widely: take the median of many.
// llama.cpp runs as llama-bench sets it up: n_batch 2048, n_ubatch 512, flash attention auto,
// n_ctx = PP + TG. scripts/bench-vs-llama.sh builds this against its llama.cpp build (--paired).
#include "infer.h"
#include "llama.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <vector>

namespace {

double now_seconds() {
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

[[noreturn]] void fail(const char *what, const char *why) {
    std::fprintf(stderr, "bench_pair: %s: %s\n", what, why);
    std::exit(1);
}

// Tokens per second of one run of `tokens` tokens: n in one call (prompt), or one per call.
double timed(const std::function<void()> &reset,
             const std::function<void(const int32_t *, int)> &decode,
             const std::vector<int32_t> &tokens, bool prompt) {
    reset();
    const double start = now_seconds();
    const int n = static_cast<int>(tokens.size());
    if (prompt) {
        decode(tokens.data(), n);
    } else {
        for (int i = 0; i < n; ++i)
            decode(tokens.data() + i, 1);
    }
    return n / (now_seconds() - start);
}

struct Series {
    std::vector<double> ours, theirs, ratio;
};

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    const size_t n = v.size();
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

void report(const char *test, const Series &s, int threads) {
    const auto [lo, hi] = std::minmax_element(s.ratio.begin(), s.ratio.end());
    std::printf("%s, %d threads: libinfer %.2f t/s, llama.cpp %.2f t/s (medians), ratio %.3f "
                "[%.3f-%.3f] over %zu rounds\n",
                test, threads, median(s.ours), median(s.theirs), median(s.ratio), *lo, *hi,
                s.ratio.size());
}

} // namespace

int main(int argc, char **argv) {
    if (argc != 6) {
        std::fprintf(stderr, "usage: bench_pair MODEL THREADS PP TG ROUNDS\n");
        return 2;
    }
    const char *path = argv[1];
    const int threads = std::atoi(argv[2]), pp = std::atoi(argv[3]), tg = std::atoi(argv[4]),
              rounds = std::atoi(argv[5]);
    if (threads < 1 || pp < 0 || tg < 0 || pp + tg < 1 || rounds < 1)
        fail("arguments", "out of range");

    infer_model_params mp;
    infer_model_params_init(&mp);
    infer_model *model = nullptr;
    if (infer_model_load_file(path, &mp, &model) != INFER_OK) fail("libinfer", infer_last_error());
    infer_context_params cp;
    infer_context_params_init(&cp);
    cp.n_ctx = static_cast<uint32_t>(std::max(pp, tg) + 1);
    cp.n_threads = threads;
    infer_context *ctx = nullptr;
    if (infer_context_create(model, &cp, &ctx) != INFER_OK) fail("libinfer", infer_last_error());

    llama_backend_init();
    llama_model *lm = llama_model_load_from_file(path, llama_model_default_params());
    if (!lm) fail("llama.cpp", "cannot load the model");
    llama_context_params lcp = llama_context_default_params();
    lcp.n_ctx = static_cast<uint32_t>(pp + tg);
    lcp.n_batch = 2048;
    lcp.n_ubatch = 512;
    lcp.n_threads = lcp.n_threads_batch = threads;
    lcp.no_perf = true;
    llama_context *lc = llama_init_from_model(lm, lcp);
    if (!lc) fail("llama.cpp", "cannot create a context");

    // The same spread of tokens for both (the speed does not depend on which).
    const uint32_t n_vocab = static_cast<uint32_t>(llama_vocab_n_tokens(llama_model_get_vocab(lm)));
    std::vector<int32_t> tokens(static_cast<size_t>(std::max(pp, tg)));
    uint32_t x = 12345;
    for (int32_t &t : tokens) {
        x = x * 1664525u + 1013904223u;
        t = static_cast<int32_t>(x % n_vocab);
    }

    const auto ours_reset = [&] {
        if (infer_context_reset(ctx) != INFER_OK) fail("libinfer", infer_last_error());
    };
    const auto ours_decode = [&](const int32_t *t, int n) {
        if (infer_decode(ctx, t, static_cast<uint32_t>(n)) != INFER_OK)
            fail("libinfer", infer_last_error());
    };
    const auto theirs_reset = [&] { llama_memory_clear(llama_get_memory(lc), true); };
    const auto theirs_decode = [&](const int32_t *t, int n) {
        if (llama_decode(lc, llama_batch_get_one(const_cast<int32_t *>(t), n)) != 0)
            fail("llama.cpp", "decode failed");
        llama_synchronize(lc);
    };

    for (const bool prompt : {true, false}) {
        const int n = prompt ? pp : tg;
        if (n == 0) continue;
        const std::vector<int32_t> run(tokens.begin(), tokens.begin() + n);
        timed(ours_reset, ours_decode, run, prompt); // warm-ups
        timed(theirs_reset, theirs_decode, run, prompt);
        Series s;
        for (int r = 0; r < rounds; ++r) {
            double a, b;
            if (r % 2 == 0) {
                a = timed(ours_reset, ours_decode, run, prompt);
                b = timed(theirs_reset, theirs_decode, run, prompt);
            } else {
                b = timed(theirs_reset, theirs_decode, run, prompt);
                a = timed(ours_reset, ours_decode, run, prompt);
            }
            s.ours.push_back(a);
            s.theirs.push_back(b);
            s.ratio.push_back(a / b);
            std::fprintf(stderr, "%s%d round %d: %.2f / %.2f t/s = %.3f\n", prompt ? "pp" : "tg", n,
                         r + 1, a, b, a / b);
        }
        char test[32];
        std::snprintf(test, sizeof test, "%s%d", prompt ? "pp" : "tg", n);
        report(test, s, threads);
    }
    llama_free(lc);
    llama_model_free(lm);
    llama_backend_free();
    infer_context_free(ctx);
    infer_model_free(model);
    return 0;
}
