#include "acpi_tables.h"

#include <initializer_list>
#include <string_view>

#include "acpi_madt.h"
#include "base/le_bytes.h"
#include "bootloader/acpi_tables.h"
#include "tpm/crb.h"
#include "tpm/platform.h"

namespace loader::vtl0 {
namespace {

using Aml = std::vector<std::byte>;

// AML opcodes and prefixes (ACPI 6.5 §20.2.5, §20.3).
constexpr uint8_t kZeroOp = 0x00, kOneOp = 0x01, kNameOp = 0x08, kBytePrefix = 0x0A,
                  kWordPrefix = 0x0B, kDWordPrefix = 0x0C, kStringPrefix = 0x0D,
                  kQWordPrefix = 0x0E, kScopeOp = 0x10, kBufferOp = 0x11, kMethodOp = 0x14,
                  kExtOpPrefix = 0x5B, kOpRegionOp = 0x80, kFieldOp = 0x81, kDeviceOp = 0x82,
                  kLEqualOp = 0x93, kIfOp = 0xA0, kReturnOp = 0xA4, kRootChar = 0x5C;
// OperationRegion space and Field flags (§19.6.100, §19.6.48): system
// memory; DWordAcc, NoLock, Preserve.
constexpr uint8_t kRegionSystemMemory = 0x00, kFieldDWordAccess = 0x03;
// Resource descriptors (ACPI 6.5 §6.4.2): small items, tag byte =
// type << 3 | length.
constexpr uint8_t kIoPortDescriptor = 0x47;       // type 8, 7 bytes (§6.4.2.5)
constexpr uint8_t kIrqNoFlagsDescriptor = 0x22;   // type 4, 2 bytes (§6.4.2.1)
constexpr uint8_t kEndTag = 0x79;                 // type 0xF, 1 byte (§6.4.2.9)
// Large items (§6.4.3): Word and DWord Address Space Descriptors.
constexpr uint8_t kMemory32FixedDescriptor = 0x86;      // §6.4.3.4
constexpr uint8_t kDWordAddressSpaceDescriptor = 0x87;  // §6.4.3.5.2
constexpr uint8_t kWordAddressSpaceDescriptor = 0x88;   // §6.4.3.5.3
constexpr uint8_t kResourceTypeMemory = 0, kResourceTypeBusNumber = 2;
// General flags: bit 0 clear = the bridge produces the range for its
// children; bits 2 and 3 = minimum and maximum fixed.
constexpr uint8_t kProducerFixedRange = 0x0C;
constexpr uint8_t kMemoryReadWrite = 0x01;  // type-specific: writable, non-cacheable
constexpr uint8_t kIoDecode16 = 0x01;
constexpr uint8_t kCom1PortCount = 8;
// _STA bits (§6.3.7): present, enabled, shown in UI, functioning.
constexpr uint8_t kStaPresentAndWorking = 0x0F;

void Append(Aml& out, std::initializer_list<uint8_t> bytes) {
  for (uint8_t b : bytes) out.push_back(static_cast<std::byte>(b));
}

void Append(Aml& out, const Aml& more) { out.insert(out.end(), more.begin(), more.end()); }

// `value`'s low `bytes` bytes, least significant first (AML and resource
// descriptors are little-endian).
void AppendLe(Aml& out, uint64_t value, size_t bytes) {
  for (size_t i = 0; i < bytes; ++i) Append(out, {static_cast<uint8_t>(value >> (8 * i))});
}

void AppendText(Aml& out, std::string_view text) {
  for (char c : text) out.push_back(static_cast<std::byte>(static_cast<unsigned char>(c)));
}

// §20.2.4: PkgLength counts itself and what follows. One byte up to 63;
// otherwise bits 7-6 of the lead byte give 1-3 follow bytes, its bits 3-0
// the low nibble, the follow bytes the rest, least significant first.
Aml WithPkgLength(const Aml& payload) {
  Aml out;
  for (size_t follow = 0; follow <= 3; ++follow) {
    const size_t total = payload.size() + 1 + follow;
    if (follow == 0 && total > 0x3F) continue;
    if (follow > 0 && total >= (size_t{1} << (4 + 8 * follow))) continue;
    if (follow == 0) {
      Append(out, {static_cast<uint8_t>(total)});
    } else {
      Append(out, {static_cast<uint8_t>((follow << 6) | (total & 0xF))});
      for (size_t i = 0; i < follow; ++i)
        Append(out, {static_cast<uint8_t>(total >> (4 + 8 * i))});
    }
    Append(out, payload);
    return out;
  }
  return {};  // FIXME: > 256 MiB of AML cannot be encoded; never built here.
}

Aml Integer(uint64_t value) {
  Aml out;
  if (value == 0) {
    Append(out, {kZeroOp});
  } else if (value == 1) {
    Append(out, {kOneOp});
  } else {
    size_t bytes = 8;
    uint8_t prefix = kQWordPrefix;
    if (value <= 0xFF) {
      bytes = 1, prefix = kBytePrefix;
    } else if (value <= 0xFFFF) {
      bytes = 2, prefix = kWordPrefix;
    } else if (value <= 0xFFFFFFFF) {
      bytes = 4, prefix = kDWordPrefix;
    }
    Append(out, {prefix});
    AppendLe(out, value, bytes);
  }
  return out;
}

// Name (NAME, value): NameOp NameSeg DataRefObject (§20.2.5.1).
Aml Name(std::string_view seg, const Aml& value) {
  Aml out;
  Append(out, {kNameOp});
  AppendText(out, seg);
  Append(out, value);
  return out;
}

Aml String(std::string_view text) {
  Aml out;
  Append(out, {kStringPrefix});
  AppendText(out, text);
  Append(out, {0});
  return out;
}

// ResourceTemplate () { ... }: a Buffer holding the descriptors and an End
// Tag whose checksum 0 means "treat as valid" (§6.4.2.9).
Aml ResourceTemplate(const Aml& descriptors) {
  Aml list = descriptors;
  Append(list, {kEndTag, 0});
  Aml payload = Integer(list.size());
  Append(payload, list);
  Aml out;
  Append(out, {kBufferOp});
  Append(out, WithPkgLength(payload));
  return out;
}

// EisaId ("PNP0501") (§19.6.35): three letters in 5 bits each, then four
// hex digits; stored big-endian in a DWord.
uint32_t EisaId(std::string_view id) {
  auto hex = [](char c) -> uint32_t {
    return static_cast<uint32_t>(c <= '9' ? c - '0' : c - 'A' + 10);
  };
  const uint32_t vendor = (static_cast<uint32_t>(id[0] - '@') << 10) |
                          (static_cast<uint32_t>(id[1] - '@') << 5) |
                          static_cast<uint32_t>(id[2] - '@');
  const uint32_t product = (hex(id[3]) << 12) | (hex(id[4]) << 8) | (hex(id[5]) << 4) | hex(id[6]);
  const uint32_t big = (vendor << 16) | product;
  return __builtin_bswap32(big);
}

Aml Device(std::string_view seg, const Aml& body) {
  Aml payload;
  AppendText(payload, seg);
  Append(payload, body);
  Aml out;
  Append(out, {kExtOpPrefix, kDeviceOp});
  Append(out, WithPkgLength(payload));
  return out;
}

// DWordMemory (§6.4.3.5.2): a read/write memory window the device
// produces for its children, fixed at [base, base + bytes).
void AppendDWordMemoryWindow(Aml& out, uint64_t base, uint64_t bytes) {
  Append(out, {kDWordAddressSpaceDescriptor, 23, 0, kResourceTypeMemory, kProducerFixedRange,
               kMemoryReadWrite});
  const auto last = static_cast<uint32_t>(base + bytes - 1);
  for (uint32_t value : {uint32_t{0}, static_cast<uint32_t>(base), last, uint32_t{0},
                         static_cast<uint32_t>(bytes)})
    AppendLe(out, value, 4);
}

// Device (VMOD) { Device (VMBS) }: the VMBus device inside a module
// device holding its MMIO window, as Hyper-V's firmware has it.
Aml VmbusDevices() {
  Aml vmbus = Name("_HID", String("VMBUS"));
  Append(vmbus, Name("_UID", Integer(0)));
  Append(vmbus, Name("_STA", Integer(kStaPresentAndWorking)));
  Append(vmbus, Name("_CRS", ResourceTemplate({})));
  Aml window;
  AppendDWordMemoryWindow(window, kVmbusMmioWindow.mmio_base, kVmbusMmioWindow.mmio_bytes);
  Aml module = Name("_HID", String("ACPI0004"));
  Append(module, Name("_UID", Integer(0)));
  Append(module, Name("_STA", Integer(kStaPresentAndWorking)));
  Append(module, Name("_CRS", ResourceTemplate(window)));
  Append(module, Device("VMBS", vmbus));
  return Device("VMOD", module);
}

Aml Com1Device() {
  Aml resources;
  Append(resources, {kIoPortDescriptor, kIoDecode16, kCom1Port & 0xFF, kCom1Port >> 8,
                     kCom1Port & 0xFF, kCom1Port >> 8, 1, kCom1PortCount});
  Append(resources, {kIrqNoFlagsDescriptor, 1u << kCom1Irq, 0});
  Aml body = Name("_HID", Integer(EisaId("PNP0501")));
  Append(body, Name("_UID", Integer(1)));
  Append(body, Name("_STA", Integer(kStaPresentAndWorking)));
  Append(body, Name("_CRS", ResourceTemplate(resources)));
  return Device("UAR1", body);
}

// Device (PCI0): the PCI host bridge of hcl-loader's --disk-vtl0 bus
// (PCI Firmware 3.2 §4.1.1; Linux drivers/acpi/pci_root.c): _HID PNP0A03,
// _UID 0, _BBN 0, and _CRS: bus 0 only, the 0xCF8-0xCFF configuration
// ports it decodes, and the memory window its BARs lie in. No _PRT: the
// functions behind it use MSI-X only. No MCFG: configuration goes through
// the 0xCF8 mechanism (arch/x86/pci/direct.c).
Aml PciRootDevice(const MmioWindow& window) {
  Aml resources;
  Append(resources, {kWordAddressSpaceDescriptor, 13, 0, kResourceTypeBusNumber,
                     kProducerFixedRange, 0});
  for (uint16_t value : {uint16_t{0}, uint16_t{0}, uint16_t{0}, uint16_t{0}, uint16_t{1}})
    AppendLe(resources, value, 2);
  Append(resources, {kIoPortDescriptor, kIoDecode16, 0xF8, 0x0C, 0xF8, 0x0C, 1, 8});
  AppendDWordMemoryWindow(resources, window.mmio_base, window.mmio_bytes);
  Aml body = Name("_HID", Integer(EisaId("PNP0A03")));
  Append(body, Name("_UID", Integer(0)));
  Append(body, Name("_BBN", Integer(0)));
  Append(body, Name("_STA", Integer(kStaPresentAndWorking)));
  Append(body, Name("_CRS", ResourceTemplate(resources)));
  return Device("PCI0", body);
}

// Memory32Fixed (§6.4.3.4): read/write, base, length.
void AppendMemory32Fixed(Aml& out, uint32_t base, uint32_t length) {
  Append(out, {kMemory32FixedDescriptor, 9, 0, kMemoryReadWrite});
  for (uint32_t value : {base, length}) AppendLe(out, value, 4);
}

// The TPM's _STA reads the CRB's interface ID register (TCG PC Client
// PTP §6.5.3.6, CRB_INTF_ID, locality 0 + 0x30): hcl answers it once its
// vTPM runs; with no vTPM behind the registers (a guest state that could
// not be opened) VTL0 reads all-ones, and the device is absent (§6.3.7:
// _STA 0), so VTL0's tpm_crb does not probe a TPM that is not there:
//   OperationRegion (TPMR, SystemMemory, kCrbBase + 0x30, 4)
//   Field (TPMR, DWordAcc, NoLock, Preserve) { INTF, 32 }
//   Method (_STA) { If (LEqual (INTF, 0xFFFFFFFF)) { Return (0) } Return (0x0F) }
Aml TpmStatusMethod() {
  Aml out;
  Append(out, {kExtOpPrefix, kOpRegionOp});
  AppendText(out, "TPMR");
  Append(out, {kRegionSystemMemory});
  Append(out, Integer(static_cast<uint32_t>(tpm::kCrbBase + tpm::CrbInterface::kIntfId)));
  Append(out, Integer(4));
  Aml field;
  AppendText(field, "TPMR");
  Append(field, {kFieldDWordAccess});
  AppendText(field, "INTF");
  Append(field, {32});  // the named field's bit length (a one-byte PkgLength)
  Append(out, {kExtOpPrefix, kFieldOp});
  Append(out, WithPkgLength(field));
  Aml absent;  // If (LEqual (INTF, 0xFFFFFFFF)) { Return (Zero) }
  Append(absent, {kLEqualOp});
  AppendText(absent, "INTF");
  Append(absent, Integer(0xFFFFFFFF));
  Append(absent, {kReturnOp, kZeroOp});
  Aml method;
  AppendText(method, "_STA");
  Append(method, {0});  // no arguments, not serialized
  Append(method, {kIfOp});
  Append(method, WithPkgLength(absent));
  Append(method, {kReturnOp});
  Append(method, Integer(kStaPresentAndWorking));
  Append(out, {kMethodOp});
  Append(out, WithPkgLength(method));
  return out;
}

// Device (TPM0): the vTPM's CRB (TCG PC Client PTP §6.5.3; Linux
// drivers/char/tpm/tpm_crb.c binds "MSFT0101"). Locality 0's register page,
// then the command/response buffer in VTL0 RAM, which tpm_crb maps from
// this resource (tpm-attestation.md §1.2 probe steps 2-4).
Aml TpmDevice() {
  Aml resources;
  AppendMemory32Fixed(resources, static_cast<uint32_t>(tpm::kCrbBase),
                      static_cast<uint32_t>(tpm::kCrbLocalityStride));
  AppendMemory32Fixed(resources, static_cast<uint32_t>(tpm::kCrbBufferGpa),
                      tpm::kCrbBufferBytes);
  Aml body = Name("_HID", String("MSFT0101"));
  Append(body, Name("_UID", Integer(1)));
  Append(body, TpmStatusMethod());
  Append(body, Name("_CRS", ResourceTemplate(resources)));
  return Device("TPM0", body);
}

}  // namespace

// TCG ACPI Specification 1.3 §8.3 (TPM2 table, revision 4), as Linux's
// struct acpi_table_tpm2 + acpi_tpm2_phy read it.
std::vector<std::byte> Tpm2TableBody() {
  std::vector<std::byte> body(40);
  bool ok = base::StoreLe<uint16_t>(body, 0, 0) &&  // platform class: client
            base::StoreLe<uint64_t>(body, 4, tpm::kCrbBase + tpm::kCrbControlAreaOffset) &&
            base::StoreLe<uint32_t>(body, 12, 7) &&  // start method: CRB
            // 12 bytes of start-method parameters, zero
            base::StoreLe<uint32_t>(body, 28, tpm::kEventLogBytes) &&
            base::StoreLe<uint64_t>(body, 32, tpm::kEventLogGpa);
  (void)ok;  // fixed offsets inside a 40-byte body
  return body;
}

std::vector<std::byte> DsdtDevicesAml(std::optional<MmioWindow> pci, bool tpm) {
  // Scope (\_SB) { ... }: ScopeOp PkgLength NameString TermList.
  Aml payload;
  Append(payload, {kRootChar});
  AppendText(payload, "_SB_");
  Append(payload, VmbusDevices());
  Append(payload, Com1Device());
  if (pci) Append(payload, PciRootDevice(*pci));
  if (tpm) Append(payload, TpmDevice());
  Aml out;
  Append(out, {kScopeOp});
  Append(out, WithPkgLength(payload));
  return out;
}

base::Result<AcpiTables> BuildAcpiTables(uint64_t gpa, uint32_t vp_count,
                                         std::optional<MmioWindow> pci, bool tpm) {
  if (vp_count == 0 || vp_count > kMaxVps)
    return base::Error::Format("vtl0 acpi: %u VPs, want 1..%u", vp_count, kMaxVps);
  MadtConfig madt_config;
  madt_config.vp_count = vp_count;
  madt_config.io_apic = IoApicConfig{kIoApicId, kIoApicAddress, 0};
  std::vector<std::byte> madt(TRY(MadtSize(madt_config)));
  TRY(WriteMadt(madt, madt_config));
  if (pci && (pci->mmio_bytes == 0 || pci->mmio_base + pci->mmio_bytes > (uint64_t{1} << 32) ||
              pci->mmio_base + pci->mmio_bytes < pci->mmio_base))
    return base::Error("vtl0 acpi: the PCI window must lie below 4 GiB");
  const Aml devices = DsdtDevicesAml(pci, tpm);
  const std::vector<std::byte> tpm2_body = tpm ? Tpm2TableBody() : std::vector<std::byte>();
  shim::acpi::ExtraTable tpm2{{'T', 'P', 'M', '2', 0}, 4, tpm2_body};

  // Room for the fixed tables (well under 1 KiB with their alignment), the
  // DSDT's devices and the MADT.
  AcpiTables tables;
  tables.gpa = gpa;
  tables.bytes.resize(0x800 + devices.size() + madt.size() + tpm2_body.size());
  auto built = shim::acpi::BuildAcpiTables(tables.bytes, gpa, madt, devices, tpm2);
  if (!built.ok()) return base::Error::Format("vtl0 acpi: %s", built.status().message());
  const shim::acpi::TableSet& set = built.value();
  tables.bytes.resize(set.bytes_used);
  tables.rsdp_gpa = set.rsdp_gpa;

  const std::span<const std::byte> bytes(tables.bytes);
  for (uint64_t table_gpa : {set.rsdp_gpa, set.xsdt_gpa, set.fadt_gpa, set.facs_gpa,
                             set.dsdt_gpa, set.madt_gpa, set.extra_gpa}) {
    if (table_gpa == 0) continue;
    AcpiTableSpan span;
    span.offset = static_cast<size_t>(table_gpa - gpa);
    uint32_t length = shim::acpi::kRsdpBytes;
    if (table_gpa != set.rsdp_gpa && !base::LoadLe(bytes, span.offset + 4, length))
      return base::Error("vtl0 acpi: table outside the buffer");
    span.length = length;
    span.signature = "RSDP";
    if (table_gpa != set.rsdp_gpa)
      for (size_t i = 0; i < 4; ++i) span.signature[i] = static_cast<char>(bytes[span.offset + i]);
    tables.tables.push_back(std::move(span));
  }
  return tables;
}

}  // namespace loader::vtl0
