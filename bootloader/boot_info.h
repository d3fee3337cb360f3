// Boot information the shim reads: the host-filled IGVM parameter area
// (IGVM spec: VP_COUNT, MEMORY_MAP, COMMAND_LINE) and the measured
// component table (igvm/builder.h).
//
// The parameter area comes from the host, which is untrusted on isolated
// platforms: every value is checked against what the shim can use, not
// believed. Sans I/O: spans in, values or a Status out.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "status.h"

namespace shim {

struct MemoryRange {
  uint64_t base = 0;
  uint64_t size = 0;
  uint16_t type = 0;  // IGVM_VHS_MEMORY_MAP_ENTRY entry_type
};
inline constexpr uint16_t kMemoryNormal = 0;
inline constexpr uint16_t kMemoryVtl2Protectable = 3;
inline constexpr uint32_t kMaxVps = 64;  // CONFIG_NR_CPUS

// VP_COUNT: a u32, 1..kMaxVps.
Expected<uint32_t> ParseVpCount(std::span<const std::byte> area, size_t offset);

// MEMORY_MAP: 24-byte entries, ended by one with zero pages. Entries must be
// sorted by address, not overlap and not wrap. Returns how many were stored
// in `out`; more entries than `out` holds is an error.
Expected<size_t> ParseMemoryMap(std::span<const std::byte> map, std::span<MemoryRange> out);

// The VTL2 range: the memory-map entry of VTL2-protectable type that holds
// the shim itself.
Expected<MemoryRange> FindVtl2Range(std::span<const MemoryRange> ranges, uint64_t image_base);

// A NUL-terminated command line of printable ASCII inside `bytes`; returns
// its length without the NUL.
Expected<size_t> ParseCommandLine(std::span<const std::byte> bytes);

// The e820 map for the VTL2 kernel: every VTL2-protectable range as RAM
// (Linux 6.1 needs some RAM below 1 MiB for its real-mode trampoline, so
// the loader gives VTL2 a small low range besides the main one), with the
// `carve_outs` (sorted, not overlapping, each inside one VTL2 range: the
// parameter area, the ACPI tables) cut out of it with their own types.
// Returns the count.
struct E820Range {
  uint64_t address;
  uint64_t size;
  uint32_t type;
};
Expected<size_t> BuildVtl2E820(std::span<const MemoryRange> ranges,
                               std::span<const E820Range> carve_outs, std::span<E820Range> out);

struct Component {
  uint64_t gpa = 0;
  uint64_t size = 0;
};

// Looks `name` up in the component table and checks it lies inside `vtl2`.
Expected<Component> FindComponent(std::span<const std::byte> table, const char* name,
                                  const MemoryRange& vtl2);

}  // namespace shim
