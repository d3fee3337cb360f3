#include "attest/mbed_hash.h"

#include <mbedtls/sha1.h>
#include <mbedtls/sha256.h>
#include <mbedtls/sha512.h>

namespace attest {

std::vector<uint8_t> MbedHash(HashAlg alg, std::span<const std::byte> data) {
  const auto* in = reinterpret_cast<const unsigned char*>(data.data());
  std::vector<uint8_t> out(64, 0);
  switch (alg) {
    case HashAlg::kSha1: (void)mbedtls_sha1_ret(in, data.size(), out.data()); break;
    case HashAlg::kSha256: (void)mbedtls_sha256_ret(in, data.size(), out.data(), 0); break;
    case HashAlg::kSha384: (void)mbedtls_sha512_ret(in, data.size(), out.data(), 1); break;
    case HashAlg::kSha512: (void)mbedtls_sha512_ret(in, data.size(), out.data(), 0); break;
  }
  out.resize(DigestBytes(alg));
  return out;
}

}  // namespace attest
