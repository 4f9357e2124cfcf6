// Fibers for the CUDA emulator: a saved stack pointer and a switch between two of them. On x86-64
// the switch is a few instructions saving the callee-saved registers (no system call: a kernel
// in the emulator switches fibers at every barrier and shuffle); elsewhere it is ucontext.
#pragma once

#include <cstddef>

#if !defined(__x86_64__)
#include <ucontext.h>
#endif

namespace cuda_emu {

struct FiberContext {
#if defined(__x86_64__)
    void *sp = nullptr;
#else
    ucontext_t uc;
#endif
};

// Prepares `fiber` to start entry() on the given stack at its first switch_fiber; entry must
// never return (it switches away for the last time instead).
void make_fiber(FiberContext *fiber, void *stack, size_t bytes, void (*entry)());
// Saves the running context in `from` and resumes `to`.
void switch_fiber(FiberContext *from, FiberContext *to);

} // namespace cuda_emu
