// The measured-boot hash (attest::HashFn) over mbedTLS: SHA-1, SHA-256,
// SHA-384, SHA-512.
#pragma once

#include "attest/measured_boot.h"

namespace attest {

std::vector<uint8_t> MbedHash(HashAlg alg, std::span<const std::byte> data);

}  // namespace attest
