// The one doctest runner for every *_test.cpp beside the code it tests.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>
