#include "acpi_tables.h"

#include <doctest/doctest.h>

#include <string>

#include "base/le_bytes.h"

namespace {

template <typename T>
T Load(std::span<const std::byte> bytes, size_t offset) {
  T value{};
  REQUIRE(base::LoadLe(bytes, offset, value));
  return value;
}

uint8_t Sum(std::span<const std::byte> bytes) {
  uint8_t sum = 0;
  for (std::byte b : bytes) sum = static_cast<uint8_t>(sum + static_cast<uint8_t>(b));
  return sum;
}

const loader::vtl0::AcpiTableSpan& Find(const loader::vtl0::AcpiTables& tables,
                                        const std::string& signature) {
  for (const auto& table : tables.tables)
    if (table.signature == signature) return table;
  FAIL("no table " << signature);
  return tables.tables.front();
}

}  // namespace

TEST_CASE("vtl0 ACPI: every table in the buffer, checksummed, linked from the RSDP") {
  constexpr uint64_t kGpa = 0x40000;
  for (uint32_t vps : {1u, 4u, 300u}) {
    auto built = loader::vtl0::BuildAcpiTables(kGpa, vps);
    REQUIRE_MESSAGE(built.ok(), built.error().message());
    const auto& tables = built.value();
    const std::span<const std::byte> bytes(tables.bytes);
    REQUIRE(tables.tables.size() == 6);
    for (const auto& table : tables.tables) {
      INFO(table.signature);
      REQUIRE(table.offset + table.length <= bytes.size());
      if (table.signature == "FACS") continue;  // no checksum (§5.2.10)
      if (table.signature == "RSDP") {
        CHECK(Sum(bytes.subspan(table.offset, 20)) == 0);
        CHECK(table.length == 36);
      }
      CHECK(Sum(bytes.subspan(table.offset, table.length)) == 0);
    }
    const auto& rsdp = Find(tables, "RSDP");
    CHECK(tables.rsdp_gpa == kGpa + rsdp.offset);
    const auto& xsdt = Find(tables, "XSDT");
    CHECK(Load<uint64_t>(bytes, rsdp.offset + 24) == kGpa + xsdt.offset);
    CHECK(Load<uint64_t>(bytes, xsdt.offset + 36) == kGpa + Find(tables, "FACP").offset);
    CHECK(Load<uint64_t>(bytes, xsdt.offset + 44) == kGpa + Find(tables, "APIC").offset);
    const auto& fadt = Find(tables, "FACP");
    CHECK(Load<uint64_t>(bytes, fadt.offset + 132) == kGpa + Find(tables, "FACS").offset);
    CHECK(Load<uint64_t>(bytes, fadt.offset + 140) == kGpa + Find(tables, "DSDT").offset);
    CHECK(Load<uint16_t>(bytes, fadt.offset + 46) == 9);  // SCI
    CHECK(Load<uint32_t>(bytes, fadt.offset + 56) == 0x400);
    CHECK(Load<uint32_t>(bytes, fadt.offset + 64) == 0x404);
    CHECK((Load<uint16_t>(bytes, fadt.offset + 109) & 0x2) == 0);  // no 8042
    CHECK((Load<uint16_t>(bytes, fadt.offset + 109) & 0x4) != 0);  // no VGA
    CHECK((Load<uint32_t>(bytes, fadt.offset + 112) & (1u << 20)) == 0);  // not HW-reduced
    // MADT: header + 8, a local APIC (8) or x2APIC (16) per VP, the IOAPIC.
    const auto& madt = Find(tables, "APIC");
    const size_t narrow = vps < 255 ? vps : 255;
    CHECK(madt.length == 44 + narrow * 8 + (vps - narrow) * 16 + 12);
    CHECK(Load<uint32_t>(bytes, madt.offset + 40) == 0);  // no PCAT_COMPAT
    const size_t io_apic = madt.offset + madt.length - 12;
    CHECK(Load<uint8_t>(bytes, io_apic) == 1);
    CHECK(Load<uint32_t>(bytes, io_apic + 4) == 0xFEC00000);
    CHECK(Load<uint32_t>(bytes, io_apic + 8) == 0);
    const auto& dsdt = Find(tables, "DSDT");
    CHECK(dsdt.length == 36 + 14 + loader::vtl0::DsdtDevicesAml().size());
  }
  CHECK_FALSE(loader::vtl0::BuildAcpiTables(0x40000, 0).ok());
  CHECK_FALSE(loader::vtl0::BuildAcpiTables(0x40000, 100000).ok());
  CHECK_FALSE(loader::vtl0::BuildAcpiTables(0x40010, 1).ok());  // FACS needs 64-byte alignment
}

TEST_CASE("vtl0 ACPI: the DSDT's devices are a well-formed Scope (\\_SB)") {
  const auto aml = loader::vtl0::DsdtDevicesAml();
  const std::span<const std::byte> bytes(aml);
  REQUIRE(aml.size() > 64);
  CHECK(Load<uint8_t>(bytes, 0) == 0x10);  // ScopeOp
  // Two-byte PkgLength (§20.2.4): lead byte 0b01xx_nnnn, covering the rest.
  const uint8_t lead = Load<uint8_t>(bytes, 1);
  REQUIRE((lead >> 6) == 1);
  const size_t length = (lead & 0xF) | (size_t{Load<uint8_t>(bytes, 2)} << 4);
  CHECK(length == aml.size() - 1);
  CHECK(Load<uint8_t>(bytes, 3) == 0x5C);  // '\'
  std::string text;
  for (std::byte b : aml) text += static_cast<char>(b);
  CHECK(text.find("_SB_") == 4);
  CHECK(text.find("VMBS") != std::string::npos);
  CHECK(text.find(std::string("\x0D" "VMBUS\0", 7)) != std::string::npos);
  // COM1's _CRS: IO (Decode16, 0x3F8, 0x3F8, 1, 8), IRQNoFlags {4}, End Tag.
  CHECK(text.find(std::string("\x47\x01\xF8\x03\xF8\x03\x01\x08\x22\x10\x00\x79\x00", 13)) !=
        std::string::npos);
  // EisaId ("PNP0501") = 0x0105D041.
  CHECK(text.find(std::string("\x0C\x41\xD0\x05\x01", 5)) != std::string::npos);
}
