#include "memory_layout.h"

#include <algorithm>

#include "base/checked.h"
#include "base/page.h"

namespace loader {

using igvm::wire::MemoryMapEntry;

namespace {
MemoryMapEntry Entry(uint64_t gpa, uint64_t size_bytes, MemoryMapType type) {
  MemoryMapEntry entry{};
  entry.starting_gpa_page_number = gpa / base::kPageSize;
  entry.number_of_pages = size_bytes / base::kPageSize;
  entry.entry_type = static_cast<uint16_t>(type);
  return entry;
}
}  // namespace

base::Result<std::vector<MemoryMapEntry>> BuildMemoryMap(uint64_t ram_bytes,
                                                         std::span<const RequiredRange> required) {
  if (ram_bytes == 0 || !base::IsAligned(ram_bytes, base::kPageSize))
    return base::Error("guest RAM size must be a non-zero multiple of 4 KiB");
  if (ram_bytes > kMaxLowRamBytes)
    return base::Error::Format("guest RAM above %llu MiB is not supported yet",
                               static_cast<unsigned long long>(kMaxLowRamBytes >> 20));
  std::vector<RequiredRange> sorted(required.begin(), required.end());
  std::sort(sorted.begin(), sorted.end(),
            [](const RequiredRange& a, const RequiredRange& b) { return a.gpa < b.gpa; });
  std::vector<MemoryMapEntry> map;
  uint64_t cursor = 0;
  for (const RequiredRange& range : sorted) {
    if (!base::IsAligned(range.gpa, base::kPageSize) ||
        !base::IsAligned(range.size_bytes, base::kPageSize) || range.size_bytes == 0)
      return base::Error::Format("required memory at 0x%llx is not page-aligned",
                                 static_cast<unsigned long long>(range.gpa));
    if (!base::RangeFits(range.gpa, range.size_bytes, ram_bytes))
      return base::Error::Format(
          "required memory [0x%llx, +0x%llx) lies outside guest RAM of %llu MiB (raise --mem)",
          static_cast<unsigned long long>(range.gpa),
          static_cast<unsigned long long>(range.size_bytes),
          static_cast<unsigned long long>(ram_bytes >> 20));
    if (range.gpa < cursor)
      return base::Error::Format("required memory ranges overlap at 0x%llx",
                                 static_cast<unsigned long long>(range.gpa));
    if (range.gpa > cursor) map.push_back(Entry(cursor, range.gpa - cursor, MemoryMapType::kMemory));
    map.push_back(Entry(range.gpa, range.size_bytes,
                        range.vtl2_protectable ? MemoryMapType::kVtl2Protectable
                                               : MemoryMapType::kMemory));
    cursor = range.gpa + range.size_bytes;
  }
  if (cursor < ram_bytes) map.push_back(Entry(cursor, ram_bytes - cursor, MemoryMapType::kMemory));
  return map;
}

}  // namespace loader
