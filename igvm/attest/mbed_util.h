// Small mbedTLS helpers the verifiers share: an owning MPI and mbedTLS's
// error text.
#pragma once

#include <mbedtls/bignum.h>
#include <mbedtls/error.h>

#include <string>

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

}  // namespace attest
