// X64EntryState: the 64-bit state an image's boot processor starts in, and
// its rendering for each platform's VP-context form:
//   - VSM (Hyper-V VBS): a list of Hyper-V register values;
//   - SEV-SNP: a VMSA page (AMD APM vol. 2, Table B-4, SEV-ES save area);
//   - TDX: no VP context (the TD starts at the architectural reset state),
//     so a reset page at 0xFFFFF000 carries a trampoline from the reset
//     vector into this state.
// Also the identity-mapped page tables and GDT the state points at.
#pragma once

#include <cstdint>
#include <vector>

#include "base/result.h"
#include "wire.h"

namespace igvm {

struct X64EntryState {
  uint64_t rip = 0;
  uint64_t rsp = 0;
  uint64_t rsi = 0;  // the boot shim's parameter pointer
  uint64_t cr3 = 0;
  uint64_t gdt_base = 0;
  uint8_t vtl = 2;   // the VTL this state is for (VBS register records)
};

// The fixed parts of the state (Intel SDM vol. 3A §9.8.5, "Initializing
// IA-32e mode"): protected mode + paging, PAE, long mode, NX.
inline constexpr uint64_t kEntryCr0 = 0x80010033;  // PG | WP | NE | ET | MP | PE
inline constexpr uint64_t kEntryCr4 = 0x00000020;  // PAE
inline constexpr uint64_t kEntryEfer = 0x00000D00;  // NXE | LMA | LME
inline constexpr uint64_t kEntryPat = 0x0007040600070406;  // the reset value
// Selectors as Linux's 64-bit boot protocol requires them (Documentation/
// x86/boot.rst, "64-bit Boot Protocol": __BOOT_CS 0x10, __BOOT_DS 0x18), so
// the boot shim can enter the kernel without loading a GDT of its own.
inline constexpr uint16_t kCodeSelector = 0x10;
inline constexpr uint16_t kDataSelector = 0x18;
inline constexpr uint16_t kGdtLimit = 4 * 8 - 1;  // null, unused, code64, data

// Page tables identity-mapping [0, 4 GiB) with 2 MiB pages: PML4, PDPT and
// four page directories, in that order, for placement at `base`.
inline constexpr uint64_t kPageTablePages = 6;
std::vector<std::byte> IdentityPageTables(uint64_t base);
// The GDT page: null, unused, 64-bit code (0x10), data (0x18).
std::vector<std::byte> GdtPage();

// u32 count + VbsVpContextRegister[], the VSM VP_CONTEXT data.
std::vector<std::byte> VbsVpContext(const X64EntryState& state);
// The 4096-byte SNP VMSA. sev_features carries at least SNPActive.
std::vector<std::byte> SnpVmsa(const X64EntryState& state, uint64_t sev_features);
// The TDX reset page for GPA 0xFFFFF000: 32-bit code at the reset vector
// that enters long mode and jumps to state.rip. Refuses state that does
// not fit the trampoline's 32-bit addressing (CR3 and GDT below 4 GiB).
base::Result<std::vector<std::byte>> TdxResetPage(const X64EntryState& state);
inline constexpr uint64_t kTdxResetPageGpa = 0xFFFFF000;

}  // namespace igvm
