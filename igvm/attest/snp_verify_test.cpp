// hcl-attest's SEV-SNP verifier on real evidence (../shared/testdata/snp,
// read in place: a Milan report, its VCEK, AMD's Milan and Turin chains)
// and on tampered copies: each must fail at the check it breaks.
#include "attest/snp_verify.h"

#include <doctest/doctest.h>

#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "attest/testing/shared_testdata.h"

namespace {

std::vector<std::byte> Read(const std::string& name) {
  return attest::testing::ReadSharedTestdata("snp/" + name);
}

std::vector<std::byte> Concat(std::vector<std::byte> a, const std::vector<std::byte>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

// The failure's check: the message up to the first ':'.
std::string FailedCheck(const base::Result<attest::SnpVerified>& result) {
  REQUIRE_FALSE(result.ok());
  const std::string& message = result.error().message();
  return message.substr(0, message.find(':'));
}

struct Evidence {
  std::vector<std::byte> report = attest::DecodeReportFile(Read("report_milan.hex")).value();
  std::vector<std::byte> vcek = Read("vcek_milan.der");
  std::vector<std::byte> chain = Read("cert_chain_milan.pem");
  base::Result<attest::SnpVerified> Verify() const {
    return attest::VerifySnpReport(report, vcek, chain);
  }
};

}  // namespace

TEST_CASE("snp verify: AMD's Milan chain, VCEK and report hold together") {
  const Evidence evidence;
  const auto verified = evidence.Verify();
  INFO((verified.ok() ? std::string() : verified.error().message()));
  REQUIRE(verified.ok());
  CHECK(verified->vcek.product == attest::SnpProduct::kMilan);
  // The report's REPORTED_TCB, 03 00 00 00 00 00 08 73: BL 3, TEE 0, SNP 8,
  // microcode 0x73, as the VCEK's extensions say.
  CHECK(verified->vcek.tcb.bootloader == 3);
  CHECK(verified->vcek.tcb.tee == 0);
  CHECK(verified->vcek.tcb.snp == 8);
  CHECK(verified->vcek.tcb.microcode == 0x73);
  REQUIRE(verified->vcek.hwid.size() == 64);
  CHECK(std::equal(verified->vcek.hwid.begin(), verified->vcek.hwid.end(),
                   verified->report.chip_id.begin()));
  // The hex form of the report is accepted as well.
  CHECK(attest::VerifySnpReport(Read("report_milan.hex"), evidence.vcek, evidence.chain).ok());
}

TEST_CASE("snp verify: a tampered report fails its signature") {
  Evidence evidence;
  // Bit 7 of byte 21 (FAMILY_ID), as virtee/sev's own test flips it.
  evidence.report[21] ^= std::byte{0x80};
  CHECK(FailedCheck(evidence.Verify()) == "report signature");
  Evidence measurement;
  measurement.report[0x90] ^= std::byte{1};
  CHECK(FailedCheck(measurement.Verify()) == "report signature");
  Evidence signature;
  signature.report[0x2A0] ^= std::byte{1};
  CHECK(FailedCheck(signature.Verify()) == "report signature");
}

TEST_CASE("snp verify: a VCEK byte changed anywhere is refused") {
  const Evidence good;
  // Every 7th byte, each flipped in turn: never accepted.
  for (size_t i = 0; i < good.vcek.size(); i += 7) {
    Evidence evidence;
    evidence.vcek[i] ^= std::byte{0x01};
    const auto result = evidence.Verify();
    INFO("byte ", i);
    CHECK_FALSE(result.ok());
  }
  // In the signed part (the serial number): the ASK's signature breaks.
  Evidence serial;
  serial.vcek[15] ^= std::byte{0x01};
  CHECK(FailedCheck(serial.Verify()) == "vcek");
}

TEST_CASE("snp verify: the chain must be AMD's, for the VCEK's product, in order") {
  Evidence turin;
  turin.chain = Read("cert_chain_turin.pem");
  CHECK(FailedCheck(turin.Verify()) == "ark");
  Evidence one;
  one.chain = Read("milan_ark.pem");
  CHECK(FailedCheck(one.Verify()) == "chain");
  Evidence swapped;  // ARK then ASK: the second is no pinned root
  swapped.chain = Concat(Read("milan_ark.pem"), Read("milan_ask.pem"));
  CHECK(FailedCheck(swapped.Verify()) == "ark");
  Evidence foreign;  // Genoa's ASK under Milan's ARK
  foreign.chain = Concat(Read("genoa_ask.pem"), Read("milan_ark.pem"));
  CHECK(FailedCheck(foreign.Verify()) == "ask");
  Evidence garbage;
  garbage.chain = {std::byte{'x'}};
  CHECK(FailedCheck(garbage.Verify()) == "chain");
}

TEST_CASE("snp verify: the VCEK and the report are parsed before anything is trusted") {
  Evidence truncated;
  truncated.report.resize(100);
  CHECK(FailedCheck(truncated.Verify()) == "report");
  Evidence no_cert;
  no_cert.vcek.resize(10);
  CHECK(FailedCheck(no_cert.Verify()) == "vcek");
  // The Turin VCEK: its own product, FMC SPL included.
  const auto claims = attest::ParseVcekClaims(Read("vcek_turin.der"));
  REQUIRE(claims.ok());
  CHECK(claims->product == attest::SnpProduct::kTurin);
  CHECK(claims->hwid.size() == 8);  // Turin's hwID: CHIP_ID's first 8 bytes
  // A Turin VCEK for a Milan report, with the Turin chain: the chain holds
  // but the report's signature cannot.
  Evidence mixed;
  mixed.vcek = Read("vcek_turin.der");
  mixed.chain = Read("cert_chain_turin.pem");
  CHECK(FailedCheck(mixed.Verify()) == "report signature");
}

TEST_CASE("snp verify: AMD's extensions, including an SPL above 127 and a raw hwID") {
  // A self-signed certificate of ours with the VCEK's extensions
  // (openssl req -x509 with 1.3.6.1.4.1.3704.1.* set; its ucodeSPL 209 is
  // the DER INTEGER 02 02 00 D1), kept as a fuzz seed.
  std::ifstream in(std::string(HCL_SOURCE_ROOT) + "/tests/fuzz/corpus/vcek-claims/synthetic-vcek.der",
                   std::ios::binary);
  REQUIRE(in.good());
  const std::vector<char> chars((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const auto claims = attest::ParseVcekClaims(std::as_bytes(std::span(chars.data(), chars.size())));
  INFO((claims.ok() ? std::string() : claims.error().message()));
  REQUIRE(claims.ok());
  CHECK(claims->product_name == "Milan-B0");
  CHECK(claims->product == attest::SnpProduct::kMilan);
  CHECK(claims->tcb.bootloader == 2);
  CHECK(claims->tcb.snp == 5);
  CHECK(claims->tcb.microcode == 209);
  REQUIRE(claims->hwid.size() == 64);
  for (size_t i = 0; i < claims->hwid.size(); ++i) CHECK(claims->hwid[i] == i);
}
