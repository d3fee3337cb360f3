// VerifySnpReport: whether an SEV-SNP attestation report is what AMD's
// firmware signed (tpm-attestation.md §6): the ARK is one of AMD's roots
// (pinned below by the SHA-256 of its public key), ARK -> ASK -> VCEK are
// each signed by the one before (RSASSA-PSS, SHA-384), the report's
// ECDSA P-384 signature verifies with the VCEK's key, the VCEK's TCB
// extensions equal REPORTED_TCB (and none is above CURRENT_TCB), its hwID
// equals CHIP_ID, and the guest policy forbids debugging. The checks run
// in that order and the first that fails is the error, its message
// starting with the check's name ("ark: ...", "report signature: ...").
//
// Every input is untrusted: the report goes through attest::ParseSnpReport,
// the certificates through mbedTLS's X.509 parser, the AMD extensions
// through our own callback (bounds-checked DER).
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "attest/snp_report.h"
#include "base/result.h"

namespace attest {

// What the VCEK certificate says about the part that signed (its AMD
// extensions, OID 1.3.6.1.4.1.3704.1).
struct VcekClaims {
  SnpProduct product = SnpProduct::kMilan;
  std::string product_name;  // as written, e.g. "Milan-B0"
  SnpTcb tcb;
  // hwID: 64 bytes (Milan, Genoa), 8 (Turin: CHIP_ID's first 8 bytes).
  std::vector<uint8_t> hwid;
  bool has_hwid() const { return !hwid.empty(); }
};

struct SnpVerified {
  SnpReport report;
  VcekClaims vcek;
};

// `report`: raw or hex (DecodeReportFile); `vcek`: DER or PEM; `chain`:
// PEM holding the ASK then the ARK (AMD KDS /cert_chain).
base::Result<SnpVerified> VerifySnpReport(std::span<const std::byte> report,
                                          std::span<const std::byte> vcek,
                                          std::span<const std::byte> chain);

// A report hcl-loader emulated (loader/vsm/platform_report.h): the same
// parse, signature ("report signature: ...") and policy checks, against
// the emulated VCEK's public key (`hcl-loader emulated-vcek`, PEM) instead
// of AMD's chain. Proves the report came from that loader's secret, not
// from AMD hardware.
base::Result<SnpReport> VerifyEmulatedSnpReport(std::span<const std::byte> report,
                                                std::span<const std::byte> key_pem);

// The AMD extensions of a DER certificate, without any signature check
// (for tests and the fuzz target).
base::Result<VcekClaims> ParseVcekClaims(std::span<const std::byte> der);

}  // namespace attest
