// A TPM 2.0 quote as tpm2_quote writes it (TPM 2.0 Part 2 §10.12.12
// TPMS_ATTEST, §11.3.4 TPMT_SIGNATURE; Part 3 §18.4 TPM2_Quote): the
// attestation structure the AK signed and its signature, parsed without
// trusting a length. Verification (the signature, the PCR digest, the
// nonce) is hcl-attest's (igvm/attest/quote_verify.h): no crypto here.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "base/result.h"

namespace tpm {

inline constexpr uint32_t kGeneratedValue = 0xFF544347;  // TPM_GENERATED_VALUE, "\xffTCG"
inline constexpr uint16_t kStAttestQuote = 0x8018;       // TPM_ST_ATTEST_QUOTE
inline constexpr uint16_t kAlgRsassa = 0x0014, kAlgRsapss = 0x0016, kAlgEcdsa = 0x0018;

struct PcrSelection {
  uint16_t hash = 0;           // the bank (TPM_ALG_ID)
  std::vector<uint32_t> pcrs;  // ascending
};

struct Quote {
  std::vector<uint8_t> qualified_signer;  // TPM2B_NAME
  std::vector<uint8_t> extra_data;        // the verifier's nonce
  uint64_t clock = 0;
  uint32_t reset_count = 0;
  uint32_t restart_count = 0;
  bool safe = false;
  uint64_t firmware_version = 0;
  std::vector<PcrSelection> selections;   // in the order the digest covers
  std::vector<uint8_t> pcr_digest;
};

struct QuoteSignature {
  uint16_t sig_alg = 0;   // RSASSA, RSAPSS or ECDSA
  uint16_t hash_alg = 0;
  std::vector<uint8_t> rsa;   // RSASSA/RSAPSS
  std::vector<uint8_t> r, s;  // ECDSA
};

base::Result<Quote> ParseQuote(std::span<const std::byte> attest);
base::Result<QuoteSignature> ParseQuoteSignature(std::span<const std::byte> signature);

}  // namespace tpm
