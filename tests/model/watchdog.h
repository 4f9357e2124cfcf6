// A watchdog for calls that could hang: a hang must fail the test run, not stall CI until its
// time limit. The call runs on a helper thread; if it has not returned within the limit, the
// process reports which call hung and exits with a failure (a hung thread cannot be joined or
// cancelled, so ending the process is the only clean way out).
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <thread>
#include <utility>

namespace infer::test {

template <class Fn>
auto within(std::chrono::milliseconds limit, const char *what, Fn &&fn) -> decltype(fn()) {
    using Result = decltype(fn());
    std::mutex mutex;
    std::condition_variable done_cv;
    bool done = false;
    Result result{};
    std::thread worker([&] {
        Result r = fn();
        std::lock_guard<std::mutex> lock(mutex);
        result = r;
        done = true;
        done_cv.notify_one();
    });
    {
        std::unique_lock<std::mutex> lock(mutex);
        if (!done_cv.wait_for(lock, limit, [&] { return done; })) {
            std::fprintf(stderr, "watchdog: %s did not return within %lld ms: it hangs\n", what,
                         static_cast<long long>(limit.count()));
            std::fflush(stderr);
            std::_Exit(3);
        }
    }
    worker.join();
    return result;
}

} // namespace infer::test
