// The cases a backend is known to refuse today, and the bookkeeping that keeps the list honest:
// a backend must accept every case the CPU reference runs, except these. As kernels land, their
// lines in known_gaps.cpp are deleted. A listed case that the backend accepts fails its test
// ("remove it from the list"), and so does a line that matches no case at all, so the list
// cannot go stale silently.
#pragma once

#include "one_node_case.h"

#include <string>
#include <vector>

namespace infer::conformance {

// The gaps of one (backend, op) test, with which of them its cases met.
class KnownGaps {
public:
    KnownGaps(const std::string &backend, graph::Op op);

    // Whether `c` is a known gap of this backend (and notes that the gap was met).
    bool covers(const OpCase &c);
    // "(CUDA, MatMul, Q2_K)" for each gap of this (backend, op) that no case met.
    std::vector<std::string> unmet() const;

private:
    struct Entry {
        uint32_t type; // a TypeId, or kAnyType
        bool met;
        const char *label_part = nullptr; // only the cases whose label holds this text
    };
    std::string backend_;
    graph::Op op_;
    std::vector<Entry> entries_;
};

} // namespace infer::conformance
