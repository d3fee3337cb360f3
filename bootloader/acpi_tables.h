// ACPI tables for VTL2, built by the boot shim (ACPI 6.5 §5.2): an RSDP
// (revision 2) pointing at an XSDT, which lists a FADT and the MADT; the
// FADT points at a FACS and a DSDT whose only content is the \_S5 sleep
// package. The MADT is the one the host put in the IGVM MADT parameter,
// checked and copied.
//
// Why these and no others: Linux 6.1 finds CPUs and APICs in the MADT,
// and powers off (reboot(RB_POWER_OFF) in hcl) only through ACPI S5:
// \_S5's SLP_TYPa written with SLP_EN to PM1a_CNT (ACPI 6.5 §7.4.2,
// §4.8.3.2; drivers/acpi/sleep.c registers acpi_power_off only when \_S5
// evaluates). The FADT is not hardware-reduced: PM1a event/control blocks
// in I/O space, SCI on IRQ 9, SMI_CMD 0 (always in ACPI mode), no PM timer
// (optional since ACPI 5.0A), no GPE blocks.
//
// VTL0 gets the same FADT/FACS/XSDT/RSDP from this builder (hcl-loader
// emulates the same PM1 block for it), with devices added to the DSDT.
//
// The fixed hardware described here is what hcl-loader emulates
// (vmm-core/devices/acpi_pm.h; loader/acpi_fixed_hardware_test.cpp checks both sides agree).
// On real Hyper-V the host's own ACPI tables would be used instead
// (FIXME: pass them through the IGVM parameters when running there).
//
// Sans I/O: bytes in, bytes out; the shim places them in VTL2 memory and
// reserves their pages (e820 type 3, ACPI).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "status.h"

namespace shim::acpi {

// The platform's fixed hardware (hcl-loader's, vmm-core/devices/acpi_pm.h).
inline constexpr uint16_t kPm1aEventPort = 0x400;
inline constexpr uint8_t kPm1EventBytes = 4;  // PM1_STS + PM1_EN, 16 bits each
inline constexpr uint16_t kPm1aControlPort = 0x404;
inline constexpr uint8_t kPm1ControlBytes = 2;
inline constexpr uint16_t kSciIrq = 9;          // the conventional PC SCI (ISA IRQ 9)
inline constexpr uint8_t kS5SleepType = 5;      // SLP_TYPa for soft-off

inline constexpr size_t kHeaderBytes = 36;   // §5.2.6, Table 5.4
inline constexpr size_t kRsdpBytes = 36;     // §5.2.5.3, Table 5.3 (revision 2)
inline constexpr size_t kFadtBytes = 276;    // §5.2.9, Table 5.9 (revision 6)
inline constexpr size_t kFacsBytes = 64;     // §5.2.10, Table 5.14
inline constexpr size_t kMadtMinBytes = 44;  // header + local APIC address + flags

struct TableSet {
  uint64_t rsdp_gpa = 0;
  uint64_t xsdt_gpa = 0;
  uint64_t fadt_gpa = 0;
  uint64_t facs_gpa = 0;
  uint64_t dsdt_gpa = 0;
  uint64_t madt_gpa = 0;
  uint64_t extra_gpa = 0;  // 0: no extra table
  size_t bytes_used = 0;  // from the start of the output
};

// Checks a host-provided MADT: signature "APIC", 44 <= length <= the
// span, bytes summing to zero. Returns its length. The entries are left to
// the kernel's own MADT parser.
Expected<size_t> CheckMadt(std::span<const std::byte> madt);

// Builds every table into `out` (zeroing it first), which the guest will
// see at `out_gpa`. `out_gpa` must be 64-byte aligned (the FACS must be,
// §5.2.10) and the tables must fit. `dsdt_extra_aml` (a TermList, ACPI 6.5
// §20.2.1) follows \_S5 in the DSDT: VTL2's has none; hcl-loader's VTL0
// tables (loader/vtl0/acpi_tables.h) add their devices there.
// `extra`, when its body is not empty, becomes one more table after the
// MADT, listed in the XSDT: the header (signature, revision, length,
// checksum) is built here, the body (after the 36-byte header) is the
// caller's. hcl-loader's VTL0 tables add the TPM2 table this way.
struct ExtraTable {
  char signature[5] = {};
  uint8_t revision = 0;
  std::span<const std::byte> body;
};
Expected<TableSet> BuildAcpiTables(std::span<std::byte> out, uint64_t out_gpa,
                                   std::span<const std::byte> madt,
                                   std::span<const std::byte> dsdt_extra_aml = {},
                                   const ExtraTable& extra = {});

// §5.2.6: "the entire table, including the checksum field, must add to
// zero": the byte that makes it so.
uint8_t Checksum(std::span<const std::byte> bytes);

}  // namespace shim::acpi
