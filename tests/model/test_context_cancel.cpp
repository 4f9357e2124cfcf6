// Stopping a decode and what the context offers afterwards: cancels and aborts at every node
// boundary and at random moments, with 1 to 4 threads (more threads than this machine's cores
// included), never hang; a cancelled call leaves the position at a chunk boundary, offers no
// logits, and the next decode is exactly what an uninterrupted context computes. Every decode
// runs under a watchdog that fails the test (ends the process) instead of hanging CI.
#include "model_files.h"
#include "watchdog.h"

#include "infer.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

namespace {

struct ModelDeleter { void operator()(infer_model *m) const { infer_model_free(m); } };
struct ContextDeleter { void operator()(infer_context *c) const { infer_context_free(c); } };
using ModelPtr = std::unique_ptr<infer_model, ModelDeleter>;
using ContextPtr = std::unique_ptr<infer_context, ContextDeleter>;

// A small random-weight llama: a decode step takes well under a millisecond, so thousands of
// cancels fit in seconds, and its quantized weights run the same kernels as real models.
const infer_model *tiny_model() {
    static ModelPtr model = [] {
        const std::string path =
            infer::test::synthetic_model("cancel-tiny-q4_0", "--arch llama --quant Q4_0 --seed 7");
        infer_model *m = nullptr;
        REQUIRE_MESSAGE(infer_model_load_file(path.c_str(), nullptr, &m) == INFER_OK,
                        infer_last_error());
        return ModelPtr(m);
    }();
    return model.get();
}

// Abort callback state: answers "stop" at the stop_at-th poll of a decode (0: never).
struct AbortPlan {
    int polls = 0;
    int stop_at = 0;
};

int32_t abort_at_planned_poll(void *user) {
    AbortPlan &plan = *static_cast<AbortPlan *>(user);
    ++plan.polls;
    return plan.stop_at != 0 && plan.polls >= plan.stop_at;
}

struct ContextOptions {
    int32_t n_threads = 1;
    uint32_t n_ctx = 64;
    uint32_t n_batch = 4;
    bool logits_all = false;
    AbortPlan *abort = nullptr;
};

ContextPtr make_context(const infer_model *model, const ContextOptions &o) {
    infer_context_params p;
    infer_context_params_init(&p);
    p.n_ctx = o.n_ctx;
    p.n_batch = o.n_batch;
    p.n_threads = o.n_threads;
    p.logits_all = o.logits_all;
    if (o.abort) {
        p.abort_callback = abort_at_planned_poll;
        p.abort_user_data = o.abort;
    }
    infer_context *c = nullptr;
    REQUIRE_MESSAGE(infer_context_create(model, &p, &c) == INFER_OK, std::string(infer_last_error()));
    return ContextPtr(c);
}

constexpr auto kDecodeLimit = std::chrono::seconds(60);

infer_status decode(infer_context *ctx, const int32_t *tokens, uint32_t n) {
    return infer::test::within(kDecodeLimit, "infer_decode",
                               [&] { return infer_decode(ctx, tokens, n); });
}

std::vector<float> logits_at(infer_context *ctx, int32_t index) {
    const float *logits = nullptr;
    uint32_t n_vocab = 0;
    const infer_status s = infer_context_logits(ctx, index, &logits, &n_vocab);
    REQUIRE_MESSAGE(s == INFER_OK, std::string(infer_last_error()));
    return std::vector<float>(logits, logits + n_vocab);
}

std::string logits_error(infer_context *ctx, int32_t index) {
    const float *logits = nullptr;
    const infer_status s = infer_context_logits(ctx, index, &logits, nullptr);
    CHECK(s == INFER_ERR_NOT_FOUND);
    return infer_last_error();
}

bool contains(const std::string &text, const char *part) {
    return text.find(part) != std::string::npos;
}

// Polls one complete decode of n tokens makes (one before each chunk, one after every node but
// a chunk's last).
int polls_of_decode(const infer_model *model, uint32_t n_batch, uint32_t n) {
    AbortPlan count;
    ContextOptions o;
    o.n_batch = n_batch;
    o.abort = &count;
    ContextPtr ctx = make_context(model, o);
    std::vector<int32_t> tokens(n, 3);
    REQUIRE(decode(ctx.get(), tokens.data(), n) == INFER_OK);
    return count.polls;
}

} // namespace

