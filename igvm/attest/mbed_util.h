// Small mbedTLS helpers the verifiers share: an owning MPI and mbedTLS's
// error text.
#pragma once

#include <mbedtls/bignum.h>
#include <mbedtls/error.h>
#include <mbedtls/pk.h>

#include <cstddef>
#include <span>
#include <string>
#include <vector>

#include "base/result.h"

namespace attest {

class Mpi {
 public:
  Mpi() { mbedtls_mpi_init(&mpi_); }
  ~Mpi() { mbedtls_mpi_free(&mpi_); }
  Mpi(const Mpi&) = delete;
  Mpi& operator=(const Mpi&) = delete;
  mbedtls_mpi* get() { return &mpi_; }

 private:
  mbedtls_mpi mpi_;
};

inline std::string MbedError(int code) {
  char text[160];
  mbedtls_strerror(code, text, sizeof text);
  return text;
}

class PublicKey {
 public:
  PublicKey() { mbedtls_pk_init(&pk_); }
  ~PublicKey() { mbedtls_pk_free(&pk_); }
  PublicKey(const PublicKey&) = delete;
  PublicKey& operator=(const PublicKey&) = delete;
  mbedtls_pk_context* get() { return &pk_; }

 private:
  mbedtls_pk_context pk_;
};

// A public key, PEM or DER (SubjectPublicKeyInfo), into `key`.
inline base::Result<void> ParsePublicKey(std::span<const std::byte> bytes, PublicKey& key) {
  // mbedTLS reads PEM only from a NUL-terminated buffer.
  std::vector<unsigned char> buffer(bytes.size() + 1, 0);
  for (size_t i = 0; i < bytes.size(); ++i) buffer[i] = static_cast<unsigned char>(bytes[i]);
  const bool pem = bytes.size() > 10 && static_cast<char>(bytes[0]) == '-';
  const int rc = mbedtls_pk_parse_public_key(key.get(), buffer.data(),
                                             pem ? buffer.size() : bytes.size());
  if (rc != 0) return base::Error("not a PEM or DER public key: " + MbedError(rc));
  return base::Ok();
}

}  // namespace attest
