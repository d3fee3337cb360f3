#include "paravisor/vtl0_memory.h"

#include <algorithm>
#include <cinttypes>
#include <mutex>

#include "base/checked.h"

namespace hcl {
namespace {

constexpr uint64_t kPageShift = 12;

}  // namespace

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

bool Vtl0Memory::Allows(uint64_t gpa, uint64_t bytes, uint32_t needed) const {
  std::shared_lock lock(mutex_);
  return bytes != 0 && CheckLocked(gpa, bytes, needed).ok();
}

base::Result<size_t> Vtl0Memory::CheckLocked(uint64_t gpa, uint64_t bytes,
                                             uint32_t needed) const {
  const auto index = Find(gpa, bytes);
  if (!index) return base::Error::Format("%#" PRIx64 "+%#" PRIx64 " is not VTL0 RAM", gpa, bytes);
  if (bytes == 0 || protected_.empty()) return *index;
  const uint64_t first = gpa >> kPageShift;
  const uint64_t last = (gpa + bytes - 1) >> kPageShift;  // in RAM: cannot wrap
  for (auto it = protected_.lower_bound(first); it != protected_.end() && it->first <= last; ++it)
    if ((it->second & needed) != needed)
      return base::Error::Format("page %#" PRIx64 " is protected from VTL0",
                                 it->first << kPageShift);
  return *index;
}

base::Result<void> Vtl0Memory::Read(mem::Gpa gpa, std::span<std::byte> out) const {
  std::shared_lock lock(mutex_);
  const size_t index = TRY(CheckLocked(mem::ToU64(gpa), out.size(), kRead));
  return ranges_[index].Read(gpa, out);
}

base::Result<void> Vtl0Memory::Write(mem::Gpa gpa, std::span<const std::byte> in) {
  std::shared_lock lock(mutex_);
  const size_t index = TRY(CheckLocked(mem::ToU64(gpa), in.size(), kWrite));
  return ranges_[index].Write(gpa, in);
}

base::Result<std::span<const std::byte>> Vtl0Memory::ViewBeforeVtl0Runs(mem::Gpa gpa,
                                                                       uint64_t bytes) const {
  std::shared_lock lock(mutex_);
  const size_t index = TRY(CheckLocked(mem::ToU64(gpa), bytes, kRead));
  const std::span<const std::byte> view = TRY(ranges_[index].DmaSpan(gpa, bytes));
  return view;
}

base::Result<uint32_t> Vtl0Memory::LoadAcquire32(mem::Gpa gpa) const {
  std::shared_lock lock(mutex_);
  const size_t index = TRY(CheckLocked(mem::ToU64(gpa), sizeof(uint32_t), kRead));
  return ranges_[index].LoadAcquire32(gpa);
}

base::Result<void> Vtl0Memory::StoreRelease32(mem::Gpa gpa, uint32_t value) {
  std::shared_lock lock(mutex_);
  const size_t index = TRY(CheckLocked(mem::ToU64(gpa), sizeof(uint32_t), kWrite));
  return ranges_[index].StoreRelease32(gpa, value);
}

base::Result<void> Vtl0Memory::ChangeProtection(
    uint64_t first_gpn, uint64_t count, uint32_t flags,
    const std::function<base::Result<void>()>& apply) {
  if ((flags & ~kAll) != 0) return base::Error("unknown protection flags");
  if (count == 0) return base::Ok();
  if (first_gpn > (UINT64_MAX >> kPageShift) || count > (UINT64_MAX >> kPageShift) - first_gpn ||
      !Find(first_gpn << kPageShift, count << kPageShift))
    return base::Error::Format("pages %#" PRIx64 "+%#" PRIx64 " are not VTL0 RAM",
                               first_gpn << kPageShift, count);
  std::unique_lock lock(mutex_);
  TRY(apply());
  for (uint64_t gpn = first_gpn; gpn < first_gpn + count; ++gpn) {
    if (flags == kAll)
      protected_.erase(gpn);
    else
      protected_[gpn] = flags;
  }
  ++generation_;
  return base::Ok();
}

uint32_t Vtl0Memory::Flags(uint64_t gpn) const {
  std::shared_lock lock(mutex_);
  const auto it = protected_.find(gpn);
  return it == protected_.end() ? kAll : it->second;
}

uint64_t Vtl0Memory::generation() const {
  std::shared_lock lock(mutex_);
  return generation_;
}

uint64_t Vtl0Memory::end() const {
  uint64_t end = 0;
  for (const mem::GuestMemory& range : ranges_)
    end = std::max(end, mem::ToU64(range.base()) + range.size_bytes());
  return end;
}

}  // namespace hcl
