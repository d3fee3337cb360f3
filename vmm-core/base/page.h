// The x86 4 KiB page (SDM vol. 3A §4.3): the unit of guest memory slots,
// overlay and protection pages, page walks, and hypercall input and output
// pages (TLFS "Hypercall Inputs": a memory-passed input may not cross a
// page boundary). One definition for vmm-core, the loader and hcl; igvm
// keeps its typed wire::kPageSize, a field of the IGVM file format.
// Header-only and freestanding-safe.
#pragma once

#include <cstdint>

namespace base {

inline constexpr uint64_t kPageSize = 4096;

// The page holding `address`, and `address`'s offset in it.
constexpr uint64_t PageBase(uint64_t address) { return address & ~(kPageSize - 1); }
constexpr uint64_t PageOffset(uint64_t address) { return address & (kPageSize - 1); }

}  // namespace base
