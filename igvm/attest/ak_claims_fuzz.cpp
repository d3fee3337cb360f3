// Fuzz target: the runtime-claims document of an HCL report (VTL0 relays
// it; attest/ak_binding.h) down to the AK's public key.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "base/fuzz_target.h"

#include "attest/ak_binding.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  (void)attest::AkFromClaims(std::string_view(reinterpret_cast<const char*>(data), size));
  return 0;
}
