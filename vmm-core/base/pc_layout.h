// Fixed ranges of the PC physical address map that every VMM here leaves
// alone. Header-only and freestanding-safe.
#pragma once

#include <cstdint>

namespace base {

// The PC's legacy hole [0xA0000, 0x100000): VGA memory, option ROMs and the
// BIOS; no RAM there on a PC (so not VTL0 RAM on hcl-loader, and not
// VTL2's memory as VTL0 sees it in hcl).
inline constexpr uint64_t kPcLegacyHoleStart = 0xA0000;
inline constexpr uint64_t kPcLegacyHoleEnd = 0x100000;

constexpr bool InPcLegacyHole(uint64_t gpa) {
  return gpa >= kPcLegacyHoleStart && gpa < kPcLegacyHoleEnd;
}
static_assert(InPcLegacyHole(0xA0000) && InPcLegacyHole(0xFFFFF) && !InPcLegacyHole(0x9FFFF) &&
              !InPcLegacyHole(0x100000));

}  // namespace base
