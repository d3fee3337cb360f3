#include "acpi_tables.h"

#include <doctest/doctest.h>

#include <array>
#include <cstring>
#include <string>
#include <vector>

#include "bytes.h"

namespace {

constexpr uint64_t kGpa = 0x1014000;

template <typename T>
T Load(std::span<const std::byte> bytes, size_t offset) {
  T value{};
  REQUIRE(shim::LoadLe(bytes, offset, value));
  return value;
}

std::string Text(std::span<const std::byte> bytes, size_t offset, size_t length) {
  std::string text;
  for (size_t i = 0; i < length; ++i) text += static_cast<char>(bytes[offset + i]);
  return text;
}

uint8_t Sum(std::span<const std::byte> bytes) {
  uint8_t sum = 0;
  for (std::byte b : bytes) sum = static_cast<uint8_t>(sum + static_cast<uint8_t>(b));
  return sum;
}

// A one-processor MADT as hcl-loader writes it (loader/acpi_madt.cpp).
std::vector<std::byte> Madt() {
  std::vector<std::byte> madt(52, std::byte{0});
  std::span<std::byte> bytes(madt);
  std::memcpy(madt.data(), "APIC", 4);
  REQUIRE(shim::StoreLe<uint32_t>(bytes, 4, 52));
  REQUIRE(shim::StoreLe<uint8_t>(bytes, 8, 6));
  REQUIRE(shim::StoreLe<uint32_t>(bytes, 36, 0xFEE00000));
  REQUIRE(shim::StoreLe<uint8_t>(bytes, 44, 0));  // Processor Local APIC
  REQUIRE(shim::StoreLe<uint8_t>(bytes, 45, 8));
  REQUIRE(shim::StoreLe<uint32_t>(bytes, 48, 1));  // enabled
  REQUIRE(shim::StoreLe<uint8_t>(bytes, 9, shim::acpi::Checksum(bytes)));
  return madt;
}

size_t Offset(uint64_t gpa) { return static_cast<size_t>(gpa - kGpa); }

}  // namespace

