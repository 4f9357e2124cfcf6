// Which nodes of a one-token run may start without waiting at a barrier for the nodes before
// them. The executor ends every node with a barrier because a node usually reads what every
// thread of the one before it wrote. But a decode step's Q, K and V matmuls read one input and
// write three outputs, and so do gate and up: a barrier between them only makes the thread that
// finished its rows first wait, and cuts each thread's stream of weights into short pieces. A
// node joins the group of nodes since the last barrier when, in the arena, it neither reads nor
// writes any byte that a member writes, nor writes any byte that a member reads, and when all of
// them are ops that split their work statically, touch nothing but their tensors and scratch,
// and share no other state between threads. Prefill keeps a barrier after every node: its
// matmuls take rows from a counter that each barrier resets (ThreadPool::claim_share).
#pragma once

#include "graph/graph.h"

#include <cstdint>
#include <vector>

namespace infer::cpu {

// True when MatMul n can use the activations that the nearest earlier node with its scratch left
// there (Node::act_shared): that node is a MatMul at index `first` or later (the run's first
// node), on the same input, converting it to the same format.
bool act_in_scratch(const graph::Graph &g, const graph::Node &n, int32_t first);

// joins[i] = 1 when node i may start in a one-token run while other threads are still in the
// nodes since the last barrier before it; 0 when a barrier must come first. tensor_data is the
// bound graph's (where each tensor's bytes are). Valid for a run over any range of the nodes: a
// run's first node starts after the run's start, and part of a group is a group too.
void decode_joins(const graph::Graph &g, const std::vector<uint8_t *> &tensor_data,
                  std::vector<uint8_t> *joins);

} // namespace infer::cpu
