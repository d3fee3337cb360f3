// EcdsaP384Key: an ECDSA P-384 key (mbedTLS) for SNP ID blocks.
//
// Signatures are deterministic (RFC 6979), so signing the same image with
// the same key gives the same file. Key material never leaves this class
// except as PEM written by WritePem.
#pragma once

#include <memory>
#include <span>
#include <string>

#include "base/result.h"
#include "wire.h"

namespace igvm {

class EcdsaP384Key {
 public:
  static base::Result<EcdsaP384Key> Generate();
  static base::Result<EcdsaP384Key> LoadPem(const std::string& path);
  // From the 48-byte private scalar d, big-endian (test vectors, key import).
  static base::Result<EcdsaP384Key> FromPrivateScalar(std::span<const uint8_t> d);

  EcdsaP384Key(EcdsaP384Key&&) noexcept;
  EcdsaP384Key& operator=(EcdsaP384Key&&) noexcept;
  ~EcdsaP384Key();

  base::Result<void> WritePem(const std::string& path) const;
  // The public key alone, PEM SubjectPublicKeyInfo (LoadPublicKeyPem reads it).
  base::Result<std::string> PublicKeyPem() const;
  // SHA-384 then ECDSA; r and s little-endian, zero-extended (SNP ABI).
  base::Result<wire::SnpSignature> Sign(std::span<const std::byte> message) const;
  wire::SnpPublicKey PublicKey() const;

 private:
  struct State;
  explicit EcdsaP384Key(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

// The public key in a PEM file that holds either an ECDSA P-384 private
// key (as keygen writes it) or just its public key (SubjectPublicKeyInfo).
base::Result<wire::SnpPublicKey> LoadPublicKeyPem(const std::string& path);

// Checks an ECDSA P-384/SHA-384 signature in SNP layout.
base::Result<void> VerifyP384(const wire::SnpPublicKey& key, std::span<const std::byte> message,
                              const wire::SnpSignature& signature);

}  // namespace igvm
