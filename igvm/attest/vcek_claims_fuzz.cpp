// Fuzz target: a certificate as the VCEK parser sees it (mbedTLS's DER
// parser with our callback for AMD's extensions: productName, SPLs, hwID).
#include <cstddef>
#include <cstdint>
#include <span>

#include "base/fuzz_target.h"

#include "attest/snp_verify.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  (void)attest::ParseVcekClaims(std::as_bytes(std::span(data, size)));
  return 0;
}
