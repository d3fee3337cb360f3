// VTL0's measured boot (vmm-core/attest/measured_boot.h) with mbedTLS's
// hashes: PCR values against their definition (extend from zeros; values
// computed independently with Python's hashlib), and the event log's bytes.
#include "attest/measured_boot.h"

#include <doctest/doctest.h>

#include <string>

#include "attest/mbed_hash.h"
#include "digest.h"

namespace {

std::span<const std::byte> Bytes(std::string_view text) {
  return std::as_bytes(std::span(text.data(), text.size()));
}

constexpr std::array kSha256{attest::HashAlg::kSha256};

}  // namespace

TEST_CASE("measured boot: PCRs after VTL0's boot events") {
  const attest::Vtl0Boot boot{Bytes("abc"), Bytes("initrd"), "console=ttyS0 quiet"};
  const std::array banks{attest::HashAlg::kSha256, attest::HashAlg::kSha384};
  const auto events = attest::MeasureVtl0Boot(boot, banks, attest::MbedHash);
  REQUIRE(events.ok());
  REQUIRE(events->size() == 8 + 2 + 1);
  const auto pcrs = attest::ReplayPcrs(*events, banks, attest::MbedHash);
  REQUIRE(pcrs.size() == 2);
  // One EV_SEPARATOR of 00000000: SHA-256(0^32 || SHA-256(00000000)).
  for (uint32_t pcr = 0; pcr <= 7; ++pcr)
    CHECK(igvm::ToHex(pcrs[0].pcrs[pcr]) ==
          "3d458cfe55cc03ea1f443f1562beec8df51c75e14a9fcf9a7234a13f198e7969");
  CHECK(igvm::ToHex(pcrs[0].pcrs[9]) ==
        "ddc541045fe3cb0e6b2645b2d6fd1704366ed10063ca5a0959eedbf728d4f635");
  CHECK(igvm::ToHex(pcrs[0].pcrs[8]) ==
        "8af7b62bf3b26e74abea241b83a5a96a2926e71903e4aec063721f74102573b3");
  CHECK(igvm::ToHex(pcrs[1].pcrs[8]) ==
        "72c5df8558e9d3bed85175c7241e6d628017d63b80fb7d62887811bbcb3acfa86477346655bc5eabef8ed4360ea786e5");
  CHECK(pcrs[0].pcrs[10] == std::vector<uint8_t>(32, 0));  // untouched
  // The command line's event data: GRUB's "kernel_cmdline: " form with a NUL.
  const std::string data(reinterpret_cast<const char*>(events->back().data.data()), events->back().data.size());
  CHECK(data == std::string("kernel_cmdline: console=ttyS0 quiet") + '\0');
}

TEST_CASE("measured boot: no initrd, one event less; bad inputs refused") {
  const auto events = attest::MeasureVtl0Boot({Bytes("k"), {}, ""}, kSha256, attest::MbedHash);
  REQUIRE(events.ok());
  CHECK(events->size() == 10);
  CHECK_FALSE(attest::MeasureVtl0Boot({{}, {}, ""}, kSha256, attest::MbedHash).ok());
  CHECK_FALSE(attest::MeasureVtl0Boot({Bytes("k"), {}, std::string_view("a\0b", 3)}, kSha256,
                                      attest::MbedHash)
                  .ok());
  const std::array twice{attest::HashAlg::kSha256, attest::HashAlg::kSha256};
  CHECK_FALSE(attest::MeasureVtl0Boot({Bytes("k"), {}, ""}, twice, attest::MbedHash).ok());
  CHECK_FALSE(attest::MeasureVtl0Boot({Bytes("k"), {}, ""}, {}, attest::MbedHash).ok());
}

TEST_CASE("measured boot: the event log's header and records") {
  const auto events = attest::MeasureVtl0Boot({Bytes("k"), {}, "x"}, kSha256, attest::MbedHash);
  REQUIRE(events.ok());
  const std::vector<std::byte> log = attest::SerializeEventLog(*events, kSha256);
  auto u32 = [&](size_t at) {
    uint32_t v = 0;
    for (size_t i = 0; i < 4; ++i) v |= std::to_integer<uint32_t>(log.at(at + i)) << (8 * i);
    return v;
  };
  CHECK(u32(0) == 0);                   // PCR 0
  CHECK(u32(4) == attest::kEvNoAction);  // the header's type
  const uint32_t spec_size = u32(28);
  CHECK(spec_size == 33);  // sha256 only (tpm-attestation.md §3.1)
  const std::string signature(reinterpret_cast<const char*>(log.data() + 32), 15);
  CHECK(signature == "Spec ID Event03");
  // The first TCG_PCR_EVENT2: PCR 0, EV_SEPARATOR, one digest, 4 bytes of data.
  const size_t first = 32 + spec_size;
  CHECK(u32(first) == 0);
  CHECK(u32(first + 4) == attest::kEvSeparator);
  CHECK(u32(first + 8) == 1);
  CHECK(std::to_integer<int>(log[first + 12]) == 0x0B);  // TPM_ALG_SHA256
  CHECK(u32(first + 14 + 32) == 4);
  // 10 records of 4+4+4+2+32+4 bytes plus their data.
  size_t expected = first;
  for (const auto& event : *events) expected += 50 + event.data.size();
  CHECK(log.size() == expected);
}
