#include "acpi_tables.h"

#include "bytes.h"

namespace shim::acpi {
namespace {

constexpr char kOemId[] = "HCL   ";         // 6 bytes, space-padded (§5.2.6)
constexpr char kOemTableId[] = "HCLSHIM ";  // 8 bytes
constexpr char kCreatorId[] = "HCL ";       // 4 bytes

// Revisions (§5.2.5.3, §5.2.8, §5.2.9, §5.2.11.1; ACPI 6.5).
constexpr uint8_t kRsdpRevision = 2;
constexpr uint8_t kXsdtRevision = 1;
constexpr uint8_t kFadtRevision = 6;
constexpr uint8_t kFadtMinorRevision = 5;
constexpr uint8_t kDsdtRevision = 2;  // 2: AML integers are 64 bits
constexpr uint8_t kFacsVersion = 2;

// FADT field offsets (§5.2.9, Table 5.9).
constexpr size_t kFadtSciInt = 46;
constexpr size_t kFadtSmiCmd = 48;
constexpr size_t kFadtPm1aEvtBlk = 56;
constexpr size_t kFadtPm1aCntBlk = 64;
constexpr size_t kFadtPm1EvtLen = 88;
constexpr size_t kFadtPm1CntLen = 89;
constexpr size_t kFadtIapcBootArch = 109;
constexpr size_t kFadtFlags = 112;
constexpr size_t kFadtMinorVersion = 131;
constexpr size_t kFadtXFirmwareCtrl = 132;
constexpr size_t kFadtXDsdt = 140;
constexpr size_t kFadtXPm1aEvtBlk = 148;
constexpr size_t kFadtXPm1aCntBlk = 172;
// IA-PC boot architecture flags (§5.2.9.3, Table 5.11): bit 2 "VGA Not
// Present". Bit 1 (8042) clear: no keyboard controller; bit 0 (legacy
// devices) clear: nothing on an LPC bus to enumerate.
constexpr uint16_t kBootArchVgaNotPresent = 1u << 2;
// Fixed feature flags (§5.2.9, Table 5.10): WBINVD (bit 0, must be set),
// PROC_C1 (bit 2), PWR_BUTTON (bit 4) and SLP_BUTTON (bit 5) set = no
// fixed-hardware buttons. HW_REDUCED_ACPI (bit 20) clear.
constexpr uint32_t kFadtFlagsValue = (1u << 0) | (1u << 2) | (1u << 4) | (1u << 5);
// Generic Address Structure (§5.2.3.2, Table 5.1): space 1 System I/O;
// access size 2 = word.
constexpr uint8_t kGasSystemIo = 1;
constexpr uint8_t kGasAccessWord = 2;

// The DSDT's AML (ACPI 6.5 §20.2): at the root,
//   Name (_S5, Package (0x04) { 0x05, 0x05, Zero, Zero })
// DefName := NameOp(0x08) NameString; DefPackage := PackageOp(0x12)
// PkgLength NumElements PackageElementList; BytePrefix 0x0A; ZeroOp 0x00.
// PkgLength (one byte, §20.2.4) counts itself and what follows: 8.
// Elements: SLP_TYPa, SLP_TYPb, two reserved (§7.4.2).
constexpr uint8_t kDsdtAml[] = {
    0x08, '_', 'S', '5', '_',      // Name (_S5,
    0x12, 0x08, 0x04,              //   Package, PkgLength 8, 4 elements
    0x0A, kS5SleepType,            //   SLP_TYPa
    0x0A, kS5SleepType,            //   SLP_TYPb (no PM1b block: unused)
    0x00, 0x00,                    //   reserved
};

constexpr size_t AlignUp(size_t value, size_t alignment) {
  return (value + alignment - 1) / alignment * alignment;
}

bool StoreText(std::span<std::byte> out, size_t offset, const char* text, size_t length) {
  if (!Fits(offset, length, out.size())) return false;
  for (size_t i = 0; i < length; ++i) out[offset + i] = static_cast<std::byte>(text[i]);
  return true;
}

// The common header (§5.2.6, Table 5.4) with the checksum left 0.
bool StoreHeader(std::span<std::byte> table, const char (&signature)[5], uint8_t revision) {
  return StoreText(table, 0, signature, 4) &&
         StoreLe<uint32_t>(table, 4, static_cast<uint32_t>(table.size())) &&
         StoreLe<uint8_t>(table, 8, revision) && StoreText(table, 10, kOemId, 6) &&
         StoreText(table, 16, kOemTableId, 8) && StoreLe<uint32_t>(table, 24, 1) &&
         StoreText(table, 28, kCreatorId, 4) && StoreLe<uint32_t>(table, 32, 1);
}

bool Seal(std::span<std::byte> table) {
  return StoreLe<uint8_t>(table, 9, 0) && StoreLe<uint8_t>(table, 9, Checksum(table));
}

// A Generic Address Structure for an I/O port block (§5.2.3.2).
bool StoreIoGas(std::span<std::byte> table, size_t offset, uint16_t port, uint8_t bytes) {
  return StoreLe<uint8_t>(table, offset + 0, kGasSystemIo) &&
         StoreLe<uint8_t>(table, offset + 1, static_cast<uint8_t>(bytes * 8)) &&
         StoreLe<uint8_t>(table, offset + 2, 0) &&
         StoreLe<uint8_t>(table, offset + 3, kGasAccessWord) &&
         StoreLe<uint64_t>(table, offset + 4, port);
}

}  // namespace

uint8_t Checksum(std::span<const std::byte> bytes) {
  uint8_t sum = 0;
  for (std::byte b : bytes) sum = static_cast<uint8_t>(sum + static_cast<uint8_t>(b));
  return static_cast<uint8_t>(0x100 - sum);
}

Expected<size_t> CheckMadt(std::span<const std::byte> madt) {
  uint32_t length = 0;
  if (madt.size() < kMadtMinBytes || !LoadLe(madt, 4, length))
    return Status::Fail("madt: parameter too small");
  if (static_cast<char>(madt[0]) != 'A' || static_cast<char>(madt[1]) != 'P' ||
      static_cast<char>(madt[2]) != 'I' || static_cast<char>(madt[3]) != 'C')
    return Status::Fail("madt: no APIC signature");
  if (length < kMadtMinBytes || length > madt.size())
    return Status::Fail("madt: length outside the parameter");
  if (Checksum(madt.first(length)) != 0) return Status::Fail("madt: bad checksum");
  return static_cast<size_t>(length);
}

Expected<TableSet> BuildAcpiTables(std::span<std::byte> out, uint64_t out_gpa,
                                   std::span<const std::byte> madt,
                                   std::span<const std::byte> dsdt_extra_aml,
                                   const ExtraTable& extra) {
  if (out_gpa % 64 != 0) return Status::Fail("acpi: tables not 64-byte aligned");
  auto madt_length = CheckMadt(madt);
  if (!madt_length.ok()) return madt_length.status();

  const bool has_extra = !extra.body.empty();
  const size_t xsdt_bytes = kHeaderBytes + (has_extra ? 3 : 2) * 8;  // FADT, MADT[, extra]
  if (dsdt_extra_aml.size() > out.size() || extra.body.size() > out.size())
    return Status::Fail("acpi: tables do not fit");
  const size_t dsdt_bytes = kHeaderBytes + sizeof(kDsdtAml) + dsdt_extra_aml.size();
  // Layout: RSDP, XSDT, FACS (64-aligned), FADT, DSDT, MADT; each
  // table 16-aligned (the RSDP must be, §5.2.5.1).
  const size_t rsdp_at = 0;
  const size_t xsdt_at = AlignUp(rsdp_at + kRsdpBytes, 16);
  const size_t facs_at = AlignUp(xsdt_at + xsdt_bytes, 64);
  const size_t fadt_at = AlignUp(facs_at + kFacsBytes, 16);
  const size_t dsdt_at = AlignUp(fadt_at + kFadtBytes, 16);
  const size_t madt_at = AlignUp(dsdt_at + dsdt_bytes, 16);
  const size_t extra_at = AlignUp(madt_at + madt_length.value(), 16);
  const size_t end = has_extra ? extra_at + kHeaderBytes + extra.body.size()
                               : madt_at + madt_length.value();
  if (end > out.size()) return Status::Fail("acpi: tables do not fit");
  for (std::byte& b : out) b = std::byte{0};

  TableSet set;
  set.rsdp_gpa = out_gpa + rsdp_at;
  set.xsdt_gpa = out_gpa + xsdt_at;
  set.facs_gpa = out_gpa + facs_at;
  set.fadt_gpa = out_gpa + fadt_at;
  set.dsdt_gpa = out_gpa + dsdt_at;
  set.madt_gpa = out_gpa + madt_at;
  if (has_extra) set.extra_gpa = out_gpa + extra_at;
  set.bytes_used = end;

  // MADT: the host's, copied after the checks.
  const auto madt_out = out.subspan(madt_at, madt_length.value());
  for (size_t i = 0; i < madt_out.size(); ++i) madt_out[i] = madt[i];

  // The extra table: header, then the caller's body.
  bool extra_ok = true;
  if (has_extra) {
    const auto table = out.subspan(extra_at, kHeaderBytes + extra.body.size());
    char signature[5] = {extra.signature[0], extra.signature[1], extra.signature[2],
                         extra.signature[3], 0};
    extra_ok = StoreHeader(table, signature, extra.revision);
    for (size_t i = 0; extra_ok && i < extra.body.size(); ++i)
      table[kHeaderBytes + i] = extra.body[i];
    extra_ok = extra_ok && Seal(table);
  }

  // DSDT (§5.2.11.1): header, then the AML.
  const auto dsdt = out.subspan(dsdt_at, dsdt_bytes);
  bool ok = extra_ok && StoreHeader(dsdt, "DSDT", kDsdtRevision);
  for (size_t i = 0; ok && i < sizeof(kDsdtAml); ++i)
    ok = StoreLe<uint8_t>(dsdt, kHeaderBytes + i, kDsdtAml[i]);
  for (size_t i = 0; ok && i < dsdt_extra_aml.size(); ++i)
    dsdt[kHeaderBytes + sizeof(kDsdtAml) + i] = dsdt_extra_aml[i];
  ok = ok && Seal(dsdt);

  // FACS (§5.2.10, Table 5.14): no checksum; hardware signature, waking
  // vectors, global lock and flags all 0.
  const auto facs = out.subspan(facs_at, kFacsBytes);
  ok = ok && StoreText(facs, 0, "FACS", 4) && StoreLe<uint32_t>(facs, 4, kFacsBytes) &&
       StoreLe<uint8_t>(facs, 32, kFacsVersion);

  // FADT (§5.2.9, Table 5.9). Only the 64-bit X_ pointers to FACS and DSDT
  // are set: "if X_FIRMWARE_CTRL contains a non-zero value then
  // FIRMWARE_CTRL must be zero" (and the same for X_DSDT/DSDT). The PM1
  // blocks appear in both the 32-bit and the X_ GAS fields, equal.
  const auto fadt = out.subspan(fadt_at, kFadtBytes);
  ok = ok && StoreHeader(fadt, "FACP", kFadtRevision) &&
       StoreLe<uint16_t>(fadt, kFadtSciInt, kSciIrq) && StoreLe<uint32_t>(fadt, kFadtSmiCmd, 0) &&
       StoreLe<uint32_t>(fadt, kFadtPm1aEvtBlk, kPm1aEventPort) &&
       StoreLe<uint32_t>(fadt, kFadtPm1aCntBlk, kPm1aControlPort) &&
       StoreLe<uint8_t>(fadt, kFadtPm1EvtLen, kPm1EventBytes) &&
       StoreLe<uint8_t>(fadt, kFadtPm1CntLen, kPm1ControlBytes) &&
       StoreLe<uint16_t>(fadt, kFadtIapcBootArch, kBootArchVgaNotPresent) &&
       StoreLe<uint32_t>(fadt, kFadtFlags, kFadtFlagsValue) &&
       StoreLe<uint8_t>(fadt, kFadtMinorVersion, kFadtMinorRevision) &&
       StoreLe<uint64_t>(fadt, kFadtXFirmwareCtrl, set.facs_gpa) &&
       StoreLe<uint64_t>(fadt, kFadtXDsdt, set.dsdt_gpa) &&
       StoreIoGas(fadt, kFadtXPm1aEvtBlk, kPm1aEventPort, kPm1EventBytes) &&
       StoreIoGas(fadt, kFadtXPm1aCntBlk, kPm1aControlPort, kPm1ControlBytes) && Seal(fadt);

  // XSDT (§5.2.8): 64-bit pointers to the FADT and the MADT.
  const auto xsdt = out.subspan(xsdt_at, xsdt_bytes);
  ok = ok && StoreHeader(xsdt, "XSDT", kXsdtRevision) &&
       StoreLe<uint64_t>(xsdt, kHeaderBytes, set.fadt_gpa) &&
       StoreLe<uint64_t>(xsdt, kHeaderBytes + 8, set.madt_gpa) &&
       (!has_extra || StoreLe<uint64_t>(xsdt, kHeaderBytes + 16, set.extra_gpa)) && Seal(xsdt);

  // RSDP (§5.2.5.3, Table 5.3): revision 2, no RSDT. The first checksum
  // covers bytes 0-19 (the ACPI 1.0 part), the extended one all 36.
  const auto rsdp = out.subspan(rsdp_at, kRsdpBytes);
  ok = ok && StoreText(rsdp, 0, "RSD PTR ", 8) && StoreText(rsdp, 9, kOemId, 6) &&
       StoreLe<uint8_t>(rsdp, 15, kRsdpRevision) && StoreLe<uint32_t>(rsdp, 16, 0) &&
       StoreLe<uint32_t>(rsdp, 20, kRsdpBytes) && StoreLe<uint64_t>(rsdp, 24, set.xsdt_gpa);
  ok = ok && StoreLe<uint8_t>(rsdp, 8, Checksum(rsdp.first(20))) &&
       StoreLe<uint8_t>(rsdp, 32, Checksum(rsdp));
  if (!ok) return Status::Fail("acpi: table field out of range");
  return set;
}

}  // namespace shim::acpi
