// HclReport: the attestation evidence hcl hands VTL0 through the vTPM's NV
// index 0x01400001 (tpm-attestation.md §5.4, OpenHCL's user-facing
// report): the hardware report whose REPORT_DATA binds a runtime-claims
// document, and that document, which holds the vTPM's attestation key.
// The layout is OpenHCL's IgvmAttestRequestBase (little-endian):
//   header (32 bytes)   signature "HCLA" (0x414C4348), version 2,
//                       report_size (the whole blob), request_type 2 (AK
//                       certificate), status 0, 12 reserved bytes
//   hardware report     0x4A0 bytes (an SEV-SNP ATTESTATION_REPORT)
//   request data (20)   data_size (20 + claims), version 1, report_type 2
//                       (SNP), hash_type 1 (SHA-256), variable_data_size
//   claims              the JSON document, exactly the bytes hashed
// REPORT_DATA = SHA-256(claims) || 32 zero bytes (ClaimsReportData).
// Sans I/O and without cryptography: callers hash; the parser takes apart
// untrusted bytes (VTL0 relays them to a verifier) with bounds checks.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "attest/snp_report.h"
#include "base/result.h"

namespace attest {

inline constexpr uint32_t kHclReportSignature = 0x414C4348;  // "HCLA"
inline constexpr uint32_t kHclReportVersion = 2;
inline constexpr uint32_t kHclRequestTypeAkCert = 2;
inline constexpr uint32_t kHclRequestDataVersion = 1;
inline constexpr uint32_t kHclReportTypeSnp = 2;
inline constexpr uint32_t kHclHashTypeSha256 = 1;
inline constexpr size_t kHclReportHeaderBytes = 32;
inline constexpr size_t kHclRequestDataBytes = 20;
inline constexpr size_t kHclClaimsOffset =
    kHclReportHeaderBytes + kSnpReportBytes + kHclRequestDataBytes;
// The NV index's limit (libtpms MAX_NV_INDEX_SIZE, 2048) leaves this much
// for the claims.
inline constexpr size_t kHclMaxClaimsBytes = 2048 - kHclClaimsOffset;

struct HclReport {
  std::vector<std::byte> hardware_report;  // kSnpReportBytes
  std::string claims;
};

// The blob for `hardware_report` (kSnpReportBytes) and `claims`; empty if
// the claims are longer than kHclMaxClaimsBytes.
std::vector<std::byte> BuildHclReport(std::span<const std::byte> hardware_report,
                                      std::string_view claims);

// Takes apart a blob as read from the NV index: every header field must be
// as BuildHclReport writes it; bytes past report_size may only be zero
// (an index larger than the blob).
base::Result<HclReport> ParseHclReport(std::span<const std::byte> blob);

// REPORT_DATA for claims whose SHA-256 is `claims_sha256`.
std::array<uint8_t, 64> ClaimsReportData(std::span<const uint8_t, 32> claims_sha256);

}  // namespace attest
