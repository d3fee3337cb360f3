// mbedTLS built for musl (ci/toolchain) links into a static program and
// computes FIPS 180-2's SHA-384 and SHA-256 test vectors, and an ECDSA
// P-384 sign/verify round trip.
#include <mbedtls/ctr_drbg.h>
#include <mbedtls/ecdsa.h>
#include <mbedtls/entropy.h>
#include <mbedtls/sha256.h>
#include <mbedtls/sha512.h>

#include <cstdio>
#include <cstring>
#include <string>

namespace {

std::string Hex(const unsigned char* bytes, size_t length) {
  std::string text;
  char digits[3];
  for (size_t i = 0; i < length; ++i) {
    std::snprintf(digits, sizeof digits, "%02x", bytes[i]);
    text += digits;
  }
  return text;
}

int failures = 0;

void Check(bool ok, const char* what) {
  std::printf("%s: %s\n", ok ? "ok" : "FAILED", what);
  if (!ok) ++failures;
}

}  // namespace

int main() {
  const auto* abc = reinterpret_cast<const unsigned char*>("abc");
  unsigned char sha384[64];
  Check(mbedtls_sha512_ret(abc, 3, sha384, /*is384=*/1) == 0 &&
            Hex(sha384, 48) ==
                "cb00753f45a35e8bb5a03d699ac65007272c32ab0eded1631a8b605a43ff5bed"
                "8086072ba1e7cc2358baeca134c825a7",
        "SHA-384(\"abc\")");
  unsigned char sha256[32];
  Check(mbedtls_sha256_ret(abc, 3, sha256, /*is224=*/0) == 0 &&
            Hex(sha256, 32) ==
                "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
        "SHA-256(\"abc\")");

  mbedtls_entropy_context entropy;
  mbedtls_ctr_drbg_context drbg;
  mbedtls_ecdsa_context key;
  mbedtls_entropy_init(&entropy);
  mbedtls_ctr_drbg_init(&drbg);
  mbedtls_ecdsa_init(&key);
  unsigned char signature[MBEDTLS_ECDSA_MAX_LEN];
  size_t signature_length = 0;
  const bool signed_ok =
      mbedtls_ctr_drbg_seed(&drbg, mbedtls_entropy_func, &entropy, nullptr, 0) == 0 &&
      mbedtls_ecdsa_genkey(&key, MBEDTLS_ECP_DP_SECP384R1, mbedtls_ctr_drbg_random, &drbg) == 0 &&
      mbedtls_ecdsa_write_signature(&key, MBEDTLS_MD_SHA384, sha384, 48, signature,
                                    &signature_length, mbedtls_ctr_drbg_random, &drbg) == 0;
  Check(signed_ok, "ECDSA P-384 key generation and signing");
  Check(signed_ok && mbedtls_ecdsa_read_signature(&key, sha384, 48, signature, signature_length) == 0,
        "ECDSA P-384 verification");
  sha384[0] ^= 1;
  Check(signed_ok && mbedtls_ecdsa_read_signature(&key, sha384, 48, signature, signature_length) != 0,
        "ECDSA P-384 rejects a changed digest");
  mbedtls_ecdsa_free(&key);
  mbedtls_ctr_drbg_free(&drbg);
  mbedtls_entropy_free(&entropy);
  return failures == 0 ? 0 : 1;
}
