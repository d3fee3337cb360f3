// The vTPM's attestation key and its binding to the platform report, over
// the real libtpms and hcl-loader's emulated report: what hcl provisions
// before VTL0 runs is what hcl-attest accepts, and a VTL0 that swaps the
// persistent key or edits the evidence is caught.
#include "vtpm/attestation_key.h"

#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "attest/ak_binding.h"
#include "attest/hcl_report.h"
#include "attest/mbed_hash.h"
#include "attest/quote_verify.h"
#include "base/be_bytes.h"
#include "tpm/platform.h"
#include "tpm/testing/memory_command_buffer.h"
#include "vsm/platform_report.h"
#include "vtpm/libtpms_engine.h"
#include "vtpm/state_store.h"

namespace {

using hcl::vtpm::kAkPersistentHandle;
using hcl::vtpm::kHclReportNvIndex;

struct Tpm {
  hcl::vtpm::MemoryStateStore store;
  tpm::testing::MemoryCommandBuffer buffer{tpm::kCrbBufferBytes};
  std::unique_ptr<hcl::vtpm::LibtpmsEngine> engine;
  std::unique_ptr<hcl::vtpm::Vtpm> vtpm;
  Tpm() {
    auto made = hcl::vtpm::LibtpmsEngine::Create(store, tpm::kCrbBufferBytes);
    REQUIRE(made.ok());
    engine = std::move(*made);
    auto device = hcl::vtpm::Vtpm::Create(*engine, buffer);
    REQUIRE(device.ok());
    vtpm = std::move(*device);
  }
};

struct Platform {
  loader::vsm::PlatformSecret secret{7, 7, 7};
  loader::vsm::EmulatedSnpReporter reporter = [this] {
    igvm::SnpLaunchIdentity launch;
    launch.launch_digest[0] = 0x42;
    auto made = loader::vsm::EmulatedSnpReporter::Create(secret, launch, 0x30000);
    REQUIRE(made.ok());
    return std::move(*made);
  }();
  std::string pem = *reporter.PublicKeyPem();
  hcl::vtpm::PlatformReportSource source() {
    return [this](std::span<const uint8_t, 64> data) { return reporter.Report(data); };
  }
};

// The whole NV index, read as VTL0's tpm2_nvread does (owner auth, chunks).
std::vector<std::byte> ReadIndex(hcl::vtpm::Vtpm& vtpm, size_t size) {
  std::vector<std::byte> out;
  while (out.size() < size) {
    const auto chunk = static_cast<uint16_t>(std::min<size_t>(tpm::kMaxNvBuffer, size - out.size()));
    const auto response = vtpm.Execute(
        tpm::NvReadCommand(tpm::kRhOwner, kHclReportNvIndex, chunk, static_cast<uint16_t>(out.size())));
    REQUIRE(tpm::ResponseCode(response).value() == 0);
    // Header, parameterSize, TPM2B_MAX_NV_BUFFER.
    REQUIRE(base::LoadBe<uint16_t>(response, 14) == chunk);
    out.insert(out.end(), response.begin() + 16, response.begin() + 16 + chunk);
  }
  return out;
}

std::span<const std::byte> Bytes(const std::string& text) { return std::as_bytes(std::span(text)); }

}  // namespace

TEST_CASE("attestation key: provisioned, persisted, bound to the emulated report; its quotes verify") {
  Tpm tpm;
  Platform platform;
  const auto provisioned = hcl::vtpm::ProvisionAttestationKey(*tpm.vtpm, platform.source(),
                                                              attest::MbedHash, true);
  REQUIRE(provisioned.ok());
  CHECK(provisioned->not_persisted.empty());
  CHECK(provisioned->claims.find(R"("kid":"HCLAkPub")") != std::string::npos);

  const auto blob = ReadIndex(*tpm.vtpm, provisioned->report_bytes);
  const auto bound = attest::VerifyAkBinding(blob, {.emulated_vcek = Bytes(platform.pem)});
  REQUIRE_MESSAGE(bound.ok(), bound.error().message());
  CHECK(bound->report.measurement[0] == 0x42);
  CHECK(bound->claims == provisioned->claims);

  // The key at 0x81000003 is the claims' key: a quote by it verifies with
  // the AK hcl-attest took from the claims.
  const std::array<uint8_t, 8> nonce{1, 2, 3, 4, 5, 6, 7, 8};
  std::vector<std::byte> quoted;
  for (int i = 0; i < 5; ++i) {  // libtpms' first quote may say TPM_RC_RETRY
    quoted = tpm.vtpm->Execute(tpm::QuoteCommand(kAkPersistentHandle, nonce));
    if (tpm::ResponseCode(quoted).value() != 0x922) break;
  }
  REQUIRE(tpm::ResponseCode(quoted).value() == 0);
  // Response: header, parameterSize, TPM2B_ATTEST, TPMT_SIGNATURE, then
  // the session's answer.
  const uint32_t parameters = base::LoadBe<uint32_t>(quoted, 10);
  const uint16_t attest_size = base::LoadBe<uint16_t>(quoted, 14);
  const auto message = std::span(quoted).subspan(16, attest_size);
  const auto signature = std::span(quoted).subspan(16 + attest_size, parameters - 2 - attest_size);
  const auto verified = attest::VerifyQuote(message, signature, Bytes(bound->ak_pem), std::nullopt,
                                            std::vector<uint8_t>(nonce.begin(), nonce.end()));
  CHECK_MESSAGE(verified.ok(), verified.error().message());

  // A second boot of the same TPM: the same key, already in place.
  const auto again = hcl::vtpm::ProvisionAttestationKey(*tpm.vtpm, platform.source(),
                                                        attest::MbedHash, true);
  REQUIRE(again.ok());
  CHECK(again->not_persisted.empty());
  CHECK(again->claims == provisioned->claims);
}