TEST_CASE("cancel: an abort while a worker lags stops every thread at the same node") {
    // The deadlock this guards against: thread 0 decided to stop after node 0 while a worker,
    // still asleep from the pause between decodes, had not started node 0; the worker then read
    // the decision before node 0, left, and thread 0 waited at node 0's barrier forever.
    const infer_model *model = tiny_model();
    for (int32_t n_threads : {2, 3, 4, 8}) {
        CAPTURE(n_threads);
        AbortPlan plan;
        ContextOptions o;
        o.n_threads = n_threads;
        o.abort = &plan;
        ContextPtr ctx = make_context(model, o);
        for (int token = 0; token < 8; ++token) {
            std::this_thread::sleep_for(std::chrono::milliseconds(5)); // the workers fall asleep
            plan.polls = 0;
            plan.stop_at = 2; // go on at the poll before the run, stop after the first node
            const int32_t id = 10 + token;
            CHECK(decode(ctx.get(), &id, 1) == INFER_ERR_CANCELLED);
            CHECK(infer_context_position(ctx.get()) == 0);
        }
        plan.stop_at = 0;
        const int32_t id = 10;
        CHECK(decode(ctx.get(), &id, 1) == INFER_OK);
        CHECK(infer_context_position(ctx.get()) == 1);
    }
}

TEST_CASE("cancel: a cancel in a later chunk keeps the position of the completed chunks and no "
          "logits") {
    const infer_model *model = tiny_model();
    const uint32_t n_batch = 4;
    const int per_chunk = polls_of_decode(model, n_batch, n_batch);
    REQUIRE(per_chunk > 2);
    const std::vector<int32_t> tokens = {5, 9, 13, 17, 21, 25, 29, 33, 37, 41};
    for (int chunk : {1, 2}) { // cancel inside the second, then the third chunk
        CAPTURE(chunk);
        AbortPlan plan;
        ContextOptions o;
        o.n_batch = n_batch;
        o.abort = &plan;
        ContextPtr ctx = make_context(model, o);
        const int32_t first = 2;
        REQUIRE(decode(ctx.get(), &first, 1) == INFER_OK);
        plan.polls = 0;
        plan.stop_at = chunk * per_chunk + per_chunk / 2;
        CHECK(decode(ctx.get(), tokens.data(), tokens.size()) == INFER_ERR_CANCELLED);
        CHECK(infer_context_position(ctx.get()) == 1 + chunk * n_batch);
        // The cancelled chunk wrote part of the logits buffer: none are offered, and the error
        // says why (neither the cancelled call's nor the previous call's are current).
        const std::string why = logits_error(ctx.get(), -1);
        CHECK(contains(why, "cancelled"));
        CHECK(contains(why, std::to_string(chunk * n_batch).c_str()));
        logits_error(ctx.get(), 0);

        // Continuing from the kept position gives what an uninterrupted context computes for
        // the same chunks.
        plan.stop_at = 0;
        const uint32_t done = chunk * n_batch;
        REQUIRE(decode(ctx.get(), tokens.data() + done, tokens.size() - done) == INFER_OK);
        ContextOptions plain;
        plain.n_batch = n_batch;
        ContextPtr reference = make_context(model, plain);
        REQUIRE(decode(reference.get(), &first, 1) == INFER_OK);
        REQUIRE(decode(reference.get(), tokens.data(), done) == INFER_OK);
        REQUIRE(decode(reference.get(), tokens.data() + done, tokens.size() - done) == INFER_OK);
        CHECK(logits_at(ctx.get(), -1) == logits_at(reference.get(), -1));
    }
}