TEST_CASE("ACPI tables: RSDP -> XSDT -> FADT/MADT, FADT -> FACS/DSDT, all checksummed") {
  std::vector<std::byte> out(0x3000, std::byte{0xCC});
  const auto madt = Madt();
  auto built = shim::acpi::BuildAcpiTables(out, kGpa, madt);
  REQUIRE(built.ok());
  const shim::acpi::TableSet& set = built.value();
  const std::span<const std::byte> bytes(out);
  CHECK(set.rsdp_gpa == kGpa);

  // RSDP (ACPI 6.5 §5.2.5.3).
  const auto rsdp = bytes.subspan(0, 36);
  CHECK(Text(rsdp, 0, 8) == "RSD PTR ");
  CHECK(Sum(rsdp.first(20)) == 0);
  CHECK(Sum(rsdp) == 0);
  CHECK(Load<uint8_t>(rsdp, 15) == 2);
  CHECK(Load<uint32_t>(rsdp, 16) == 0);  // no RSDT
  CHECK(Load<uint32_t>(rsdp, 20) == 36);
  CHECK(Load<uint64_t>(rsdp, 24) == set.xsdt_gpa);

  // Every table: signature, length, checksum (§5.2.6).
  auto table = [&](uint64_t gpa, const char* signature) {
    const size_t at = Offset(gpa);
    const uint32_t length = Load<uint32_t>(bytes, at + 4);
    REQUIRE(at + length <= set.bytes_used);
    const auto t = bytes.subspan(at, length);
    CHECK(Text(t, 0, 4) == signature);
    CHECK(Sum(t) == 0);
    CHECK(at % 16 == 0);
    return t;
  };
  const auto xsdt = table(set.xsdt_gpa, "XSDT");
  CHECK(xsdt.size() == 36 + 16);
  CHECK(Load<uint64_t>(xsdt, 36) == set.fadt_gpa);
  CHECK(Load<uint64_t>(xsdt, 44) == set.madt_gpa);

  const auto fadt = table(set.fadt_gpa, "FACP");
  CHECK(fadt.size() == 276);
  CHECK(Load<uint8_t>(fadt, 8) == 6);
  CHECK(Load<uint32_t>(fadt, 36) == 0);  // FIRMWARE_CTRL: X_ only
  CHECK(Load<uint32_t>(fadt, 40) == 0);  // DSDT: X_ only
  CHECK(Load<uint16_t>(fadt, 46) == 9);  // SCI_INT
  CHECK(Load<uint32_t>(fadt, 48) == 0);  // SMI_CMD: always ACPI mode
  CHECK(Load<uint32_t>(fadt, 56) == 0x400);
  CHECK(Load<uint32_t>(fadt, 64) == 0x404);
  CHECK(Load<uint8_t>(fadt, 88) == 4);
  CHECK(Load<uint8_t>(fadt, 89) == 2);
  CHECK((Load<uint32_t>(fadt, 112) & (1u << 20)) == 0);  // not hardware-reduced
  CHECK(Load<uint64_t>(fadt, 132) == set.facs_gpa);
  CHECK(Load<uint64_t>(fadt, 140) == set.dsdt_gpa);
  // X_PM1a_EVT_BLK / X_PM1a_CNT_BLK: System I/O GAS (§5.2.3.2).
  CHECK(Load<uint8_t>(fadt, 148) == 1);
  CHECK(Load<uint8_t>(fadt, 149) == 32);
  CHECK(Load<uint64_t>(fadt, 152) == 0x400);
  CHECK(Load<uint8_t>(fadt, 172) == 1);
  CHECK(Load<uint8_t>(fadt, 173) == 16);
  CHECK(Load<uint64_t>(fadt, 176) == 0x404);

  // FACS (§5.2.10): 64-byte aligned, no checksum.
  const size_t facs_at = Offset(set.facs_gpa);
  CHECK(set.facs_gpa % 64 == 0);
  CHECK(Text(bytes, facs_at, 4) == "FACS");
  CHECK(Load<uint32_t>(bytes, facs_at + 4) == 64);

  // DSDT: Name (_S5, Package (4) {5, 5, 0, 0}) after the header.
  const auto dsdt = table(set.dsdt_gpa, "DSDT");
  const std::array<uint8_t, 14> aml{0x08, '_', 'S', '5', '_', 0x12, 0x08, 0x04,
                                    0x0A, 5,   0x0A, 5,   0x00, 0x00};
  REQUIRE(dsdt.size() == 36 + aml.size());
  for (size_t i = 0; i < aml.size(); ++i) CHECK(Load<uint8_t>(dsdt, 36 + i) == aml[i]);
  CHECK(shim::acpi::kS5SleepType == 5);

  // MADT: the host's, byte for byte.
  const auto madt_out = table(set.madt_gpa, "APIC");
  REQUIRE(madt_out.size() == madt.size());
  CHECK(std::memcmp(madt_out.data(), madt.data(), madt.size()) == 0);
}

TEST_CASE("ACPI tables: a bad MADT, misalignment or too little room is refused") {
  std::vector<std::byte> out(0x3000);
  auto madt = Madt();
  CHECK(shim::acpi::CheckMadt(madt).ok());
  CHECK(shim::acpi::CheckMadt(madt).value() == madt.size());
  CHECK_FALSE(shim::acpi::BuildAcpiTables(out, kGpa + 16, madt).ok());
  CHECK_FALSE(shim::acpi::BuildAcpiTables(std::span(out).first(0x200), kGpa, madt).ok());
  CHECK_FALSE(shim::acpi::CheckMadt(std::span(madt).first(40)).ok());

  auto broken = madt;
  broken[50] = std::byte{1};  // checksum no longer zero
  CHECK(std::string(shim::acpi::CheckMadt(broken).status().message()) == "madt: bad checksum");
  broken = madt;
  broken[0] = std::byte{'X'};
  CHECK(std::string(shim::acpi::CheckMadt(broken).status().message()) ==
        "madt: no APIC signature");
  broken = madt;
  REQUIRE(shim::StoreLe<uint32_t>(std::span(broken), 4, 4096));  // longer than the span
  CHECK(std::string(shim::acpi::CheckMadt(broken).status().message()) ==
        "madt: length outside the parameter");
  REQUIRE(shim::StoreLe<uint32_t>(std::span(broken), 4, 8));  // shorter than a header
  CHECK_FALSE(shim::acpi::CheckMadt(broken).ok());
}
