#include "vsm/host_visibility.h"

#include <optional>

#include "base/checked.h"
#include "base/page.h"

namespace loader::vsm {

HostVisibility::HostVisibility(uint64_t ram_base, uint64_t ram_bytes)
    : first_gpn_(ram_base / base::kPageSize),
      page_count_(ram_bytes / base::kPageSize),
      pages_(page_count_, static_cast<uint8_t>(kNone)) {}

hv::Status HostVisibility::Modify(std::span<const uint64_t> gpns, uint32_t visibility) {
  if (visibility != kNone && visibility != kReadable && visibility != kReadWrite)
    return hv::Status::kInvalidParameter;
  // All or nothing: check every GPN before changing any.
  for (uint64_t gpn : gpns)
    if (gpn < first_gpn_ || gpn - first_gpn_ >= page_count_) return hv::Status::kInvalidParameter;
  const std::lock_guard lock(mutex_);
  for (uint64_t gpn : gpns) pages_[gpn - first_gpn_] = static_cast<uint8_t>(visibility);
  return hv::Status::kSuccess;
}

bool HostVisibility::Allows(uint64_t gpa, uint64_t bytes, bool device_writes) const {
  const std::optional<uint64_t> end = base::CheckedAdd(gpa, bytes);
  if (bytes == 0 || !end) return false;
  const uint64_t first = gpa / base::kPageSize;
  const uint64_t last = (*end - 1) / base::kPageSize;
  if (first < first_gpn_ || last - first_gpn_ >= page_count_) return false;
  const uint8_t needed = device_writes ? kReadWrite : kReadable;
  const std::lock_guard lock(mutex_);
  for (uint64_t gpn = first; gpn <= last; ++gpn)
    if ((pages_[gpn - first_gpn_] & needed) != needed) return false;
  return true;
}

uint64_t HostVisibility::visible_pages() const {
  const std::lock_guard lock(mutex_);
  uint64_t count = 0;
  for (uint8_t page : pages_) count += page != kNone ? 1 : 0;
  return count;
}

}  // namespace loader::vsm
