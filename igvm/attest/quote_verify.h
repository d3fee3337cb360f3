// VerifyQuote: whether a TPM 2.0 quote (tpm2_quote's message and
// signature; tpm/quote.h) shows the PCR values a verifier expects, signed
// by the attestation key it trusts. The checks, in order, the first that
// fails being the error (its message starts with the check's name):
//   "ak"        the AK is a PEM or DER public key (RSA or EC) mbedTLS reads;
//   "quote"     the message parses as a TPM-generated quote;
//   "signature" it verifies with the AK (RSASSA-PKCS1-v1_5, RSASSA-PSS or
//               ECDSA, over the hash the signature names: Part 3 §18.4);
//   "nonce"     extraData equals the verifier's nonce (when given);
//   "pcrs"      every selected PCR has an expected value, and the hash of
//               their concatenation (selection order, PCRs ascending; the
//               signing scheme's hash) equals the quote's pcrDigest.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <vector>

#include "base/result.h"
#include "tpm/quote.h"

namespace attest {

// Expected PCR values: bank (TPM_ALG_ID) -> PCR index -> value.
using ExpectedPcrs = std::map<uint16_t, std::map<uint32_t, std::vector<uint8_t>>>;

struct QuoteVerified {
  tpm::Quote quote;
  tpm::QuoteSignature signature;
};

base::Result<QuoteVerified> VerifyQuote(std::span<const std::byte> message,
                                        std::span<const std::byte> signature,
                                        std::span<const std::byte> ak_public,
                                        const std::optional<ExpectedPcrs>& pcrs,
                                        const std::optional<std::vector<uint8_t>>& nonce);

}  // namespace attest
