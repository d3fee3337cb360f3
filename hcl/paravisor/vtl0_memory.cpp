#include "paravisor/vtl0_memory.h"

#include <algorithm>
#include <cinttypes>

#include "base/checked.h"

namespace hcl {

std::optional<size_t> Vtl0Memory::Find(uint64_t gpa, uint64_t bytes) const {
  for (size_t i = 0; i < ranges_.size(); ++i) {
    const uint64_t base = mem::ToU64(ranges_[i].base());
    if (gpa >= base && base::RangeFits<uint64_t>(gpa - base, bytes, ranges_[i].size_bytes()))
      return i;
  }
  return std::nullopt;
}

bool Vtl0Memory::Contains(uint64_t gpa, uint64_t bytes) const {
  return Find(gpa, bytes).has_value();
}

base::Result<void> Vtl0Memory::Read(mem::Gpa gpa, std::span<std::byte> out) const {
  const auto index = Find(mem::ToU64(gpa), out.size());
  if (!index)
    return base::Error::Format("%#" PRIx64 "+%#zx is not VTL0 RAM", mem::ToU64(gpa), out.size());
  return ranges_[*index].Read(gpa, out);
}

base::Result<void> Vtl0Memory::Write(mem::Gpa gpa, std::span<const std::byte> in) {
  const auto index = Find(mem::ToU64(gpa), in.size());
  if (!index)
    return base::Error::Format("%#" PRIx64 "+%#zx is not VTL0 RAM", mem::ToU64(gpa), in.size());
  return ranges_[*index].Write(gpa, in);
}

uint64_t Vtl0Memory::end() const {
  uint64_t end = 0;
  for (const mem::GuestMemory& range : ranges_)
    end = std::max(end, mem::ToU64(range.base()) + range.size_bytes());
  return end;
}

}  // namespace hcl
