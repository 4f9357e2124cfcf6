// The entry point of the unit and model test programs; doctest's implementation is
// tests/doctest_impl.cpp.
#include <doctest/doctest.h>

#include "pin_vulkan_driver.h"

int main(int argc, char **argv) { return doctest::Context(argc, argv).run(); }
