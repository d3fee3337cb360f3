#include "attest/ak_binding.h"

#include <mbedtls/base64.h>
#include <mbedtls/ecp.h>
#include <mbedtls/rsa.h>
#include <mbedtls/sha256.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <vector>

#include "attest/hcl_report.h"
#include "attest/mbed_util.h"

namespace attest {
namespace {

// RFC 7515 §2 base64url, unpadded, to bytes; nullopt if it is not that.
std::optional<std::vector<unsigned char>> FromBase64Url(const std::string& text) {
  std::string standard = text;
  for (char& c : standard) {
    if (c == '+' || c == '/' || c == '=') return std::nullopt;  // not the URL alphabet
    c = c == '-' ? '+' : c == '_' ? '/' : c;
  }
  if (standard.size() % 4 == 1) return std::nullopt;
  while (standard.size() % 4 != 0) standard.push_back('=');
  std::vector<unsigned char> out(standard.size() / 4 * 3);
  size_t written = 0;
  if (mbedtls_base64_decode(out.data(), out.size(), &written,
                            reinterpret_cast<const unsigned char*>(standard.data()),
                            standard.size()) != 0)
    return std::nullopt;
  out.resize(written);
  return out;
}

std::optional<std::vector<unsigned char>> Member(const nlohmann::json& jwk, const char* name) {
  const auto it = jwk.find(name);
  if (it == jwk.end() || !it->is_string()) return std::nullopt;
  return FromBase64Url(it->get<std::string>());
}

base::Result<std::string> Pem(PublicKey& key) {
  std::array<unsigned char, 2048> pem{};
  if (const int rc = mbedtls_pk_write_pubkey_pem(key.get(), pem.data(), pem.size()); rc != 0)
    return base::Error("claims: cannot encode the AK: " + MbedError(rc));
  return std::string(reinterpret_cast<const char*>(pem.data()));
}

base::Result<std::string> EcKey(const nlohmann::json& jwk) {
  const auto crv = jwk.find("crv");
  if (crv == jwk.end() || !crv->is_string() || crv->get<std::string>() != "P-256")
    return base::Error("claims: HCLAkPub: only EC curve P-256 is known");
  const auto x = Member(jwk, "x"), y = Member(jwk, "y");
  if (!x || !y || x->size() != 32 || y->size() != 32)
    return base::Error("claims: HCLAkPub: x and y must be 32 bytes of base64url");
  PublicKey key;
  if (mbedtls_pk_setup(key.get(), mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY)) != 0)
    return base::Error("claims: mbedTLS setup failed");
  mbedtls_ecp_keypair* ec = mbedtls_pk_ec(*key.get());
  std::vector<unsigned char> point{0x04};  // SEC 1 §2.3.3 uncompressed
  point.insert(point.end(), x->begin(), x->end());
  point.insert(point.end(), y->begin(), y->end());
  if (mbedtls_ecp_group_load(&ec->grp, MBEDTLS_ECP_DP_SECP256R1) != 0 ||
      mbedtls_ecp_point_read_binary(&ec->grp, &ec->Q, point.data(), point.size()) != 0 ||
      mbedtls_ecp_check_pubkey(&ec->grp, &ec->Q) != 0)
    return base::Error("claims: HCLAkPub: (x, y) is not a point on P-256");
  return Pem(key);
}

base::Result<std::string> RsaKey(const nlohmann::json& jwk) {
  const auto n = Member(jwk, "n"), e = Member(jwk, "e");
  if (!n || !e || n->size() < 256 || e->empty() || e->size() > 8)
    return base::Error("claims: HCLAkPub: n (2048 bits or more) and e must be base64url");
  PublicKey key;
  if (mbedtls_pk_setup(key.get(), mbedtls_pk_info_from_type(MBEDTLS_PK_RSA)) != 0)
    return base::Error("claims: mbedTLS setup failed");
  mbedtls_rsa_context* rsa = mbedtls_pk_rsa(*key.get());
  if (mbedtls_rsa_import_raw(rsa, n->data(), n->size(), nullptr, 0, nullptr, 0, nullptr, 0,
                             e->data(), e->size()) != 0 ||
      mbedtls_rsa_complete(rsa) != 0 || mbedtls_rsa_check_pubkey(rsa) != 0)
    return base::Error("claims: HCLAkPub: not a valid RSA public key");
  return Pem(key);
}

}  // namespace

base::Result<std::string> AkFromClaims(std::string_view claims) {
  const auto doc = nlohmann::json::parse(claims.begin(), claims.end(), nullptr, false);
  if (doc.is_discarded() || !doc.is_object()) return base::Error("claims: not a JSON object");
  const auto keys = doc.find("keys");
  if (keys == doc.end() || !keys->is_array()) return base::Error("claims: no \"keys\" list");
  const nlohmann::json* ak = nullptr;
  for (const auto& jwk : *keys) {
    if (!jwk.is_object()) return base::Error("claims: a key is not a JSON object");
    const auto kid = jwk.find("kid");
    if (kid == jwk.end() || !kid->is_string() || kid->get<std::string>() != "HCLAkPub") continue;
    if (ak != nullptr) return base::Error("claims: two HCLAkPub keys");
    ak = &jwk;
  }
  if (ak == nullptr) return base::Error("claims: no HCLAkPub key");
  const auto kty = ak->find("kty");
  if (kty == ak->end() || !kty->is_string()) return base::Error("claims: HCLAkPub has no kty");
  if (kty->get<std::string>() == "EC") return EcKey(*ak);
  if (kty->get<std::string>() == "RSA") return RsaKey(*ak);
  return base::Error("claims: HCLAkPub: kty is neither EC nor RSA");
}

base::Result<AkBinding> VerifyAkBinding(std::span<const std::byte> hcl_report,
                                        const ReportTrust& trust) {
  auto parsed = ParseHclReport(hcl_report);
  if (!parsed) return std::move(parsed).error().Context("hcl report");
  AkBinding out;
  out.claims = parsed->claims;
  if (!trust.emulated_vcek.empty()) {
    out.report = TRY(VerifyEmulatedSnpReport(parsed->hardware_report, trust.emulated_vcek));
  } else {
    SnpVerified verified = TRY(VerifySnpReport(parsed->hardware_report, trust.vcek, trust.chain));
    out.report = verified.report;
    out.vcek = verified.vcek;
  }
  std::array<uint8_t, 32> digest{};
  if (mbedtls_sha256_ret(reinterpret_cast<const unsigned char*>(out.claims.data()),
                         out.claims.size(), digest.data(), 0) != 0)
    return base::Error("binding: SHA-256 failed");
  if (ClaimsReportData(digest) != out.report.report_data)
    return base::Error("binding: REPORT_DATA is not SHA-256(claims) || 0^32");
  out.ak_pem = TRY(AkFromClaims(out.claims));
  return out;
}

}  // namespace attest
