// The HCL report blob (attest/hcl_report.h): built, parsed back, and every
// header field an attacker in VTL0 could change is refused.
#include "attest/hcl_report.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "base/le_bytes.h"

namespace {

std::vector<std::byte> SomeHardwareReport() {
  attest::SnpReport report;
  report.version = 2;
  report.signature_algo = attest::kSnpSigAlgoEcdsaP384Sha384;
  report.report_data[0] = 0xAB;
  const auto bytes = attest::EncodeSnpReport(report);
  return {bytes.begin(), bytes.end()};
}

void Poke32(std::vector<std::byte>& blob, size_t offset, uint32_t value) {
  REQUIRE(base::StoreLe(std::span<std::byte>(blob), offset, value));
}

}  // namespace

TEST_CASE("hcl report: built and parsed back, OpenHCL's layout") {
  const std::string claims = R"({"keys":[]})";
  const auto hardware = SomeHardwareReport();
  const auto blob = attest::BuildHclReport(hardware, claims);
  REQUIRE(blob.size() == 32 + 0x4A0 + 20 + claims.size());
  uint32_t word = 0;
  REQUIRE(base::LoadLe(std::span<const std::byte>(blob), 0, word));
  CHECK(word == 0x414C4348);
  REQUIRE(base::LoadLe(std::span<const std::byte>(blob), 8, word));
  CHECK(word == blob.size());
  REQUIRE(base::LoadLe(std::span<const std::byte>(blob), 32 + 0x4A0, word));
  CHECK(word == 20 + claims.size());

  const auto parsed = attest::ParseHclReport(blob);
  REQUIRE(parsed.ok());
  CHECK(parsed->claims == claims);
  CHECK(parsed->hardware_report == hardware);
  const auto snp = attest::ParseSnpReport(parsed->hardware_report);
  REQUIRE(snp.ok());
  CHECK(snp->report_data[0] == 0xAB);

  // An NV index larger than the blob reads back zero-padded.
  auto padded = blob;
  padded.resize(blob.size() + 100);
  CHECK(attest::ParseHclReport(padded).ok());
  padded.back() = std::byte{1};
  CHECK(!attest::ParseHclReport(padded).ok());
}

TEST_CASE("hcl report: a changed header field, size or truncation is refused") {
  const auto good = attest::BuildHclReport(SomeHardwareReport(), R"({"a":1})");
  const std::vector<std::pair<size_t, uint32_t>> edits = {
      {0, 0x41414141},                   // signature
      {4, 1},                            // version
      {8, 0xFFFFFFFF},                   // report_size past the end
      {8, 100},                          // report_size before the claims
      {12, 1},                           // request type
      {16, 5},                           // status
      {24, 1},                           // reserved
      {32 + 0x4A0, 1},                   // data_size
      {32 + 0x4A0 + 8, 1},               // report type
      {32 + 0x4A0 + 12, 2},              // hash type
      {32 + 0x4A0 + 16, 0xFFFFFF00},     // claims size
  };
  for (const auto& edit : edits) {
    auto blob = good;
    Poke32(blob, edit.first, edit.second);
    CAPTURE(edit.first);
    CHECK(!attest::ParseHclReport(blob).ok());
  }
  for (size_t cut : {size_t{0}, size_t{31}, size_t{32 + 0x4A0}, good.size() - 1})
    CHECK(!attest::ParseHclReport(std::span(good).first(cut)).ok());
  CHECK(attest::BuildHclReport(std::vector<std::byte>(100), "{}").empty());
  CHECK(attest::BuildHclReport(SomeHardwareReport(), std::string(attest::kHclMaxClaimsBytes + 1, ' '))
            .empty());
}

TEST_CASE("hcl report: REPORT_DATA is the claims' SHA-256 then zeros") {
  std::array<uint8_t, 32> digest{};
  for (size_t i = 0; i < digest.size(); ++i) digest[i] = static_cast<uint8_t>(i + 1);
  const auto data = attest::ClaimsReportData(digest);
  CHECK(std::equal(digest.begin(), digest.end(), data.begin()));
  CHECK(std::all_of(data.begin() + 32, data.end(), [](uint8_t b) { return b == 0; }));
}

TEST_CASE("snp report: encoded fields parse back") {
  attest::SnpReport report;
  report.version = 2;
  report.signature_algo = 1;
  report.policy = 0x30000;
  report.vmpl = 0;
  report.measurement[47] = 0x5A;
  report.chip_id[0] = 0x11;
  report.reported_tcb = 0x4400000000000002;
  report.signature_r[0] = 7;
  report.signature_s[71] = 9;
  const auto bytes = attest::EncodeSnpReport(report);
  const auto parsed = attest::ParseSnpReport(bytes);
  REQUIRE(parsed.ok());
  CHECK(parsed->policy == 0x30000);
  CHECK(parsed->measurement == report.measurement);
  CHECK(parsed->chip_id == report.chip_id);
  CHECK(parsed->reported_tcb == report.reported_tcb);
  CHECK(parsed->signature_r == report.signature_r);
  CHECK(parsed->signature_s == report.signature_s);
}
