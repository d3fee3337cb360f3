#include "devices/acpi_pm.h"

#include <doctest/doctest.h>

#include <array>

namespace {

std::array<std::byte, 2> Word(uint16_t value) {
  return {std::byte{static_cast<uint8_t>(value)}, std::byte{static_cast<uint8_t>(value >> 8)}};
}

uint16_t ReadWord(devices::AcpiPm1& pm, uint16_t offset) {
  std::array<std::byte, 2> data{};
  REQUIRE(pm.Read(offset, data) == devices::IoResult::kOk);
  return static_cast<uint16_t>(static_cast<uint16_t>(data[0]) |
                               (static_cast<uint16_t>(data[1]) << 8));
}

constexpr uint16_t kSlpEn = 1u << 13;
constexpr uint16_t SlpTyp(uint16_t type) { return static_cast<uint16_t>(type << 10); }

}  // namespace

TEST_CASE("PM1: SLP_TYP then SLP_EN with the S5 type powers off, as ACPICA writes it") {
  devices::MachineEvents events;
  devices::AcpiPm1 pm(events);
  CHECK(ReadWord(pm, 4) == 1);  // SCI_EN: always in ACPI mode
  CHECK(ReadWord(pm, 0) == 0);  // no fixed events
  // acpi_hw_legacy_sleep: write #1 SLP_TYP alone, write #2 with SLP_EN.
  CHECK(pm.Write(4, Word(SlpTyp(5) | 1)) == devices::IoResult::kOk);
  CHECK_FALSE(events.power_off_requested());
  CHECK(ReadWord(pm, 4) == (SlpTyp(5) | 1));
  CHECK(pm.Write(4, Word(SlpTyp(5) | kSlpEn | 1)) == devices::IoResult::kOk);
  CHECK(events.power_off_requested());
  CHECK((ReadWord(pm, 4) & kSlpEn) == 0);  // write-only bit
}

TEST_CASE("PM1: other sleep types are ignored; enable is read/write; bad accesses refused") {
  devices::MachineEvents events;
  devices::AcpiPm1 pm(events);
  CHECK(pm.Write(4, Word(SlpTyp(1) | kSlpEn)) == devices::IoResult::kOk);
  CHECK_FALSE(events.power_off_requested());
  CHECK(pm.ignored_sleep_requests() == 1);
  // Byte-wise: the high byte alone carries SLP_TYP and SLP_EN.
  const std::array<std::byte, 1> high{std::byte{static_cast<uint8_t>((SlpTyp(5) | kSlpEn) >> 8)}};
  CHECK(pm.Write(5, high) == devices::IoResult::kOk);
  CHECK(events.power_off_requested());

  devices::MachineEvents quiet;
  devices::AcpiPm1 pm2(quiet);
  CHECK(pm2.Write(2, Word(0x0121)) == devices::IoResult::kOk);
  CHECK(ReadWord(pm2, 2) == 0x0121);
  CHECK(pm2.enable() == 0x0121);
  CHECK(pm2.Write(0, Word(0xFFFF)) == devices::IoResult::kOk);  // W1C of nothing
  CHECK(ReadWord(pm2, 0) == 0);
  std::array<std::byte, 4> dword{};
  CHECK(pm2.Read(0, dword) == devices::IoResult::kOk);  // STS + EN at once
  CHECK(dword[2] == std::byte{0x21});
  CHECK(pm2.Read(4, dword) == devices::IoResult::kBadRegister);  // runs past the block
  CHECK(pm2.Read(6, std::span(dword).first(1)) == devices::IoResult::kBadRegister);
  std::array<std::byte, 3> odd{};
  CHECK(pm2.Write(0, odd) == devices::IoResult::kBadSize);
  CHECK_FALSE(quiet.power_off_requested());
}
