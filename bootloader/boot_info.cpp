#include "boot_info.h"

#include "bytes.h"

namespace shim {
namespace {

constexpr size_t kMapEntryBytes = 24;
constexpr uint64_t kPage = 4096;
constexpr uint32_t kComponentTableMagic = 0x434C4348;  // "HCLC" (igvm/builder.h)
constexpr size_t kComponentEntryBytes = 32;
constexpr size_t kComponentNameBytes = 16;

bool Inside(uint64_t gpa, uint64_t size, const MemoryRange& range) {
  return gpa >= range.base && Fits(static_cast<size_t>(gpa - range.base), static_cast<size_t>(size),
                                   static_cast<size_t>(range.size));
}

}  // namespace

Expected<uint32_t> ParseVpCount(std::span<const std::byte> area, size_t offset) {
  uint32_t count = 0;
  if (!LoadLe(area, offset, count)) return Status::Fail("vp count: outside the parameter area");
  if (count == 0 || count > kMaxVps) return Status::Fail("vp count: not in 1..64");
  return count;
}

Expected<size_t> ParseMemoryMap(std::span<const std::byte> map, std::span<MemoryRange> out) {
  size_t count = 0;
  uint64_t previous_end = 0;
  for (size_t offset = 0;; offset += kMapEntryBytes) {
    uint64_t first_page = 0, pages = 0;
    uint16_t type = 0;
    if (!LoadLe(map, offset, first_page) || !LoadLe(map, offset + 8, pages) ||
        !LoadLe(map, offset + 16, type))
      return Status::Fail("memory map: no terminating entry");
    if (pages == 0) break;
    if (first_page > (~uint64_t{0} / kPage) || pages > (~uint64_t{0} / kPage) - first_page)
      return Status::Fail("memory map: entry wraps the address space");
    const uint64_t base = first_page * kPage;
    if (count > 0 && base < previous_end)
      return Status::Fail("memory map: entries unsorted or overlapping");
    if (count == out.size()) return Status::Fail("memory map: too many entries");
    out[count++] = {base, pages * kPage, type};
    previous_end = base + pages * kPage;
  }
  if (count == 0) return Status::Fail("memory map: empty");
  return count;
}

Expected<MemoryRange> FindVtl2Range(std::span<const MemoryRange> ranges, uint64_t image_base) {
  for (const MemoryRange& range : ranges)
    if (range.type == kMemoryVtl2Protectable && Inside(image_base, 1, range)) return range;
  return Status::Fail("memory map: no VTL2 range holds the shim");
}

Expected<size_t> BuildVtl2E820(std::span<const MemoryRange> ranges,
                               std::span<const E820Range> carve_outs, std::span<E820Range> out) {
  constexpr uint32_t kRam = 1;
  size_t count = 0;
  auto add = [&](uint64_t address, uint64_t size, uint32_t type) {
    if (size == 0) return true;
    if (count == out.size()) return false;
    out[count++] = {address, size, type};
    return true;
  };
  for (size_t i = 0; i < carve_outs.size(); ++i) {
    const E820Range& carve = carve_outs[i];
    if (carve.size == 0 || carve.address + carve.size < carve.address)
      return Status::Fail("e820: empty or wrapping carve-out");
    if (i > 0 && carve.address < carve_outs[i - 1].address + carve_outs[i - 1].size)
      return Status::Fail("e820: carve-outs unsorted or overlapping");
  }
  size_t placed = 0;
  for (const MemoryRange& range : ranges) {
    if (range.type != kMemoryVtl2Protectable) continue;
    uint64_t cursor = range.base;
    for (const E820Range& carve : carve_outs) {
      if (!Inside(carve.address, carve.size, range)) continue;
      if (!add(cursor, carve.address - cursor, kRam) || !add(carve.address, carve.size, carve.type))
        return Status::Fail("e820: too many entries");
      cursor = carve.address + carve.size;
      ++placed;
    }
    if (!add(cursor, range.base + range.size - cursor, kRam))
      return Status::Fail("e820: too many entries");
  }
  if (count == 0) return Status::Fail("e820: no VTL2 memory");
  if (placed != carve_outs.size()) return Status::Fail("e820: carve-out outside VTL2 memory");
  return count;
}

Expected<size_t> ParseCommandLine(std::span<const std::byte> bytes) {
  for (size_t i = 0; i < bytes.size(); ++i) {
    const auto c = static_cast<uint8_t>(bytes[i]);
    if (c == 0) return i;
    if (c < 0x20 || c > 0x7e) return Status::Fail("command line: not printable ASCII");
  }
  return Status::Fail("command line: no terminating NUL");
}

Expected<Component> FindComponent(std::span<const std::byte> table, const char* name,
                                  const MemoryRange& vtl2) {
  uint32_t magic = 0, count = 0;
  if (!LoadLe(table, 0, magic) || magic != kComponentTableMagic || !LoadLe(table, 4, count))
    return Status::Fail("component table: bad magic");
  for (uint32_t i = 0; i < count; ++i) {
    const size_t at = 8 + size_t{i} * kComponentEntryBytes;
    Component component;
    if (!LoadLe(table, at, component.gpa) || !LoadLe(table, at + 8, component.size) ||
        !Fits(at + 16, kComponentNameBytes, table.size()))
      return Status::Fail("component table: truncated");
    size_t n = 0;
    while (n < kComponentNameBytes && name[n] != '\0' &&
           static_cast<char>(table[at + 16 + n]) == name[n])
      ++n;
    const bool same = name[n] == '\0' && (n == kComponentNameBytes || table[at + 16 + n] == std::byte{0});
    if (!same) continue;
    if (!Inside(component.gpa, component.size, vtl2))
      return Status::Fail("component table: component outside VTL2 memory");
    return component;
  }
  return Status::Fail("component table: component not found");
}

}  // namespace shim
