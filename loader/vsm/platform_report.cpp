#include "vsm/platform_report.h"

#include <mbedtls/md.h>
#include <sys/random.h>

#include <cerrno>
#include <string_view>
#include <vector>

namespace loader::vsm {
namespace {

std::vector<uint8_t> Hmac(mbedtls_md_type_t type, std::span<const uint8_t> key,
                          std::string_view label, std::span<const uint8_t> suffix = {}) {
  const mbedtls_md_info_t* md = mbedtls_md_info_from_type(type);
  std::vector<uint8_t> input(label.begin(), label.end());
  input.insert(input.end(), suffix.begin(), suffix.end());
  std::vector<uint8_t> out(mbedtls_md_get_size(md));
  (void)mbedtls_md_hmac(md, key.data(), key.size(), input.data(), input.size(), out.data());
  return out;
}

base::Result<igvm::EcdsaP384Key> DeriveVcek(const PlatformSecret& secret) {
  // A scalar outside [1, n-1] is vanishingly rare (n is within 2^-190 of
  // 2^384); the counter makes the derivation total anyway.
  for (uint8_t counter = 0; counter < 16; ++counter) {
    const std::array<uint8_t, 1> n{counter};
    const auto d = Hmac(MBEDTLS_MD_SHA384, secret, "hcl emulated vcek v1", n);
    if (auto key = igvm::EcdsaP384Key::FromPrivateScalar(d)) return key;
  }
  return base::Error("emulated vcek: no valid scalar derived");
}

}  // namespace

base::Result<EmulatedSnpReporter> EmulatedSnpReporter::Create(const PlatformSecret& secret) {
  attest::SnpReport fields;
  fields.version = 2;
  fields.signature_algo = attest::kSnpSigAlgoEcdsaP384Sha384;
  fields.policy = 1ull << 17;  // SEV-SNP ABI: bit 17 is reserved, must be one
  const auto chip = Hmac(MBEDTLS_MD_SHA512, secret, "hcl emulated chip id v1");
  std::copy(chip.begin(), chip.end(), fields.chip_id.begin());
  // REPORT_ID: the firmware's random ID for this guest launch.
  if (::getrandom(fields.report_id.data(), fields.report_id.size(), 0) !=
      static_cast<ssize_t>(fields.report_id.size()))
    return base::Error::FromErrno("emulated report: getrandom", errno);
  return EmulatedSnpReporter(TRY(DeriveVcek(secret)), fields);
}

base::Result<EmulatedSnpReporter> EmulatedSnpReporter::Create(
    const PlatformSecret& secret, const igvm::SnpLaunchIdentity& launch, uint64_t guest_policy) {
  EmulatedSnpReporter reporter = TRY(Create(secret));
  attest::SnpReport& fields = reporter.fields_;
  fields.policy = guest_policy;
  fields.measurement = launch.launch_digest;
  if (launch.id_block) {
    fields.id_key_digest = launch.id_block->id_key_digest;
    if (launch.id_block->author_key_digest) {
      fields.author_key_digest = *launch.id_block->author_key_digest;
      fields.signer_info |= 1;  // AUTHOR_KEY_EN
    }
  }
  return reporter;
}

base::Result<std::array<std::byte, attest::kSnpReportBytes>> EmulatedSnpReporter::Report(
    std::span<const uint8_t, 64> report_data) const {
  attest::SnpReport report = fields_;
  std::copy(report_data.begin(), report_data.end(), report.report_data.begin());
  auto bytes = attest::EncodeSnpReport(report);
  const igvm::wire::SnpSignature signature =
      TRY(vcek_.Sign(std::span<const std::byte>(bytes).first(attest::kSnpSignedBytes)));
  std::copy(std::begin(signature.r_comp), std::end(signature.r_comp), report.signature_r.begin());
  std::copy(std::begin(signature.s_comp), std::end(signature.s_comp), report.signature_s.begin());
  return attest::EncodeSnpReport(report);
}

}  // namespace loader::vsm
