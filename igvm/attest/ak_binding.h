// VerifyAkBinding: whether the vTPM's attestation key is the one the
// platform vouches for (issue 12 §4; tpm-attestation.md §5.4, verifier
// step 1). The evidence is the HCL report VTL0 reads from NV index
// 0x01400001 (attest/hcl_report.h). The checks, in order, the first that
// fails being the error (its message starts with the check's name):
//   "hcl report"  the blob parses;
//   "report", "report signature", "ark", ... the hardware report verifies:
//                 against AMD's chain (VerifySnpReport), or against
//                 hcl-loader's emulated VCEK (VerifyEmulatedSnpReport);
//   "binding"     REPORT_DATA = SHA-256(claims) || 32 zero bytes;
//   "claims"      the claims are JSON whose "keys" hold exactly one
//                 "HCLAkPub" JWK: EC P-256 (x, y) or RSA (n, e), base64url.
// The result carries the AK as a PEM public key, for quote verify.
#pragma once

#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "attest/snp_report.h"
#include "attest/snp_verify.h"
#include "base/result.h"

namespace attest {

// How the hardware report is trusted: AMD's chain, or an emulated VCEK.
struct ReportTrust {
  std::span<const std::byte> vcek{};           // with chain: AMD's
  std::span<const std::byte> chain{};
  std::span<const std::byte> emulated_vcek{};  // or this PEM public key
};

struct AkBinding {
  SnpReport report;
  std::optional<VcekClaims> vcek;  // with AMD's chain
  std::string claims;
  std::string ak_pem;  // SubjectPublicKeyInfo
};

base::Result<AkBinding> VerifyAkBinding(std::span<const std::byte> hcl_report,
                                        const ReportTrust& trust);

// The HCLAkPub key of a claims document, as PEM (the "claims" check alone).
base::Result<std::string> AkFromClaims(std::string_view claims);

}  // namespace attest
