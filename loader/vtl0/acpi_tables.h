// VTL0's ACPI tables (ACPI 6.5 §5.2), as hcl-loader hands them to the
// stock Linux it boots in VTL0: RSDP (revision 2) -> XSDT -> FADT, MADT;
// FADT -> FACS, DSDT.
//
// RSDP, XSDT, FADT and FACS are the boot shim's (bootloader/acpi_tables.h,
// shared code): the same fixed hardware (PM1a event block at 0x400,
// control at 0x404, S5 = SLP_TYP 5, SCI on ISA IRQ 9, not hardware-reduced,
// IAPC_BOOT_ARCH: no 8042, no VGA). The MADT is hcl-loader's
// (loader/acpi_madt.h): a local APIC per VP (APIC ID = VP index), the
// IOAPIC the paravisor emulates for VTL0 (ID 0 at 0xFEC00000, GSI base 0,
// 24 pins), flags without PCAT_COMPAT (no 8259s). No Interrupt Source
// Overrides: there is no PIT whose IRQ 0 needs moving to GSI 2, COM1 is
// ISA IRQ 4 = GSI 4 edge/high (the ISA default), and the SCI without an
// override gets Linux's default for it, level/active-low (arch/x86/kernel/
// acpi/boot.c, acpi_sci_ioapic_setup).
//
// The DSDT holds \_S5 (the shim's) and, under \_SB:
//   Device (VMOD) { _HID "ACPI0004", _UID 0, _STA 0x0F,
//                   _CRS { DWordMemory kVmbusMmioWindow },
//     Device (VMBS) { _HID "VMBUS", _UID 0, _STA 0x0F, _CRS {} } }
//     Linux's hv_vmbus binds only through ACPI (drivers/hv/vmbus_drv.c,
//     vmbus_acpi_device_ids "VMBUS"/"VMBus"), walks the device's _CRS, then
//     its ancestors' until one gives MMIO ranges (for vPCI and the
//     framebuffer). Hyper-V's VMBus sits in such a module device (VMOD);
//     so must ours: Linux 5.10's walk goes on up to the ACPI root object,
//     whose handle (-1) it dereferences (an oops in hv_vmbus's probe;
//     later kernels stop below the root).
//   Device (UAR1) { _HID PNP0501, _UID 1, _CRS { IO 0x3F8 len 8, IRQ 4 } }
//     COM1, which the paravisor emulates; 8250_pnp finds it here.
//   Device (TPM0) { _HID "MSFT0101", _UID 1, _STA 0x0F,
//                   _CRS { Memory32Fixed RW 0xFED40000 len 0x1000,
//                          Memory32Fixed RW <CRB buffer> len 0x1000 } }
//     the paravisor's vTPM (tpm/platform.h), with the TPM2 table
//     (tpm-attestation.md §2.1, revision 4: control area at _CRS start +
//     0x40, start method 7 = CRB, LAML/LASA = the event log): tpm_crb binds
//     with no kernel options and finds its buffer inside the second
//     resource, the event log through LASA.
// The AML is encoded here (ACPI 6.5 §20.2), not compiled by iasl; the test
// loader/vtl0/test-vtl0-acpi-iasl disassembles it.
//
// Sans I/O: bytes out; the caller copies them to `gpa` and marks the pages
// ACPI in e820 (linux_loader.h does both).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "base/result.h"

namespace loader::vtl0 {

// The IOAPIC the paravisor emulates for VTL0.
inline constexpr uint32_t kIoApicAddress = 0xFEC00000;
inline constexpr uint8_t kIoApicId = 0;
inline constexpr uint32_t kIoApicPins = 24;
inline constexpr uint16_t kCom1Port = 0x3F8;
inline constexpr uint8_t kCom1Irq = 4;

struct AcpiTableSpan {
  std::string signature;  // "RSDP" for the RSDP, else the table's 4 characters
  size_t offset = 0;      // from the start of bytes
  size_t length = 0;
};

struct AcpiTables {
  uint64_t gpa = 0;       // where bytes go in VTL0
  uint64_t rsdp_gpa = 0;  // boot_params.acpi_rsdp_addr
  std::vector<std::byte> bytes;
  std::vector<AcpiTableSpan> tables;  // RSDP, XSDT, FACP, FACS, DSDT, APIC
};

// The tables for `vp_count` VPs (1..kMaxVps), to be placed at `gpa`
// (64-byte aligned).
inline constexpr uint32_t kMaxVps = 1024;
// A range of guest-physical addresses a device hands its children: with
// `pci`, the DSDT also describes a PCI host bridge (Device PCI0) whose BARs
// lie in that window (hcl-loader's --disk-vtl0 bus); VMOD has its own.
struct MmioWindow {
  uint64_t mmio_base = 0;
  uint64_t mmio_bytes = 0;
};
// hcl-loader's VTL0 PCI bus (--disk-vtl0): 256 MiB below the IOAPIC, above
// any RAM (--mem is at most 3 GiB: memory_layout.h kMaxLowRamBytes).
inline constexpr MmioWindow kVtl0PciWindow{0xE0000000, 0x10000000};
// VMOD's MMIO window, for VMBus devices that need one (vPCI BARs, a
// synthetic framebuffer; hcl offers none yet): the 256 MiB below the PCI
// window, above any RAM.
inline constexpr MmioWindow kVmbusMmioWindow{0xD0000000, 0x10000000};
// With `tpm`, the DSDT describes the vTPM and a TPM2 table follows the MADT.
base::Result<AcpiTables> BuildAcpiTables(uint64_t gpa, uint32_t vp_count,
                                         std::optional<MmioWindow> pci = std::nullopt,
                                         bool tpm = false);

// The DSDT's additions after \_S5: Scope (\_SB) { VMOD { VMBS }, UAR1 [, PCI0] [, TPM0] }.
// Exposed for tests.
std::vector<std::byte> DsdtDevicesAml(std::optional<MmioWindow> pci = std::nullopt,
                                      bool tpm = false);
// The TPM2 table's body after its header (76 bytes in all, revision 4).
std::vector<std::byte> Tpm2TableBody();

}  // namespace loader::vtl0