TEST_CASE("attestation key: VTL0 puts its own key at 0x81000003; the next boot puts the AK back") {
  Tpm tpm;
  Platform platform;
  REQUIRE(hcl::vtpm::ProvisionAttestationKey(*tpm.vtpm, platform.source(), attest::MbedHash, true).ok());
  const auto ak = tpm::ParseReadPublic(tpm.vtpm->Execute(tpm::ReadPublicCommand(kAkPersistentHandle)));
  REQUIRE(ak.ok());
  // The attacker: evict the AK, persist an owner-hierarchy key there
  // (the AK template under the owner: same shape, another seed).
  REQUIRE(tpm.vtpm->Run(tpm::EvictControlCommand(tpm::kRhOwner, kAkPersistentHandle,
                                                 kAkPersistentHandle)).value() == 0);
  auto command = tpm::CreateAttestationKeyCommand();
  base::StoreBe<uint32_t>(command, 10, tpm::kRhOwner);
  const auto created = tpm.vtpm->Execute(command);
  REQUIRE(tpm::ResponseCode(created).value() == 0);
  REQUIRE(tpm.vtpm->Run(tpm::EvictControlCommand(tpm::kRhOwner, base::LoadBe<uint32_t>(created, 10),
                                                 kAkPersistentHandle)).value() == 0);
  const auto swapped = tpm::ParseReadPublic(tpm.vtpm->Execute(tpm::ReadPublicCommand(kAkPersistentHandle)));
  REQUIRE(swapped.ok());
  CHECK(swapped->x != ak->x);

  REQUIRE(hcl::vtpm::ProvisionAttestationKey(*tpm.vtpm, platform.source(), attest::MbedHash, true).ok());
  const auto restored = tpm::ParseReadPublic(tpm.vtpm->Execute(tpm::ReadPublicCommand(kAkPersistentHandle)));
  REQUIRE(restored.ok());
  CHECK(restored->area == ak->area);
}

TEST_CASE("attestation key: edited evidence, another platform or no report is refused") {
  Tpm tpm;
  Platform platform;
  const auto provisioned = hcl::vtpm::ProvisionAttestationKey(*tpm.vtpm, platform.source(),
                                                              attest::MbedHash, false);
  REQUIRE(provisioned.ok());
  CHECK(provisioned->claims.find(R"("tpm-persisted":false)") != std::string::npos);
  const auto blob = ReadIndex(*tpm.vtpm, provisioned->report_bytes);
  const attest::ReportTrust trust{.emulated_vcek = Bytes(platform.pem)};
  REQUIRE(attest::VerifyAkBinding(blob, trust).ok());

  auto message_of = [&](std::vector<std::byte> edited) {
    const auto checked = attest::VerifyAkBinding(edited, trust);
    REQUIRE(!checked.ok());
    return checked.error().message();
  };
  // A claims byte changed (another AK): REPORT_DATA no longer matches.
  auto edited = blob;
  const auto x_at = std::string(provisioned->claims).find(R"("x":")") + 5;
  edited[attest::kHclClaimsOffset + x_at] ^= std::byte{1};
  CHECK(message_of(edited).starts_with("binding:"));
  // REPORT_DATA changed to match other claims: the signature breaks.
  edited = blob;
  edited[attest::kHclReportHeaderBytes + 0x50] ^= std::byte{1};
  CHECK(message_of(edited).starts_with("report signature:"));
  // The blob cut short.
  edited.assign(blob.begin(), blob.end() - 1);
  CHECK(message_of(edited).starts_with("hcl report:"));
  // Another host's secret signed it.
  loader::vsm::PlatformSecret other{9};
  auto other_reporter = loader::vsm::EmulatedSnpReporter::Create(other);
  REQUIRE(other_reporter.ok());
  const std::string other_pem = *other_reporter->PublicKeyPem();
  const auto foreign = attest::VerifyAkBinding(blob, {.emulated_vcek = Bytes(other_pem)});
  REQUIRE(!foreign.ok());
  CHECK(foreign.error().message().starts_with("report signature:"));

  // No platform report (no --guest-state): provisioning says so.
  const auto refused = hcl::vtpm::ProvisionAttestationKey(
      *tpm.vtpm,
      [](std::span<const uint8_t, 64>) -> base::Result<std::array<std::byte, attest::kSnpReportBytes>> {
        return base::Error("the platform report was refused (status 0x6)");
      },
      attest::MbedHash, false);
  CHECK(!refused.ok());
}

TEST_CASE("ak claims: only one well-formed HCLAkPub key is taken") {
  CHECK(!attest::AkFromClaims("").ok());
  CHECK(!attest::AkFromClaims("[]").ok());
  CHECK(!attest::AkFromClaims(R"({"keys":[]})").ok());
  CHECK(!attest::AkFromClaims(R"({"keys":[{"kid":"HCLAkPub","kty":"EC","crv":"P-256","x":"AA","y":"AA"}]})").ok());
  CHECK(!attest::AkFromClaims(R"({"keys":[{"kid":"HCLAkPub","kty":"oct"}]})").ok());
  // A point not on the curve.
  const std::string zeros = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
  CHECK(!attest::AkFromClaims(R"({"keys":[{"kid":"HCLAkPub","kty":"EC","crv":"P-256","x":")" +
                              zeros + R"(","y":")" + zeros + R"("}]})")
             .ok());
}
