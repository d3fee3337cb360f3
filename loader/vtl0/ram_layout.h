// VTL0's RAM on this loader: guest RAM [0, ram_bytes) without VTL2's
// ranges and without the PC's legacy 0xA0000-0xFFFFF hole (VGA, option
// ROMs, BIOS: no RAM there on a PC). Pure.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "base/pc_layout.h"
#include "memory_layout.h"
#include "vtl0/linux_loader.h"

namespace loader::vtl0 {

inline constexpr uint64_t kLegacyHoleStart = base::kPcLegacyHoleStart;
inline constexpr uint64_t kLegacyHoleEnd = base::kPcLegacyHoleEnd;

// The ranges of VTL0 RAM, sorted, none empty.
std::vector<RamRange> Vtl0Ram(uint64_t ram_bytes, std::span<const RequiredRange> vtl2);

}  // namespace loader::vtl0
