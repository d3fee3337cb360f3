#include "acpi_madt.h"

#include <string_view>

#include "base/checked.h"
#include "base/le_bytes_result.h"

namespace loader {
namespace {

// ACPI 6.5 §5.2.12, Table 5.19: the MADT of ACPI 6.5 is revision 6.
constexpr uint8_t kMadtRevision = 6;
constexpr size_t kMadtFixedBytes = kAcpiHeaderBytes + 8;  // + local APIC address, flags
// Interrupt controller structure types and lengths (§5.2.12, Table 5.21).
constexpr uint8_t kTypeLocalApic = 0, kLocalApicBytes = 8;
constexpr uint8_t kTypeIoApic = 1, kIoApicBytes = 12;
constexpr uint8_t kTypeLocalX2Apic = 9, kLocalX2ApicBytes = 16;
// Local APIC flags (Table 5.23): bit 0 Enabled.
constexpr uint32_t kLapicEnabled = 1u << 0;
// §5.2.12.12: "an x2APIC structure ... for processors with APIC ID >= 255".
constexpr uint32_t kFirstX2ApicId = 0xFF;

constexpr std::string_view kOemId = "HCLLDR";        // 6 bytes
constexpr std::string_view kOemTableId = "HCLMADT ";  // 8 bytes
constexpr std::string_view kCreatorId = "HCL ";       // 4 bytes

base::Result<void> StoreText(std::span<std::byte> out, size_t offset, std::string_view text) {
  if (!base::RangeFits(offset, text.size(), out.size()))
    return base::Error("ACPI text field overruns the table");
  for (size_t i = 0; i < text.size(); ++i)
    out[offset + i] = static_cast<std::byte>(static_cast<unsigned char>(text[i]));
  return base::Ok();
}

}  // namespace

uint8_t AcpiChecksum(std::span<const std::byte> table) {
  uint8_t sum = 0;
  for (std::byte b : table) sum = static_cast<uint8_t>(sum + static_cast<uint8_t>(b));
  return static_cast<uint8_t>(0x100 - sum);
}

base::Result<size_t> MadtSize(const MadtConfig& config) {
  if (config.vp_count == 0) return base::Error("MADT needs at least one processor");
  const uint32_t narrow = config.vp_count < kFirstX2ApicId ? config.vp_count : kFirstX2ApicId;
  const uint64_t wide = config.vp_count - narrow;
  const uint64_t bytes = kMadtFixedBytes + uint64_t{narrow} * kLocalApicBytes +
                         wide * kLocalX2ApicBytes + (config.io_apic ? kIoApicBytes : 0);
  if (bytes > UINT32_MAX) return base::Error("MADT larger than 4 GiB");
  return static_cast<size_t>(bytes);
}

base::Result<size_t> WriteMadt(std::span<std::byte> out, const MadtConfig& config) {
  const size_t length = TRY(MadtSize(config));
  if (length > out.size())
    return base::Error::Format("MADT for %u VPs needs %zu bytes, the parameter has %zu",
                               config.vp_count, length, out.size());
  const std::span<std::byte> table = out.first(length);
  for (std::byte& b : table) b = std::byte{0};

  // System description table header (§5.2.6, Table 5.4).
  TRY(StoreText(table, 0, "APIC"));
  TRY(base::StoreLeOrError<uint32_t>(table, 4, static_cast<uint32_t>(length)));
  TRY(base::StoreLeOrError<uint8_t>(table, 8, kMadtRevision));
  // 9: checksum, filled last.
  TRY(StoreText(table, 10, kOemId));
  TRY(StoreText(table, 16, kOemTableId));
  TRY(base::StoreLeOrError<uint32_t>(table, 24, 1));  // OEM revision
  TRY(StoreText(table, 28, kCreatorId));
  TRY(base::StoreLeOrError<uint32_t>(table, 32, 1));  // creator revision
  // MADT fields (Table 5.19). Flags 0: no PCAT_COMPAT, there are no 8259s.
  TRY(base::StoreLeOrError<uint32_t>(table, 36, config.local_apic_address));
  TRY(base::StoreLeOrError<uint32_t>(table, 40, 0));

  size_t at = kMadtFixedBytes;
  for (uint32_t vp = 0; vp < config.vp_count; ++vp) {
    const uint32_t apic_id = vp;
    if (apic_id < kFirstX2ApicId) {
      // Processor Local APIC (§5.2.12.2, Table 5.22).
      TRY(base::StoreLeOrError<uint8_t>(table, at + 0, kTypeLocalApic));
      TRY(base::StoreLeOrError<uint8_t>(table, at + 1, kLocalApicBytes));
      TRY(base::StoreLeOrError<uint8_t>(table, at + 2, static_cast<uint8_t>(vp)));  // processor UID
      TRY(base::StoreLeOrError<uint8_t>(table, at + 3, static_cast<uint8_t>(apic_id)));
      TRY(base::StoreLeOrError<uint32_t>(table, at + 4, kLapicEnabled));
      at += kLocalApicBytes;
    } else {
      // Processor Local x2APIC (§5.2.12.12, Table 5.35).
      TRY(base::StoreLeOrError<uint8_t>(table, at + 0, kTypeLocalX2Apic));
      TRY(base::StoreLeOrError<uint8_t>(table, at + 1, kLocalX2ApicBytes));
      TRY(base::StoreLeOrError<uint32_t>(table, at + 4, apic_id));
      TRY(base::StoreLeOrError<uint32_t>(table, at + 8, kLapicEnabled));
      TRY(base::StoreLeOrError<uint32_t>(table, at + 12, vp));  // ACPI processor UID
      at += kLocalX2ApicBytes;
    }
  }
  if (config.io_apic) {
    // I/O APIC (§5.2.12.3, Table 5.24).
    TRY(base::StoreLeOrError<uint8_t>(table, at + 0, kTypeIoApic));
    TRY(base::StoreLeOrError<uint8_t>(table, at + 1, kIoApicBytes));
    TRY(base::StoreLeOrError<uint8_t>(table, at + 2, config.io_apic->id));
    TRY(base::StoreLeOrError<uint32_t>(table, at + 4, config.io_apic->address));
    TRY(base::StoreLeOrError<uint32_t>(table, at + 8, config.io_apic->gsi_base));
    at += kIoApicBytes;
  }
  if (at != length) return base::Error("MADT length bookkeeping is wrong");
  TRY(base::StoreLeOrError<uint8_t>(table, 9, AcpiChecksum(table)));
  return length;
}

}  // namespace loader
