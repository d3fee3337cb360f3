#include "acpi_madt.h"

#include <doctest/doctest.h>

#include <vector>

#include "base/le_bytes_result.h"

namespace {
uint32_t U32(std::span<const std::byte> b, size_t at) {
  return *base::LoadLeOrError<uint32_t>(b, at);
}
uint8_t U8(std::span<const std::byte> b, size_t at) { return *base::LoadLeOrError<uint8_t>(b, at); }
loader::MadtConfig Vps(uint32_t count) {
  loader::MadtConfig config;
  config.vp_count = count;
  return config;
}
}  // namespace

TEST_CASE("MADT for 2 VPs: header, checksum, one local APIC entry per VP") {
  std::vector<std::byte> area(4096);
  const auto length = loader::WriteMadt(area, Vps(2));
  REQUIRE(length.ok());
  CHECK(*length == 44 + 2 * 8);
  const auto table = std::span<const std::byte>(area).first(*length);
  CHECK(U8(table, 0) == 'A');
  CHECK(U8(table, 3) == 'C');
  CHECK(U32(table, 4) == *length);
  CHECK(loader::AcpiChecksum(table) == 0);  // all bytes sum to zero
  CHECK(U32(table, 36) == 0xFEE00000);
  // Second entry: type 0, length 8, UID 1, APIC ID 1, enabled.
  CHECK(U8(table, 52) == 0);
  CHECK(U8(table, 53) == 8);
  CHECK(U8(table, 54) == 1);
  CHECK(U8(table, 55) == 1);
  CHECK(U32(table, 56) == 1);
}

TEST_CASE("MADT switches to x2APIC entries from APIC ID 255 and can add an I/O APIC") {
  std::vector<std::byte> area(8192);
  loader::MadtConfig config = Vps(257);
  config.io_apic = loader::IoApicConfig{};
  const auto length = loader::WriteMadt(area, config);
  REQUIRE(length.ok());
  CHECK(*length == 44 + 255 * 8 + 2 * 16 + 12);
  const auto table = std::span<const std::byte>(area).first(*length);
  CHECK(loader::AcpiChecksum(table) == 0);
  const size_t x2 = 44 + 255 * 8;
  CHECK(U8(table, x2) == 9);
  CHECK(U8(table, x2 + 1) == 16);
  CHECK(U32(table, x2 + 4) == 255);   // x2APIC ID
  CHECK(U32(table, x2 + 12) == 255);  // ACPI processor UID
  CHECK(U8(table, x2 + 32) == 1);     // I/O APIC
  CHECK(U32(table, x2 + 32 + 4) == 0xFEC00000);
}

TEST_CASE("MADT refuses zero VPs and a short area") {
  std::vector<std::byte> area(52);  // exactly the header + one local APIC
  CHECK_FALSE(loader::WriteMadt(area, Vps(0)).ok());
  CHECK(loader::WriteMadt(area, Vps(0)).error().message().find("processor") !=
        std::string::npos);
  CHECK(loader::WriteMadt(area, Vps(1)).ok());
  CHECK_FALSE(loader::WriteMadt(area, Vps(2)).ok());
}
