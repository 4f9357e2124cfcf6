// The backend conformance suite: for every backend in the registry and every graph op, one
// test case "<backend>: <op>" that runs the op's cases (op_cases.cpp) through Backend::run on
// that backend and on the CPU backend with CpuKernels::Reference, and compares the outputs
// (compare.h). The CPU entry is tested with its Fast kernels; the Reference kernels are the
// yardstick, never tested against themselves. A device backend gets each case's weights
// uploaded first; on a machine without its device its cases are skipped (exit 77).
//
// A backend must accept every case the CPU reference runs, except its known gaps
// (known_gaps.cpp). The test cases are registered at start-up from the registry (doctest's own
// registration, one function per (backend slot, op)), so a new backend or op gets its tests without
// an edit here.
#include <doctest/doctest.h>

#include "compare.h"
#include "known_gaps.h"
#include "node_runner.h"
#include "op_cases.h"
#include "skip.h"

#include "core/types.h"

#include <array>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <utility>

namespace infer::conformance {
namespace {

using graph::Op;

// INFER_CONFORMANCE_VERBOSE=1 prints every case's error (for choosing tolerances).
bool verbose() {
    const char *env = std::getenv("INFER_CONFORMANCE_VERBOSE");
    return env && *env && *env != '0';
}

// ---- The test of one (backend, op) -----------------------------------------------------------

void check_backend_op(size_t slot, Op op) {
    const BackendEntry &entry = backend_registry()[slot];
    // Strings, not char pointers: doctest's message streams print a const char * as an address.
    const std::string backend = entry.name, op_name = graph::op_name(op);
    std::string why;
    if (entry.is_device && entry.device_count(&why) == 0) {
        skip_test(backend + " has no device here (" + why + ")");
        return;
    }
    for (uint32_t type : reference_weight_types(op))
        CHECK_MESSAGE(random_weight_bytes(type, 0, 1.0f, nullptr, 0),
                      "the CPU runs " << op_name << " with " << std::string(type_traits(type)->name)
                                      << " weights, which this suite cannot make: add them to "
                                         "random_weight_bytes");
    const Cases cases = make_cases(op);
    REQUIRE_MESSAGE(!cases.empty(), op_name << " has no conformance cases");

    NodeRunner reference, tested;
    const Status ref_started = reference.start(cpu_backend_entry(), CpuKernels::Reference, cases);
    REQUIRE_MESSAGE(ref_started.is_ok(), "the reference backend: " << ref_started.message());
    const Status started = tested.start(entry, CpuKernels::Fast, cases);
    REQUIRE_MESSAGE(started.is_ok(), backend << ": " << started.message());

    KnownGaps gaps(backend, op);
    int ran = 0, known_refusals = 0;
    double worst = -1; // the largest error of any case, and that case
    std::string worst_label;
    for (const std::unique_ptr<OpCase> &c : cases) {
        const std::string name = backend + " " + op_name + " " + c->label;
        const bool gap = gaps.covers(*c);
        const Status supported = entry.supports(c->node(), c->graph);
        if (!supported.is_ok()) {
            if (gap) {
                ++known_refusals;
                continue;
            }
            FAIL_CHECK(name << ": refused, and it is not a known gap: " << supported.message());
            continue;
        }
        if (gap) FAIL_CHECK(name << ": now supported; delete its known gap in known_gaps.cpp");

        Outputs ref, got;
        const Status ref_run = reference.run(*c, &ref);
        REQUIRE_MESSAGE(ref_run.is_ok(), name << ": the reference failed: " << ref_run.message());
        const Status run = tested.run(*c, &got);
        if (!run.is_ok()) {
            FAIL_CHECK(name << ": the run failed: " << run.message());
            continue;
        }
        ++ran;
        const Comparison cmp = compare_outputs(*c, got, ref);
        if (verbose())
            MESSAGE(name << ": error " << cmp.worst << " (tolerance " << c->tol.max_rel << ")");
        if (!cmp.ok) FAIL_CHECK(name << ": " << cmp.detail);
        if (cmp.worst > worst) {
            worst = cmp.worst;
            worst_label = c->label;
        }
    }
    for (const std::string &gap : gaps.unmet())
        FAIL_CHECK("known gap " << gap << " matches no case: delete it in known_gaps.cpp");
    char largest[64] = "";
    if (ran) std::snprintf(largest, sizeof largest, "; largest error %.3g", worst);
    MESSAGE(backend << " " << op_name << ": " << ran << " of " << cases.size() << " cases ran, "
                    << known_refusals << " refused as known gaps" << std::string(largest)
                    << (ran ? " (" + worst_label + ")" : std::string()));
}

// ---- Registration ----------------------------------------------------------------------------
// doctest takes plain function pointers, so each (registry slot, op) gets its own instance of
// a template; the registry and the op list are read at start-up and sized against these bounds.
constexpr size_t kMaxBackends = 4, kMaxOps = 32;

template <size_t Slot, size_t OpIndex> void backend_op_test() {
    check_backend_op(Slot, static_cast<Op>(OpIndex));
}

template <size_t Slot> void no_graph_backend_test() {
    skip_test(std::string(backend_registry()[Slot].name) +
              " makes no backend yet (its registry entry has no make_backend)");
}

template <size_t Slot, size_t... OpIndex>
constexpr std::array<doctest::detail::funcType, kMaxOps> op_tests(std::index_sequence<OpIndex...>) {
    return {&backend_op_test<Slot, OpIndex>...};
}

template <size_t... Slot> constexpr auto all_tests(std::index_sequence<Slot...>) {
    return std::array{op_tests<Slot>(std::make_index_sequence<kMaxOps>{})...};
}

template <size_t... Slot> constexpr auto no_graph_tests(std::index_sequence<Slot...>) {
    return std::array<doctest::detail::funcType, kMaxBackends>{&no_graph_backend_test<Slot>...};
}

void register_test(doctest::detail::funcType fn, const std::string &name, int line) {
    static std::deque<std::string> names; // doctest keeps the name's pointer
    names.push_back(name);
    doctest::detail::regTest(doctest::detail::TestCase(fn, __FILE__, static_cast<unsigned>(line),
                                                       doctest::detail::TestSuite()) *
                             names.back().c_str());
}

void too_many() {
    FAIL("more backends or ops than kMaxBackends / kMaxOps in test_conformance.cpp");
}

int register_tests() {
    constexpr auto tests = all_tests(std::make_index_sequence<kMaxBackends>{});
    constexpr auto no_graph = no_graph_tests(std::make_index_sequence<kMaxBackends>{});
    const std::vector<BackendEntry> &backends = backend_registry();
    const std::vector<Op> ops = all_ops();
    if (backends.size() > kMaxBackends || ops.size() > kMaxOps) {
        register_test(too_many, "conformance: suite bounds", 1);
        return 0;
    }
    for (size_t slot = 0; slot < backends.size(); ++slot) {
        const std::string backend = backends[slot].name;
        const int line = static_cast<int>(100 * (slot + 1));
        if (!backends[slot].make_backend) {
            register_test(no_graph[slot], backend + ": no graph backend", line);
            continue;
        }
        for (size_t i = 0; i < ops.size(); ++i)
            register_test(tests[slot][i], backend + ": " + graph::op_name(ops[i]),
                          line + static_cast<int>(i));
    }
    return 0;
}

[[maybe_unused]] const int registered = register_tests();

} // namespace
} // namespace infer::conformance
