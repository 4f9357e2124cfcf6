// The CPU node profile (INFER_PROFILE, backends/cpu/node_profile.h): one line per kind of node,
// sorted by time, with the weight bytes a matmul or expert FFN read per second.
#include "core/types.h"
#include "cpu/node_profile.h"

#include <doctest/doctest.h>

#include <cstdio>
#include <fstream>
#include <iterator>
#include <string>
#include <unistd.h>

using namespace infer;

namespace {

// What `fill` prints to stderr.
template <class F> std::string stderr_of(F fill) {
    std::fflush(stderr);
    char path[] = "/tmp/infer-profile-XXXXXX";
    const int file = ::mkstemp(path);
    REQUIRE(file >= 0);
    const int saved = ::dup(2);
    ::dup2(file, 2);
    fill();
    std::fflush(stderr);
    ::dup2(saved, 2);
    ::close(saved);
    ::close(file);
    std::ifstream in(path);
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    ::unlink(path);
    return text;
}

} // namespace

TEST_CASE("cpu node profile: kinds by time, weight GB/s for matmuls and expert FFNs") {
    graph::WeightRef w;
    w.type = static_cast<uint32_t>(TypeId::Q4_0);
    w.ne[0] = 4096;
    w.ne[1] = 1000;
    w.n_bytes = 2'000'000;
    graph::Node matmul;
    matmul.op = graph::Op::MatMul;
    matmul.w = &w;
    graph::Node add;
    add.op = graph::Op::Add;

    graph::WeightRef experts[3];
    for (graph::WeightRef &e : experts) {
        e.type = static_cast<uint32_t>(TypeId::Q4_K);
        e.ne[0] = 64;
        e.ne[1] = 128;
        e.ne[2] = 8;
        e.n_bytes = 8 * 1'000'000;
    }
    graph::Node moe;
    moe.op = graph::Op::MoeFfn;
    moe.w = &experts[0];
    moe.w2 = &experts[1];
    moe.w3 = &experts[2];
    moe.n_expert_used = 2;

    const std::string text = stderr_of([&] {
        cpu::NodeProfile profile;
        // Decode: 2 MB twice in 4 ms (1 GB/s); prefill over 3 rows, 1 ms.
        profile.add(matmul, 1, 1, 0.002);
        profile.add(matmul, 1, 1, 0.002);
        profile.add(matmul, 64, 3, 0.001);
        profile.add(add, 1, 1, 0.010);
        // One token picks 2 of 8 experts: 3 matrices of 1 MB each, 6 MB in 3 ms.
        profile.add(moe, 1, 1, 0.003);
    });
    CAPTURE(text);
    CHECK(text.find("profile: 18.0 ms in CPU nodes") != std::string::npos);
    const size_t add_at = text.find("decode  Add");
    const size_t matmul_at = text.find("decode  MatMul     Q4_0      4096 x 1000");
    const size_t moe_at = text.find("decode  MoeFfn     Q4_K        64 x 128");
    const size_t prefill_at = text.find("prefill MatMul     Q4_0      4096 x 1000");
    REQUIRE(add_at != std::string::npos);
    REQUIRE(matmul_at != std::string::npos);
    REQUIRE(moe_at != std::string::npos);
    REQUIRE(prefill_at != std::string::npos);
    CHECK(add_at < matmul_at); // longest first
    CHECK(matmul_at < moe_at);
    CHECK(moe_at < prefill_at);
    const auto line = [&](size_t at) { return text.substr(at, text.find('\n', at) - at); };
    CHECK(line(matmul_at).find("2 calls") != std::string::npos);
    CHECK(line(matmul_at).find("1.0 GB/s") != std::string::npos);
    CHECK(line(moe_at).find("2.0 GB/s") != std::string::npos);
    // 4096 x 1000 x 3 multiply-adds in 1 ms.
    CHECK(line(prefill_at).find("12.3 GMAC/s") != std::string::npos);
    CHECK(line(add_at).find("GB/s") == std::string::npos);
}
