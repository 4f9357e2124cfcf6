// Included once by each test program's entry point (unit/main.cpp, conformance/main.cpp,
// gpu/main.cpp). The Vulkan loader unloads its driver at vkDestroyInstance; lavapipe's
// never-freed allocations (its one-time startup, its shader compiler's) then show in
// LeakSanitizer's report with unnamed frames, which no suppression can match. A reference held
// to exit keeps the driver's frames named, so tests/lsan.supp can suppress them by library.
// Where lavapipe is absent this does nothing.
#pragma once

#if defined(__linux__)
#include <dlfcn.h>

namespace {
[[maybe_unused]] const void *const g_pinned_lavapipe =
    dlopen("libvulkan_lvp.so", RTLD_LAZY | RTLD_NODELETE);
} // namespace
#endif