TEST_CASE("logits: an index is a position within the last decode call") {
    const infer_model *model = tiny_model();
    ContextOptions o;
    o.n_batch = 16;
    ContextPtr ctx = make_context(model, o);
    std::vector<int32_t> tokens(20);
    for (size_t i = 0; i < tokens.size(); ++i) tokens[i] = static_cast<int32_t>(3 + 2 * i);

    REQUIRE(decode(ctx.get(), tokens.data(), 4) == INFER_OK);
    const std::vector<float> last = logits_at(ctx.get(), -1);
    CHECK(logits_at(ctx.get(), 3) == last); // the call's last token answers to n-1 and -1
    CHECK(contains(logits_error(ctx.get(), 0), "logits_all"));
    CHECK(contains(logits_error(ctx.get(), 2), "logits_all"));
    CHECK(contains(logits_error(ctx.get(), 4), "4 token"));
    CHECK(contains(logits_error(ctx.get(), -2), "4 token"));

    // 20 tokens in chunks of 16 and 4: indexes are the call's, not the last chunk's.
    REQUIRE(infer_context_reset(ctx.get()) == INFER_OK);
    REQUIRE(decode(ctx.get(), tokens.data(), 20) == INFER_OK);
    CHECK(logits_at(ctx.get(), 19) == logits_at(ctx.get(), -1));
    CHECK(contains(logits_error(ctx.get(), 3), "logits_all"));
    CHECK(contains(logits_error(ctx.get(), 20), "20 token"));

    ContextOptions all = o;
    all.logits_all = true;
    ContextPtr every = make_context(model, all);
    REQUIRE(decode(every.get(), tokens.data(), 5) == INFER_OK);
    CHECK(logits_at(every.get(), 4) == logits_at(every.get(), -1));
    CHECK(logits_at(every.get(), 0) != logits_at(every.get(), 4));
    CHECK(contains(logits_error(every.get(), 5), "5 token"));
}

TEST_CASE("logits: after a reset, truncate or state load the error says which") {
    const infer_model *model = tiny_model();
    ContextPtr ctx = make_context(model, ContextOptions{});
    CHECK(contains(logits_error(ctx.get(), -1), "nothing has been decoded"));
    const int32_t tokens[3] = {4, 8, 15};
    REQUIRE(decode(ctx.get(), tokens, 3) == INFER_OK);
    REQUIRE(infer_context_truncate(ctx.get(), 2) == INFER_OK);
    CHECK(contains(logits_error(ctx.get(), -1), "truncated"));
    REQUIRE(decode(ctx.get(), tokens + 2, 1) == INFER_OK);
    uint64_t size = 0, written = 0;
    REQUIRE(infer_context_state_size(ctx.get(), &size) == INFER_OK);
    std::vector<uint8_t> state(size);
    REQUIRE(infer_context_state_save(ctx.get(), state.data(), size, &written) == INFER_OK);
    REQUIRE(infer_context_state_load(ctx.get(), state.data(), size) == INFER_OK);
    CHECK(contains(logits_error(ctx.get(), -1), "state was loaded"));
    REQUIRE(infer_context_reset(ctx.get()) == INFER_OK);
    CHECK(contains(logits_error(ctx.get(), -1), "reset"));
}

TEST_CASE("cancel: a pending cancel survives a refused decode; cancel_clear drops it") {
    const infer_model *model = tiny_model();
    ContextPtr ctx = make_context(model, ContextOptions{});
    const int32_t token = 6;
    REQUIRE(decode(ctx.get(), &token, 1) == INFER_OK);
    const std::vector<float> before = logits_at(ctx.get(), -1);

    infer_context_cancel(ctx.get());
    CHECK(decode(ctx.get(), &token, 0) == INFER_ERR_INVALID_ARGUMENT);
    const int32_t bad = 1 << 30;
    CHECK(decode(ctx.get(), &bad, 1) == INFER_ERR_BAD_TOKEN);
    CHECK(logits_at(ctx.get(), -1) == before); // refused calls change nothing
    CHECK(decode(ctx.get(), &token, 1) == INFER_ERR_CANCELLED); // the cancel was still pending
    CHECK(infer_context_position(ctx.get()) == 1);
    CHECK(decode(ctx.get(), &token, 1) == INFER_OK); // and was consumed by that decode

    infer_context_cancel(ctx.get());
    infer_context_cancel_clear(ctx.get());
    CHECK(decode(ctx.get(), &token, 1) == INFER_OK);
    infer_context_cancel_clear(nullptr);
}

