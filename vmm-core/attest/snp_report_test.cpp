// The SEV-SNP report parser on a real report (../shared/testdata/snp, a
// Milan part's version 2 report; read in place) and on edited copies.
#include "attest/snp_report.h"

#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "attest/testing/shared_testdata.h"

namespace {

std::vector<std::byte> ReadTestdata(const std::string& name) {
  return attest::testing::ReadSharedTestdata("snp/" + name);
}

std::vector<std::byte> MilanReport() {
  auto raw = attest::DecodeReportFile(ReadTestdata("report_milan.hex"));
  REQUIRE(raw.ok());
  return *raw;
}

}  // namespace

TEST_CASE("snp report: a real Milan report's fields") {
  const std::vector<std::byte> raw = MilanReport();
  REQUIRE(raw.size() == attest::kSnpReportBytes);
  const auto report = attest::ParseSnpReport(raw);
  REQUIRE(report.ok());
  CHECK(report->version == 2);
  CHECK(report->signature_algo == 1);
  CHECK(report->policy == 0x30000);  // ABI 0.0, SMT allowed, bit 17 set
  CHECK_FALSE(report->debug_allowed());
  CHECK(report->signing_key() == 0);  // the VCEK
  // REPORTED_TCB bytes 03 00 00 00 00 00 08 73 (offset 0x180).
  CHECK(report->reported_tcb == 0x7308000000000003);
  const auto tcb = attest::DecodeTcb(report->reported_tcb, attest::SnpProduct::kMilan);
  REQUIRE(tcb.ok());
  CHECK(tcb->bootloader == 3);
  CHECK(tcb->tee == 0);
  CHECK(tcb->snp == 8);
  CHECK(tcb->microcode == 0x73);
  CHECK(attest::EncodeTcb(*tcb, attest::SnpProduct::kMilan) == report->reported_tcb);
  // R's first stored byte is the least significant (little-endian).
  CHECK(report->signature_r[0] == std::to_integer<uint8_t>(raw[0x2A0]));
}

TEST_CASE("snp report: hex with line breaks, raw bytes; sizes and digits checked") {
  const std::vector<std::byte> raw = MilanReport();
  CHECK(attest::DecodeReportFile(raw).ok());  // raw passes through
  std::string hex;
  for (size_t i = 0; i < raw.size(); ++i) {
    char pair[3];
    std::snprintf(pair, sizeof pair, "%02x", std::to_integer<unsigned>(raw[i]));
    hex += pair;
    if (i % 32 == 31) hex += "\n";
  }
  auto bytes = [](const std::string& text) { return std::as_bytes(std::span(text.data(), text.size())); };
  const auto decoded = attest::DecodeReportFile(bytes(hex));
  REQUIRE(decoded.ok());
  CHECK(*decoded == raw);
  CHECK_FALSE(attest::DecodeReportFile(bytes(hex + "0")).ok());        // odd digit count
  CHECK_FALSE(attest::DecodeReportFile(bytes(hex + "00")).ok());       // one byte too many
  CHECK_FALSE(attest::DecodeReportFile(bytes(hex.substr(2))).ok());    // one too few
  CHECK_FALSE(attest::DecodeReportFile(bytes("0 0" + hex.substr(2))).ok());  // a split pair
  std::string bad = hex;
  bad[10] = 'g';
  CHECK_FALSE(attest::DecodeReportFile(bytes(bad)).ok());
  CHECK_FALSE(attest::ParseSnpReport(std::span(raw).first(raw.size() - 1)).ok());
}

TEST_CASE("snp report: what no firmware signs is refused") {
  const std::vector<std::byte> good = MilanReport();
  auto edited = [&](size_t offset, uint8_t value) {
    std::vector<std::byte> copy = good;
    copy[offset] = std::byte{value};
    return attest::ParseSnpReport(copy);
  };
  CHECK(edited(0x000, 1).error().message().find("version") != std::string::npos);
  CHECK(edited(0x000, 6).error().message().find("version") != std::string::npos);
  CHECK(edited(0x034, 2).error().message().find("signature algorithm") != std::string::npos);
  CHECK(edited(0x19F, 1).error().message().find("reserved") != std::string::npos);
  CHECK(edited(0x188, 1).error().message().find("reserved") != std::string::npos);  // v2: no CPUID bytes
  CHECK(edited(0x390, 1).error().message().find("past S") != std::string::npos);
  CHECK(edited(0x49F, 1).error().message().find("past S") != std::string::npos);
  // Version 3 has CPUID family/model/stepping at 0x188-0x18A.
  std::vector<std::byte> v3 = good;
  v3[0] = std::byte{3};
  v3[0x188] = std::byte{0x19};
  CHECK(attest::ParseSnpReport(v3).ok());
}

TEST_CASE("snp report: TCB layouts per product line") {
  const attest::SnpTcb turin{.fmc = 1, .bootloader = 2, .tee = 3, .snp = 4, .microcode = 0xD1};
  const uint64_t raw = attest::EncodeTcb(turin, attest::SnpProduct::kTurin);
  CHECK(raw == 0xD100000004030201);
  CHECK(attest::DecodeTcb(raw, attest::SnpProduct::kTurin).value() == turin);
  // The same bytes read as Milan set bytes Milan keeps reserved.
  CHECK_FALSE(attest::DecodeTcb(raw, attest::SnpProduct::kMilan).ok());
  CHECK_FALSE(attest::DecodeTcb(uint64_t{1} << 40, attest::SnpProduct::kTurin).ok());
  const attest::SnpTcb genoa{.bootloader = 9, .tee = 0, .snp = 0x17, .microcode = 0x48};
  CHECK(attest::DecodeTcb(attest::EncodeTcb(genoa, attest::SnpProduct::kGenoa),
                          attest::SnpProduct::kGenoa)
            .value() == genoa);
}
