#include "vtl0/ram_layout.h"

#include <algorithm>
#include <utility>

namespace loader::vtl0 {

std::vector<RamRange> Vtl0Ram(uint64_t ram_bytes, std::span<const RequiredRange> vtl2) {
  std::vector<std::pair<uint64_t, uint64_t>> holes = {{kLegacyHoleStart, kLegacyHoleEnd}};
  for (const RequiredRange& range : vtl2)
    holes.emplace_back(range.gpa, range.gpa + range.size_bytes);
  std::sort(holes.begin(), holes.end());
  std::vector<RamRange> ram;
  uint64_t at = 0;
  for (const auto& [start, end] : holes) {
    if (start > at) ram.push_back({at, std::min(start, ram_bytes) - at});
    at = std::max(at, end);
    if (at >= ram_bytes) break;
  }
  if (at < ram_bytes) ram.push_back({at, ram_bytes - at});
  std::erase_if(ram, [](const RamRange& r) { return r.size_bytes == 0; });
  return ram;
}


}  // namespace loader::vtl0
