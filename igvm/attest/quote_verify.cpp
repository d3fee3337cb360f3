#include "attest/quote_verify.h"

#include <mbedtls/ecdsa.h>
#include <mbedtls/pk.h>
#include <mbedtls/rsa.h>

#include "attest/mbed_hash.h"
#include "attest/mbed_util.h"

namespace attest {
namespace {

base::Result<void> ParseAk(std::span<const std::byte> bytes, PublicKey& key) {
  if (auto parsed = ParsePublicKey(bytes, key); !parsed) return std::move(parsed).error().Context("ak");
  return base::Ok();
}

std::optional<mbedtls_md_type_t> MdOf(uint16_t alg) {
  switch (alg) {
    case 0x0004: return MBEDTLS_MD_SHA1;
    case 0x000B: return MBEDTLS_MD_SHA256;
    case 0x000C: return MBEDTLS_MD_SHA384;
    case 0x000D: return MBEDTLS_MD_SHA512;
    default: return std::nullopt;
  }
}

base::Result<void> CheckSignature(mbedtls_pk_context* pk, const tpm::QuoteSignature& sig,
                                  const std::vector<uint8_t>& digest, mbedtls_md_type_t md) {
  const auto type = mbedtls_pk_get_type(pk);
  if (sig.sig_alg == tpm::kAlgEcdsa) {
    if (type != MBEDTLS_PK_ECKEY && type != MBEDTLS_PK_ECDSA)
      return base::Error("signature: ECDSA, but the AK is not an EC key");
    mbedtls_ecp_keypair* key = mbedtls_pk_ec(*pk);
    Mpi r, s;
    if (mbedtls_mpi_read_binary(r.get(), sig.r.data(), sig.r.size()) != 0 ||
        mbedtls_mpi_read_binary(s.get(), sig.s.data(), sig.s.size()) != 0)
      return base::Error("signature: R or S unreadable");
    if (mbedtls_ecdsa_verify(&key->grp, digest.data(), digest.size(), &key->Q, r.get(), s.get()) != 0)
      return base::Error("signature: does not verify with the AK");
    return base::Ok();
  }
  if (type != MBEDTLS_PK_RSA) return base::Error("signature: RSA, but the AK is not an RSA key");
  mbedtls_rsa_context* rsa = mbedtls_pk_rsa(*pk);
  if (sig.rsa.size() != mbedtls_rsa_get_len(rsa))
    return base::Error("signature: its length is not the AK's modulus length");
  int rc = 0;
  if (sig.sig_alg == tpm::kAlgRsassa) {
    rc = mbedtls_rsa_rsassa_pkcs1_v15_verify(rsa, nullptr, nullptr, MBEDTLS_RSA_PUBLIC, md,
                                             static_cast<unsigned int>(digest.size()),
                                             digest.data(), sig.rsa.data());
  } else {
    // TPM 2.0 Part 1 §B.7: PSS with MGF1 over the same hash; the TPM's salt
    // is as long as it can be, so any salt length is accepted.
    rc = mbedtls_rsa_rsassa_pss_verify_ext(rsa, nullptr, nullptr, MBEDTLS_RSA_PUBLIC, md,
                                           static_cast<unsigned int>(digest.size()),
                                           digest.data(), md, MBEDTLS_RSA_SALT_LEN_ANY,
                                           sig.rsa.data());
  }
  if (rc != 0) return base::Error("signature: does not verify with the AK");
  return base::Ok();
}

}  // namespace

base::Result<QuoteVerified> VerifyQuote(std::span<const std::byte> message,
                                        std::span<const std::byte> signature,
                                        std::span<const std::byte> ak_public,
                                        const std::optional<ExpectedPcrs>& pcrs,
                                        const std::optional<std::vector<uint8_t>>& nonce) {
  PublicKey ak;
  TRY(ParseAk(ak_public, ak));
  QuoteVerified out;
  out.quote = TRY(tpm::ParseQuote(message));
  out.signature = TRY(tpm::ParseQuoteSignature(signature));
  const auto md = MdOf(out.signature.hash_alg);
  if (!md)
    return base::Error::Format("signature: hash %#x is not SHA-1/256/384/512",
                               out.signature.hash_alg);
  const auto hash_alg = static_cast<HashAlg>(out.signature.hash_alg);
  TRY(CheckSignature(ak.get(), out.signature, MbedHash(hash_alg, message), *md));
  if (nonce && out.quote.extra_data != *nonce)
    return base::Error("nonce: the quote's extraData is not the verifier's nonce");
  if (pcrs) {
    std::vector<std::byte> joined;
    for (const tpm::PcrSelection& selection : out.quote.selections) {
      const auto bank = pcrs->find(selection.hash);
      for (uint32_t pcr : selection.pcrs) {
        if (bank == pcrs->end() || !bank->second.contains(pcr))
          return base::Error::Format("pcrs: PCR %u of bank %#x is quoted but not expected", pcr,
                                     selection.hash);
        for (uint8_t b : bank->second.at(pcr)) joined.push_back(std::byte{b});
      }
    }
    if (MbedHash(hash_alg, joined) != out.quote.pcr_digest)
      return base::Error("pcrs: the quoted PCR digest is not that of the expected values");
  }
  return out;
}

}  // namespace attest
