// The guest-physical layout the loader gives a VM, and the IGVM memory map
// that describes it to VTL2 (igvm.md §1.3, MEMORY_MAP).
//
// This slice: RAM is one range [0, ram_bytes) below the 32-bit MMIO hole
// (so at most 3 GiB); the image's REQUIRED_MEMORY ranges must lie inside
// it. RAM above 4 GiB arrives with multi-range mem::GuestMemory.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "base/result.h"
#include "wire.h"

namespace loader {

inline constexpr uint64_t kMaxLowRamBytes = uint64_t{3} << 30;

using MemoryMapType = igvm::wire::MemoryMapEntryType;

// A REQUIRED_MEMORY range of the chosen platform.
struct RequiredRange {
  uint64_t gpa = 0;
  uint64_t size_bytes = 0;
  bool vtl2_protectable = false;
};

// A second, small VTL2 range the loader adds to every VSM image's memory
// map: Linux 6.1 allocates its real-mode trampoline (AP startup, reboot)
// from RAM below 1 MiB and panics "Real mode trampoline was not
// allocated" without any (arch/x86/realmode/init.c, reserve_real_mode).
// The boot shim gives every VTL2_PROTECTABLE range to the kernel as e820
// RAM (bootloader/boot_info.cpp, BuildVtl2E820). 64 KiB at 64 KiB: above
// the first page Linux always reserves (real-mode IVT/BDA), clear of the
// EBDA/BIOS area it reserves from 0x9F000 up. A later VTL0 VM does not map
// these pages (DESIGN.md: VTL2 RAM is not mapped in the VTL0 VM).
inline constexpr RequiredRange kVtl2LowMemory{0x10000, 0x10000, true};

// The memory map for RAM [0, ram_bytes): required ranges keep their own
// entry (VTL2_PROTECTABLE when flagged, MEMORY otherwise), the rest is
// MEMORY; sorted, no overlaps. Refuses unaligned or overlapping required
// ranges and ones outside RAM.
base::Result<std::vector<igvm::wire::MemoryMapEntry>> BuildMemoryMap(
    uint64_t ram_bytes, std::span<const RequiredRange> required);

}  // namespace loader
