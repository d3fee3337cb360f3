// The hardware attestation report hcl-loader emulates for VTL2 (issue 12
// §4: the vTPM's attestation key bound to the platform report). On SEV-SNP
// VTL2 asks the firmware (MSG_REPORT_REQ) for an ATTESTATION_REPORT whose
// REPORT_DATA it chooses, signed by the chip's VCEK. Here the report has
// the same layout (attest::SnpReport, SEV-SNP ABI 56860) and:
//   MEASUREMENT        the image's SNP launch digest (what SEV-SNP would
//                      measure at launch), ID_KEY_DIGEST and
//                      AUTHOR_KEY_DIGEST from its ID block when it has one
//                      (igvm::ExpectedSnpLaunch), POLICY its guest policy;
//   REPORT_DATA        VTL2's 64 bytes;
//   CHIP_ID            HMAC-SHA512(host secret, "hcl emulated chip id v1");
//   TCB fields         zero (no firmware to version);
//   SIGNATURE          ECDSA P-384 by an emulated VCEK whose private scalar
//                      derives from the host secret (--platform-secret):
//                      HMAC-SHA384(secret, "hcl emulated vcek v1" || n),
//                      the first n = 0, 1, ... that is a valid scalar.
// `hcl-loader emulated-vcek` prints that key's public half; hcl-attest
// checks reports against it (ak verify --emulated-vcek) where AMD's chain
// would be checked on real hardware. The host holds the secret, so this
// proves the binding and the plumbing, not the platform.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>

#include "attest/snp_report.h"
#include "base/result.h"
#include "signing_key.h"
#include "snp_id_block.h"
#include "vsm/platform_key.h"

namespace loader::vsm {

class EmulatedSnpReporter {
 public:
  // The signer alone (emulated-vcek); reports then carry no launch facts.
  static base::Result<EmulatedSnpReporter> Create(const PlatformSecret& secret);
  static base::Result<EmulatedSnpReporter> Create(const PlatformSecret& secret,
                                                  const igvm::SnpLaunchIdentity& launch,
                                                  uint64_t guest_policy);

  base::Result<std::array<std::byte, attest::kSnpReportBytes>> Report(
      std::span<const uint8_t, 64> report_data) const;
  // The emulated VCEK's public key, PEM SubjectPublicKeyInfo.
  base::Result<std::string> PublicKeyPem() const { return vcek_.PublicKeyPem(); }

 private:
  EmulatedSnpReporter(igvm::EcdsaP384Key vcek, attest::SnpReport fields)
      : vcek_(std::move(vcek)), fields_(fields) {}
  igvm::EcdsaP384Key vcek_;
  attest::SnpReport fields_;  // everything but REPORT_DATA and the signature
};

}  // namespace loader::vsm
