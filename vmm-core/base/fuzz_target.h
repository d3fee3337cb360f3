// The libFuzzer entry point every fuzz target defines (and replay_main.cpp
// calls when libFuzzer is not linked).
#pragma once

#include <cstddef>
#include <cstdint>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);
