// Builders for the contents of IGVM parameters (igvm.md §1.3, "PARAMETER";
// the igvm crate's IGVM_VHS_PARAMETER users). Each takes the bytes the
// parameter owns (from its byte_offset to the next parameter's offset in
// the same area, or the area's end: igvm_loader.cpp) and writes its value
// at the start, refusing a value that does not fit; none does I/O, so all
// are unit-tested without a VM. The MADT lives in acpi_madt.h.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

#include "base/result.h"
#include "wire.h"

namespace loader {

// VP_COUNT_PARAMETER: u32 number of virtual processors.
base::Result<void> WriteVpCount(std::span<std::byte> out, uint32_t vp_count);

// ENVIRONMENT_INFO_PARAMETER: u32 bit field; bit 0 memory_is_shared.
inline constexpr uint32_t kEnvironmentMemoryIsShared = 1u << 0;
base::Result<void> WriteEnvironmentInfo(std::span<std::byte> out, uint32_t flags);

// MEMORY_MAP: IGVM_VHS_MEMORY_MAP_ENTRY array, sorted by start page, then
// an entry with number_of_pages 0 (igvm.md §1.3). Refuses unsorted,
// overlapping or empty entries, and a map that does not fit with its
// terminator.
base::Result<void> WriteMemoryMap(std::span<std::byte> out,
                                  std::span<const igvm::wire::MemoryMapEntry> entries);

// COMMAND_LINE: NUL-terminated ASCII. Refuses an embedded NUL, bytes
// outside printable ASCII, and a string that does not fit with its NUL.
base::Result<void> WriteCommandLine(std::span<std::byte> out, std::string_view command_line);

}  // namespace loader
