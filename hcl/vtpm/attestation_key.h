// The vTPM's attestation key, bound to the platform's hardware report
// (issue 12 §4; OpenHCL's scheme, tpm-attestation.md §5.4). Before VTL0
// runs, hcl:
//   1. creates the AK: a primary in the endorsement hierarchy, ECC P-256,
//      restricted signing, ECDSA/SHA-256 (tpm::CreateAttestationKeyCommand;
//      a primary derives from the endorsement seed, so it is the same key
//      for as long as the TPM's state is kept);
//   2. makes it persistent at 0x81000003 (OpenHCL's handle) so VTL0's
//      tools can quote with it, replacing whatever else VTL0 put there;
//   3. writes the runtime claims, a JSON document holding the AK's public
//      key as a JWK (kid "HCLAkPub"), and asks the platform for a hardware
//      report whose REPORT_DATA is SHA-256(claims) || 32 zeros;
//   4. puts the HCL report (attest/hcl_report.h: that report and the
//      claims) in NV index 0x01400001, defined by the platform hierarchy
//      (PPWRITE: only the platform writes it; OWNERREAD and AUTHREAD: VTL0
//      reads it with tpm2_nvread).
// A verifier then checks the report (AMD's chain, or hcl-loader's
// emulated VCEK), the claims' hash in REPORT_DATA, and quotes with the AK
// the claims name (hcl-attest ak verify, quote verify).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <string>

#include "attest/measured_boot.h"
#include "attest/snp_report.h"
#include "base/result.h"
#include "tpm/commands.h"
#include "vtpm/vtpm.h"

namespace hcl::vtpm {

inline constexpr uint32_t kAkPersistentHandle = 0x81000003;
inline constexpr uint32_t kHclReportNvIndex = 0x01400001;

// Asks the platform for a hardware report with these 64 bytes as REPORT_DATA.
using PlatformReportSource = std::function<base::Result<std::array<std::byte, attest::kSnpReportBytes>>(
    std::span<const uint8_t, 64> report_data)>;

// The claims document for an ECC P-256 AK (its JWK) and what the VM is.
std::string RuntimeClaims(const ::tpm::EccPublic& ak, bool tpm_persisted);

struct AttestationKeyProvisioned {
  std::string claims;
  size_t report_bytes = 0;
  // Empty when the AK is at kAkPersistentHandle; else why not (VTL0 may
  // have set an owner password in an earlier boot: EvictControl needs it).
  std::string not_persisted;
};
base::Result<AttestationKeyProvisioned> ProvisionAttestationKey(Vtpm& tpm,
                                                                const PlatformReportSource& report,
                                                                const attest::HashFn& hash,
                                                                bool tpm_persisted);

}  // namespace hcl::vtpm
