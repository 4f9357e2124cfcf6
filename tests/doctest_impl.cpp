// doctest's implementation, compiled once for every test program. Each entry point used to
// compile it itself: five copies per build, 16-19 s each under ASan.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>
