// Direct boot of a stock Linux bzImage in VTL0 through the 64-bit boot
// protocol (Linux Documentation/arch/x86/boot.rst, "64-bit Boot Protocol";
// zero-page.rst). The setup header is read and the zero page filled by the
// boot shim's code (bootloader/linux_boot.h, shared; its parser is fuzzed
// by tests/fuzz shim-boot-info); this file places things in VTL0 RAM and
// builds the BSP's entry state.
//
// VTL0 RAM is what the caller says (the VTL0 VM maps guest RAM minus
// VTL2's ranges): sorted, non-overlapping, page-aligned ranges, all below
// 4 GiB (the identity map covers [0, 4 GiB)). Layout:
//   kBootDataGpa (0x30000, below 1 MiB, above VTL2's 64 KiB at 0x10000):
//     +0x0000 zero page (struct boot_params)
//     +0x1000 command line (NUL-terminated, at most one page and the
//             kernel's cmdline_size)
//     +0x2000 GDT (null, unused, __BOOT_CS 0x10, __BOOT_DS 0x18)
//     +0x3000 page tables identity-mapping [0, 4 GiB) with 2 MiB pages
//             (PML4, PDPT, 4 page directories)
//   -> e820 reserved, [kBootDataGpa, +kBootDataBytes).
//   ACPI tables where the caller put them (acpi_tables.h; kAcpiGpa is the
//   suggested place, 0x40000) -> e820 ACPI, page-rounded.
//   The caller's reserved ranges (device memory in RAM) -> e820 reserved.
//   The kernel (the bzImage after its setup sectors): at pref_address if
//   it is not relocatable (it must fit there); otherwise at the lowest
//   address >= pref_address (the decompressor never runs below it),
//   aligned to max(kernel_alignment, 2 MiB), whose [address, +init_size)
//   is free RAM. With VTL2 at [16 MiB, ~48 MiB) and Debian's pref_address
//   16 MiB, Debian's kernel lands at 48 MiB (0x3000000).
//   The initrd at the top of the highest RAM range that holds it below
//   initrd_addr_max and clear of the kernel's init_size, page-aligned.
//   Kernel and initrd stay e820 RAM: Linux reserves them itself (and its
//   KASLR avoids them, not the pages marked reserved above).
// The BSP enters at load address + 0x200 in 64-bit mode with RSI = zero
// page, interrupts off, CS 0x10 / DS=ES=SS=FS=GS 0x18 flat (boot.rst).
//
// Refused with an Error, never a crash: not a bzImage, a truncated one,
// boot protocol < 2.12 or no 64-bit entry, a bad kernel_alignment, a
// kernel or initrd that does not fit, a too-long command line, RAM ranges
// that are unsorted, unaligned, above 4 GiB or outside `ram`.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "mem/guest_memory.h"
#include "vp_state.h"

namespace loader::vtl0 {

struct RamRange {
  uint64_t gpa = 0;
  uint64_t size_bytes = 0;
};

// boot_params' e820 types (zero-page.rst; ACPI 6.5 §15, Table 15.1).
enum class E820Type : uint32_t { kRam = 1, kReserved = 2, kAcpi = 3 };

struct E820Range {
  uint64_t gpa = 0;
  uint64_t size_bytes = 0;
  E820Type type = E820Type::kRam;
};

inline constexpr uint64_t kBootDataGpa = 0x30000;
inline constexpr uint64_t kZeroPageOffset = 0x0000;
inline constexpr uint64_t kCommandLineOffset = 0x1000;
inline constexpr uint64_t kGdtOffset = 0x2000;
inline constexpr uint64_t kPageTablesOffset = 0x3000;
inline constexpr uint64_t kBootDataBytes = 0x9000;
// Where acpi_tables.h's output should go: after the boot data, below 1 MiB.
inline constexpr uint64_t kAcpiGpa = 0x40000;
inline constexpr uint64_t kAcpiMaxBytes = 0x10000;

struct LinuxBootInputs {
  std::span<const RamRange> ram;         // VTL0 RAM, sorted
  std::span<const std::byte> kernel;     // the bzImage file
  std::span<const std::byte> initrd;     // may be empty
  std::string_view command_line;
  uint64_t acpi_gpa = kAcpiGpa;          // where `acpi_tables` goes
  std::span<const std::byte> acpi_tables;  // empty: no ACPI
  uint64_t acpi_rsdp_gpa = 0;            // inside acpi_tables
  // Device memory in VTL0 RAM (the TPM's buffer and event log,
  // tpm/platform.h): page-aligned, e820 reserved, clear of everything else.
  std::span<const RamRange> reserved;
};

struct LinuxBootLayout {
  uint16_t protocol = 0;
  uint64_t kernel_gpa = 0;
  uint64_t kernel_file_bytes = 0;  // copied from the bzImage
  uint64_t kernel_init_bytes = 0;  // init_size: what the kernel owns from kernel_gpa
  uint64_t initrd_gpa = 0;
  uint64_t initrd_bytes = 0;
  uint64_t zero_page_gpa = 0;
  uint64_t command_line_gpa = 0;
  uint64_t gdt_gpa = 0;
  uint64_t page_tables_gpa = 0;
  uint64_t acpi_gpa = 0;
  uint64_t acpi_bytes = 0;
  uint64_t acpi_rsdp_gpa = 0;
  std::vector<E820Range> e820;

  // One line per item, for logs.
  std::string Describe() const;
};

struct LinuxBoot {
  LinuxBootLayout layout;
  X64VpState bsp;  // vtl 0
};

// The e820 map: `ram` as RAM with `carve` ranges (inside RAM, not
// overlapping each other) cut out and given their own type. Sorted.
base::Result<std::vector<E820Range>> BuildE820(std::span<const RamRange> ram,
                                               std::span<const E820Range> carve);

// Checks the inputs, writes kernel, initrd, zero page, command line, GDT,
// page tables and ACPI tables into `memory` (VTL0's guest memory; every
// write lies inside inputs.ram) and returns the layout and BSP state.
base::Result<LinuxBoot> LoadLinux(const LinuxBootInputs& inputs, mem::GuestMemory& memory);

}  // namespace loader::vtl0
