// Guest virtual to guest physical translation, as the MMU would do it for a
// data access by the vCPU, so the emulator can reach an instruction's memory
// operand.
//
// Covers: paging off (linear = physical), 32-bit paging (4 KiB and, with
// CR4.PSE, 4 MiB pages), PAE paging, and 4-level long-mode paging with 2 MiB
// and 1 GiB pages. Checks present, write (CR0.WP for supervisor writes),
// user (CPL 3), NX (EFER.NXE), SMEP and SMAP (RFLAGS.AC), and the reserved
// bits that are cheap to know (NX without NXE, PS in a PML4E, a large
// page's low address bits).
//
// Not here: 5-level paging (an error), setting accessed/dirty bits (the
// hardware walk that caused the intercept has already set them for the
// faulting page), protection keys, MAXPHYADDR reserved bits, TLB effects,
// PAE PDPTE caching (the PDPTEs are read from memory on each walk).
#pragma once

#include <cstdint>
#include <variant>

#include "base/result.h"
#include "x86emu/cpu.h"

namespace x86emu {

enum class Access : uint8_t { kRead, kWrite, kExecute };

// Everything the walk depends on besides memory.
struct PagingState {
  ControlRegisters cr;
  uint8_t cpl = 0;
  bool rflags_ac = false;  // SMAP override (SDM Vol 3 §4.6.1)

  static PagingState FromCpu(const X86Cpu& cpu);
};

// Page-fault error code bits (SDM Vol 3 §4.7, Figure 4-12).
inline constexpr uint32_t kPfPresent = 1u << 0;
inline constexpr uint32_t kPfWrite = 1u << 1;
inline constexpr uint32_t kPfUser = 1u << 2;
inline constexpr uint32_t kPfReserved = 1u << 3;
inline constexpr uint32_t kPfFetch = 1u << 4;

// The caller injects #PF with this error code and CR2 = the faulting Gva.
struct PageFault {
  uint32_t error_code = 0;
};

using Translation = std::variant<Gpa, PageFault>;

// Translates one address. The translation holds for the rest of the 4 KiB
// page containing `gva` only; callers split accesses at page boundaries.
// Page-table entries are read with memory.ReadPhys; an error there is returned
// as an Error, not a PageFault.
base::Result<Translation> TranslateGva(PhysReader& memory, const PagingState& state, Gva gva,
                                       Access access);

}  // namespace x86emu
