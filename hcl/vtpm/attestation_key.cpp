#include "vtpm/attestation_key.h"

#include <mbedtls/base64.h>

#include <vector>

#include "attest/hcl_report.h"
#include "base/be_bytes.h"
#include "base/string_printf.h"

namespace hcl::vtpm {
namespace {

// RFC 7515 §2 base64url without padding, as JWK coordinates are written
// (RFC 7518 §6.2.1.2).
std::string Base64Url(std::span<const uint8_t> bytes) {
  std::vector<unsigned char> text(4 * ((bytes.size() + 2) / 3) + 1);
  size_t written = 0;
  if (mbedtls_base64_encode(text.data(), text.size(), &written, bytes.data(), bytes.size()) != 0)
    return {};
  std::string out(text.begin(), text.begin() + static_cast<std::ptrdiff_t>(written));
  while (!out.empty() && out.back() == '=') out.pop_back();
  for (char& c : out) c = c == '+' ? '-' : c == '/' ? '_' : c;
  return out;
}

// A command of hcl's own whose failure is an Error naming it.
base::Result<void> RunOk(Vtpm& tpm, std::span<const std::byte> command, const char* what) {
  const uint32_t rc = TRY(tpm.Run(command));
  if (rc != ::tpm::kRcSuccess) return base::Error::Format("%s: the TPM answered 0x%x", what, rc);
  return base::Ok();
}

// Step 2: the AK at kAkPersistentHandle. An object already there that is
// not this AK (VTL0 may evict and replace it) is removed first.
base::Result<void> PersistAk(Vtpm& tpm, uint32_t transient, const ::tpm::EccPublic& ak) {
  const auto existing = tpm.Execute(::tpm::ReadPublicCommand(kAkPersistentHandle));
  if (TRY(::tpm::ResponseCode(existing)) == ::tpm::kRcSuccess) {
    if (auto there = ::tpm::ParseReadPublic(existing); there && there->area == ak.area)
      return base::Ok();
    TRY(RunOk(tpm,
              ::tpm::EvictControlCommand(::tpm::kRhOwner, kAkPersistentHandle, kAkPersistentHandle),
              "removing another key at 0x81000003"));
  }
  return RunOk(tpm, ::tpm::EvictControlCommand(::tpm::kRhOwner, transient, kAkPersistentHandle),
               "EvictControl to 0x81000003");
}

}  // namespace

std::string RuntimeClaims(const ::tpm::EccPublic& ak, bool tpm_persisted) {
  // kebab-case keys and a JWK list, as OpenHCL's claims (tpm-attestation.md §5.4).
  return R"({"keys":[{"kid":"HCLAkPub","key_ops":["sign"],"kty":"EC","crv":"P-256","x":")" +
         Base64Url(ak.x) + R"(","y":")" + Base64Url(ak.y) +
         R"("}],"vm-configuration":{"tpm-enabled":true,"tpm-persisted":)" +
         (tpm_persisted ? "true" : "false") + "}}";
}

base::Result<AttestationKeyProvisioned> ProvisionAttestationKey(Vtpm& tpm,
                                                                const PlatformReportSource& report,
                                                                const attest::HashFn& hash,
                                                                bool tpm_persisted) {
  // 1. The AK.
  const auto created = tpm.Execute(::tpm::CreateAttestationKeyCommand());
  auto ak = ::tpm::ParseCreatePrimaryPublic(created);
  if (!ak) return std::move(ak).error().Context("creating the AK");
  constexpr uint16_t kCurveP256 = 3;
  if (ak->curve != kCurveP256 || ak->x.size() != 32 || ak->y.size() != 32)
    return base::Error("creating the AK: not a P-256 point");
  const uint32_t transient = base::LoadBe<uint32_t>(created, 10);

  AttestationKeyProvisioned out;
  // 2. Persisted (not fatal: the claims still name the key, which VTL0 can
  // re-create from the same template).
  if (auto persisted = PersistAk(tpm, transient, *ak); !persisted)
    out.not_persisted = persisted.error().message();
  (void)tpm.Run(::tpm::FlushContextCommand(transient));

  // 3. Claims and the report that binds them.
  out.claims = RuntimeClaims(*ak, tpm_persisted);
  const auto digest = hash(attest::HashAlg::kSha256, std::as_bytes(std::span(out.claims)));
  if (digest.size() != 32) return base::Error("hashing the claims failed");
  const auto report_data = attest::ClaimsReportData(std::span<const uint8_t, 32>(digest.data(), 32));
  const auto hardware = TRY(report(report_data));
  const auto blob = attest::BuildHclReport(hardware, out.claims);
  if (blob.empty()) return base::Error("the claims do not fit the NV index");
  out.report_bytes = blob.size();

  // 4. NV index 0x01400001, defined afresh each boot (an index of an
  // earlier boot may have another size). The platform's auth is the empty
  // one Startup(CLEAR) set (TPM 2.0 Part 1 §13.8).
  (void)tpm.Run(::tpm::NvUndefineSpaceCommand(::tpm::kRhPlatform, kHclReportNvIndex));
  namespace nv = ::tpm::nv;
  TRY(RunOk(tpm,
            ::tpm::NvDefineSpaceCommand(::tpm::kRhPlatform, kHclReportNvIndex,
                                        nv::kPpWrite | nv::kPpRead | nv::kOwnerRead | nv::kAuthRead |
                                            nv::kNoDa | nv::kPlatformCreate,
                                        static_cast<uint16_t>(blob.size())),
            "defining NV index 0x01400001"));
  std::vector<uint8_t> bytes(blob.size());
  std::transform(blob.begin(), blob.end(), bytes.begin(),
                 [](std::byte b) { return std::to_integer<uint8_t>(b); });
  for (size_t offset = 0; offset < bytes.size(); offset += ::tpm::kMaxNvBuffer) {
    const auto chunk = std::span(bytes).subspan(offset, std::min(::tpm::kMaxNvBuffer, bytes.size() - offset));
    TRY(RunOk(tpm,
              ::tpm::NvWriteCommand(::tpm::kRhPlatform, kHclReportNvIndex, chunk,
                                    static_cast<uint16_t>(offset)),
              "writing NV index 0x01400001"));
  }
  return out;
}

}  // namespace hcl::vtpm
