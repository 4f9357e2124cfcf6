#include "cuda_emu_fiber.h"

#include <cstdint>
#include <cstring>

#if defined(__x86_64__)
// cuda_emu_switch(void **save_sp, void *next_sp): pushes the System V callee-saved registers and
// the SSE/x87 control words, stores the stack pointer, loads the other one and pops its state.
asm(R"(
    .text
    .p2align 4
    .hidden cuda_emu_switch
    .type cuda_emu_switch, @function
cuda_emu_switch:
    pushq %rbp
    pushq %rbx
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    subq $8, %rsp
    stmxcsr (%rsp)
    fnstcw 4(%rsp)
    movq %rsp, (%rdi)
    movq %rsi, %rsp
    ldmxcsr (%rsp)
    fldcw 4(%rsp)
    addq $8, %rsp
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %rbx
    popq %rbp
    ret
    .size cuda_emu_switch, .-cuda_emu_switch
)");
extern "C" void cuda_emu_switch(void **save_sp, void *next_sp);
#endif

namespace cuda_emu {

#if defined(__x86_64__)

void make_fiber(FiberContext *fiber, void *stack, size_t bytes, void (*entry)()) {
    // The first switch pops the frame built here and "returns" into entry with the stack as a
    // call would leave it (16-byte aligned before the return address was pushed).
    auto top = (reinterpret_cast<uintptr_t>(stack) + bytes) & ~uintptr_t{15};
    // 11 words: the saved state (8), then zeros as the caller's frame; frame[7], the return
    // address, lands on a 16-byte boundary, so entry starts with rsp = 8 (mod 16).
    auto *frame = reinterpret_cast<uint64_t *>(top) - 11;
    std::memset(frame, 0, 11 * sizeof(uint64_t));
    const uint32_t mxcsr = 0x1f80; // all exceptions masked, round to nearest
    const uint16_t fpucw = 0x037f; // x87 default
    std::memcpy(&frame[0], &mxcsr, 4);
    std::memcpy(reinterpret_cast<uint8_t *>(&frame[0]) + 4, &fpucw, 2);
    // frame[1..6]: r15 r14 r13 r12 rbx rbp
    frame[7] = reinterpret_cast<uint64_t>(entry);
    fiber->sp = frame;
}

void switch_fiber(FiberContext *from, FiberContext *to) { cuda_emu_switch(&from->sp, to->sp); }

#else

void make_fiber(FiberContext *fiber, void *stack, size_t bytes, void (*entry)()) {
    getcontext(&fiber->uc);
    fiber->uc.uc_stack.ss_sp = stack;
    fiber->uc.uc_stack.ss_size = bytes;
    fiber->uc.uc_link = nullptr;
    makecontext(&fiber->uc, entry, 0);
}

void switch_fiber(FiberContext *from, FiberContext *to) { swapcontext(&from->uc, &to->uc); }

#endif

} // namespace cuda_emu
