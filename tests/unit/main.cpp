#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#if defined(INFER_HAVE_VULKAN) && defined(__linux__)
#include <dlfcn.h>

namespace {
// The Vulkan loader unloads its driver at vkDestroyInstance; lavapipe's never-freed startup
// allocations then show in LeakSanitizer's report with unnamed frames, which no suppression can
// match. A reference held to exit keeps the driver's frames named, so tests/lsan.supp can
// suppress them by library. Where lavapipe is absent this does nothing.
[[maybe_unused]] const void *const g_pinned_lavapipe =
    dlopen("libvulkan_lvp.so", RTLD_LAZY | RTLD_NODELETE);
} // namespace
#endif
