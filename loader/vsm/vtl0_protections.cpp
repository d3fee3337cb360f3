#include "vsm/vtl0_protections.h"

#include "base/page.h"

namespace loader::vsm {

bool Vtl0Protections::IsRam(uint64_t gpa) const {
  for (const Range& range : ram_)
    if (gpa >= range.gpa && gpa - range.gpa < range.size_bytes) return true;
  return false;
}

hv::Status Vtl0Protections::Apply(std::span<const uint64_t> gpns, uint32_t flags) {
  if ((flags & ~kAll) != 0) return hv::Status::kInvalidParameter;
  for (uint64_t gpn : gpns)
    if (gpn > (~uint64_t{0} >> 12) || !IsRam(gpn * base::kPageSize))
      return hv::Status::kInvalidParameter;
  std::map<uint64_t, uint32_t> next = protected_;
  for (uint64_t gpn : gpns) {
    if (flags == kAll) next.erase(gpn);
    else next[gpn] = flags;
  }
  if (next.size() > kMaxProtectedPages) return hv::Status::kInsufficientMemory;
  protected_ = std::move(next);
  return hv::Status::kSuccess;
}

uint32_t Vtl0Protections::Flags(uint64_t gpn) const {
  const auto it = protected_.find(gpn);
  return it == protected_.end() ? kAll : it->second;
}

std::vector<Vtl0Protections::Slot> Vtl0Protections::Layout() const {
  std::vector<Slot> slots;
  auto emit = [&](uint64_t gpa, uint64_t size, bool read_only) {
    if (size == 0) return;
    if (!slots.empty() && slots.back().read_only == read_only &&
        slots.back().gpa + slots.back().size_bytes == gpa) {
      slots.back().size_bytes += size;  // merge a neighbour of the same kind
      return;
    }
    slots.push_back({gpa, size, read_only});
  };
  for (const Range& range : ram_) {
    uint64_t at = range.gpa;
    const uint64_t end = range.gpa + range.size_bytes;
    for (auto it = protected_.lower_bound(range.gpa / base::kPageSize);
         it != protected_.end() && it->first * base::kPageSize < end; ++it) {
      const uint64_t page = it->first * base::kPageSize;
      emit(at, page - at, false);
      // Readable but not writable: a read-only slot; unreadable: no slot.
      if ((it->second & kRead) != 0) emit(page, base::kPageSize, (it->second & kWrite) == 0);
      at = page + base::kPageSize;
    }
    emit(at, end - at, false);
  }
  return slots;
}

}  // namespace loader::vsm
