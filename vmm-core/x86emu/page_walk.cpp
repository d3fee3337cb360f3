#include "x86emu/page_walk.h"

#include <array>
#include <cstddef>
#include <optional>
#include <utility>

#include "base/le_bytes.h"

namespace x86emu {
namespace {

// Paging-structure entry bits (SDM Vol 3 §4.3-§4.5, Tables 4-4 to 4-20).
constexpr uint64_t kPtePresent = 1ull << 0;
constexpr uint64_t kPteWrite = 1ull << 1;
constexpr uint64_t kPteUser = 1ull << 2;
constexpr uint64_t kPteLarge = 1ull << 7;
constexpr uint64_t kPteNx = 1ull << 63;
// Bits 51:12: the next table or the 4 KiB frame.
constexpr uint64_t kPteAddress = 0x000f'ffff'ffff'f000ull;

base::Result<uint64_t> ReadEntry(PhysReader& memory, uint64_t gpa, size_t entry_bytes) {
  std::array<std::byte, 8> raw{};
  const std::span<std::byte> bytes = std::span(raw).first(entry_bytes);
  if (auto read = memory.ReadPhys(Gpa{gpa}, bytes); !read.ok())
    return std::move(read).error().Context("reading a page-table entry");
  uint64_t value = 0;
  if (entry_bytes == 8) {
    (void)base::LoadLe<uint64_t>(bytes, 0, value);
  } else {
    uint32_t low = 0;
    (void)base::LoadLe<uint32_t>(bytes, 0, low);
    value = low;
  }
  return value;
}

struct Walk {
  uint64_t table;           // GPA of the first table
  size_t entry_bytes;       // 8, or 4 for 32-bit paging
  unsigned index_bits;      // 9, or 10 for 32-bit paging
  std::array<unsigned, 4> shifts;
  size_t levels;
};

}  // namespace

PagingState PagingState::FromCpu(const X86Cpu& cpu) {
  // SDM Vol 3 §24.4.1 (guest register state): SS.DPL always equals the CPL.
  return PagingState{
      .cr = cpu.control_registers(),
      .cpl = cpu.segment(Segment::kSs).dpl(),
      .rflags_ac = (cpu.rflags() & kFlagAc) != 0,
  };
}

base::Result<Translation> TranslateGva(PhysReader& memory, const PagingState& state, Gva gva,
                                       Access access) {
  const ControlRegisters& cr = state.cr;
  const uint64_t va = ToU64(gva);
  const bool long_mode = (cr.efer & kEferLma) != 0;
  // SDM Vol 3 §4.1.1: without paging, a linear address is the physical one
  // (32 bits outside long mode, which cannot run without paging).
  if ((cr.cr0 & kCr0Pg) == 0) return Translation{Gpa{va & 0xffff'ffffull}};

  const bool pae = (cr.cr4 & kCr4Pae) != 0;
  const bool nxe = pae && (cr.efer & kEferNxe) != 0;
  const bool user = state.cpl == 3;
  const bool write = access == Access::kWrite;
  const bool fetch = access == Access::kExecute;

  // SDM Vol 3 §4.7: I/D is reported only with SMEP or PAE+NXE.
  auto fault = [&](uint32_t present_or_reserved) -> Translation {
    uint32_t code = present_or_reserved;
    if (write) code |= kPfWrite;
    if (user) code |= kPfUser;
    if (fetch && ((cr.cr4 & kCr4Smep) != 0 || nxe)) code |= kPfFetch;
    return PageFault{code};
  };

  Walk walk{};
  if (long_mode) {
    if ((cr.cr4 & kCr4La57) != 0) return base::Error("5-level paging is not supported");
    walk = Walk{cr.cr3 & kPteAddress, 8, 9, {39, 30, 21, 12}, 4};
  } else if (pae) {
    // SDM Vol 3 §4.4.1: CR3 bits 31:5 locate four PDPTEs, indexed by VA 31:30.
    const uint64_t pdpte_gpa = (cr.cr3 & 0xffff'ffe0ull) + ((va >> 30) & 3) * 8;
    const uint64_t pdpte = TRY(ReadEntry(memory, pdpte_gpa, 8));
    if ((pdpte & kPtePresent) == 0) return fault(0);
    walk = Walk{pdpte & kPteAddress, 8, 9, {21, 12, 0, 0}, 2};
  } else {
    walk = Walk{cr.cr3 & 0xffff'f000ull, 4, 10, {22, 12, 0, 0}, 2};
  }

  bool writable = true;
  bool user_ok = true;
  bool no_execute = false;
  uint64_t table = walk.table;
  std::optional<uint64_t> gpa;
  for (size_t level = 0; level < walk.levels && !gpa; ++level) {
    const unsigned shift = walk.shifts[level];
    const uint64_t index = (va >> shift) & ((1ull << walk.index_bits) - 1);
    const uint64_t entry = TRY(ReadEntry(memory, table + index * walk.entry_bytes, walk.entry_bytes));
    if ((entry & kPtePresent) == 0) return fault(0);
    if (walk.entry_bytes == 8 && !nxe && (entry & kPteNx) != 0) return fault(kPfPresent | kPfReserved);
    writable = writable && (entry & kPteWrite) != 0;
    user_ok = user_ok && (entry & kPteUser) != 0;
    no_execute = no_execute || (nxe && (entry & kPteNx) != 0);

    const bool last = level + 1 == walk.levels;
    const bool large = !last && (entry & kPteLarge) != 0;
    if (large) {
      // PS in a PML4E is reserved; 1 GiB and 2 MiB pages in PDPTEs and PDEs
      // (4 MiB PDEs with CR4.PSE in 32-bit paging).
      if (long_mode && level == 0) return fault(kPfPresent | kPfReserved);
      if (walk.entry_bytes == 4) {
        if ((cr.cr4 & kCr4Pse) == 0) {
          table = entry & 0xffff'f000ull;
          continue;
        }
        // SDM Vol 3 Table 4-4: PDE bits 31:22 are PA 31:22, bits 20:13 are
        // PA 39:32 (PSE-36), bit 21 is reserved.
        if ((entry & (1ull << 21)) != 0) return fault(kPfPresent | kPfReserved);
        const uint64_t frame = (entry & 0xffc0'0000ull) | ((entry >> 13) & 0xff) << 32;
        gpa = frame | (va & ((1ull << shift) - 1));
        break;
      }
      const uint64_t page_mask = (1ull << shift) - 1;
      // Bit 12 is PAT; bits 13 up to the page size must be zero.
      if ((entry & kPteAddress & page_mask & ~(1ull << 12)) != 0)
        return fault(kPfPresent | kPfReserved);
      gpa = (entry & kPteAddress & ~page_mask) | (va & page_mask);
      break;
    }
    if (last) {
      gpa = (entry & (walk.entry_bytes == 8 ? kPteAddress : 0xffff'f000ull)) | (va & 0xfff);
    } else {
      table = entry & (walk.entry_bytes == 8 ? kPteAddress : 0xffff'f000ull);
    }
  }
  if (!gpa) return base::Error("page walk ended without a translation");

  // SDM Vol 3 §4.6: access rights.
  if (user) {
    if (!user_ok) return fault(kPfPresent);
    if (write && !writable) return fault(kPfPresent);
  } else {
    if (write && !writable && (cr.cr0 & kCr0Wp) != 0) return fault(kPfPresent);
    if (user_ok && fetch && (cr.cr4 & kCr4Smep) != 0) return fault(kPfPresent);
    if (user_ok && !fetch && (cr.cr4 & kCr4Smap) != 0 && !state.rflags_ac) return fault(kPfPresent);
  }
  if (fetch && no_execute) return fault(kPfPresent);
  return Translation{Gpa{*gpa}};
}

}  // namespace x86emu