TEST_CASE("cancel: stress: 10,000 cancels at random node boundaries and moments, 1-4 threads") {
    // $INFER_CANCEL_STRESS cancels per thread count instead of 2,500: fewer under
    // ThreadSanitizer, which runs this ten times slower; more for a longer soak.
    // Each round decodes 1..9 tokens (chunks of 4) and is stopped by an abort at a random poll,
    // a cancel from another thread after a random delay, or a cancel made before the call. A
    // reference context without cancels is fed exactly the chunks that completed, so the two
    // must agree bit for bit whenever a call completes.
    const infer_model *model = tiny_model();
    const uint32_t n_batch = 4;
    const int per_chunk = polls_of_decode(model, n_batch, n_batch);
    const char *stress = std::getenv("INFER_CANCEL_STRESS");
    const int kCancelsPerThreadCount = stress ? std::max(1, std::atoi(stress)) : 2500;
    std::mt19937 rng(1234);
    int total_cancels = 0;
    for (int32_t n_threads = 1; n_threads <= 4; ++n_threads) {
        CAPTURE(n_threads);
        AbortPlan plan;
        ContextOptions o;
        o.n_threads = n_threads;
        o.n_batch = n_batch;
        o.abort = &plan;
        ContextPtr ctx = make_context(model, o);
        ContextOptions ref_options = o;
        ref_options.abort = nullptr;
        ContextPtr reference = make_context(model, ref_options);

        // The other thread: cancels once per request, after the requested delay.
        std::atomic<int> request{0}, served{0};
        std::atomic<int> delay_us{0};
        std::atomic<bool> quit{false};
        std::thread canceller([&] {
            int seen = 0;
            while (!quit.load()) {
                if (request.load() == seen) {
                    std::this_thread::yield();
                    continue;
                }
                ++seen;
                const auto until = std::chrono::steady_clock::now() +
                                   std::chrono::microseconds(delay_us.load());
                while (std::chrono::steady_clock::now() < until) {
                }
                infer_context_cancel(ctx.get());
                served.store(seen);
            }
        });
        struct Join { // also when a REQUIRE below throws
            std::atomic<bool> &quit;
            std::thread &thread;
            ~Join() {
                quit.store(true);
                thread.join();
            }
        } join{quit, canceller};

        int cancels = 0, completed = 0;
        std::vector<int32_t> tokens(9);
        while (cancels < kCancelsPerThreadCount) {
            const uint32_t n = 1 + rng() % 9;
            if (infer_context_position(ctx.get()) + n + 1 > o.n_ctx) { // + 1: the pending check
                REQUIRE(infer_context_reset(ctx.get()) == INFER_OK);
                REQUIRE(infer_context_reset(reference.get()) == INFER_OK);
            }
            for (uint32_t i = 0; i < n; ++i) tokens[i] = static_cast<int32_t>(1 + rng() % 200);
            const uint32_t start = infer_context_position(ctx.get());
            const int how = static_cast<int>(rng() % 3);
            plan.polls = 0;
            plan.stop_at = how == 0 ? 1 + static_cast<int>(rng() % (per_chunk * 2)) : 0;
            if (how == 1) {
                delay_us.store(static_cast<int>(rng() % 300));
                request.fetch_add(1);
            } else if (how == 2) {
                infer_context_cancel(ctx.get());
            }
            const infer_status s = decode(ctx.get(), tokens.data(), n);
            if (how == 1) {
                while (served.load() != request.load()) std::this_thread::yield();
            }
            const uint32_t end = infer_context_position(ctx.get());
            REQUIRE((s == INFER_OK || s == INFER_ERR_CANCELLED));
            if (s == INFER_ERR_CANCELLED) {
                ++cancels;
                REQUIRE(end >= start);
                REQUIRE(end < start + n);
                REQUIRE((end - start) % n_batch == 0);
                CHECK(contains(logits_error(ctx.get(), -1), "cancelled"));
            } else {
                ++completed;
                REQUIRE(end == start + n);
            }
            if (end > start) REQUIRE(decode(reference.get(), tokens.data(), end - start) == INFER_OK);
            if (s == INFER_OK) {
                REQUIRE(logits_at(ctx.get(), -1) == logits_at(reference.get(), -1));
                if (how == 1) {
                    // The cancel came too late for this call, so it is pending for the next one,
                    // which stops before running anything.
                    const int32_t one = 1;
                    REQUIRE(decode(ctx.get(), &one, 1) == INFER_ERR_CANCELLED);
                    REQUIRE(infer_context_position(ctx.get()) == end);
                    ++cancels;
                }
            }
        }
        MESSAGE(n_threads << " thread(s): " << cancels << " cancels, " << completed
                          << " decodes completed");
        CHECK(completed > 0);
        total_cancels += cancels;
    }
    CHECK(total_cancels >= 4 * kCancelsPerThreadCount);
}
