#include "vfio/page_pool.h"

#include <algorithm>
#include <bit>

#include "base/checked.h"
#include "base/page.h"

namespace hcl::vfio {

base::Result<std::unique_ptr<PagePool>> PagePool::Create(std::vector<DmaRegion> regions) {
  std::vector<Region> out;
  uint64_t total = 0;
  for (const DmaRegion& region : regions) {
    const uint64_t bytes = region.host.size();
    const auto host_address = static_cast<uint64_t>(std::bit_cast<uintptr_t>(region.host.data()));
    if (bytes == 0 || !base::IsAligned(bytes, base::kPageSize) ||
        !base::IsAligned(host_address, base::kPageSize) ||
        !base::IsAligned(region.device_address, base::kPageSize))
      return base::Error::Format("DMA region at device address 0x%llx: empty or not page aligned",
                                 static_cast<unsigned long long>(region.device_address));
    if (!base::CheckedAdd(region.device_address, bytes))
      return base::Error::Format("DMA region at device address 0x%llx wraps",
                                 static_cast<unsigned long long>(region.device_address));
    for (const Region& other : out) {
      const uint64_t a = region.device_address, b = other.memory.device_address;
      const bool disjoint = a >= b ? a - b >= other.memory.host.size() : b - a >= bytes;
      if (!disjoint)
        return base::Error::Format("DMA regions overlap at device address 0x%llx",
                                   static_cast<unsigned long long>(a));
    }
    const uint64_t pages = bytes / base::kPageSize;
    out.push_back(Region{region, pages, {Run{0, pages}}, {}});
    total += pages;
  }
  return std::unique_ptr<PagePool>(new PagePool(std::move(out), total));
}

base::Result<nvme::driver::DmaBuffer> PagePool::Allocate(size_t bytes) {
  if (bytes == 0 || !base::IsAligned<uint64_t>(bytes, base::kPageSize))
    return base::Error::Format("DMA pool: %zu bytes is not a nonzero number of pages", bytes);
  const uint64_t pages = bytes / base::kPageSize;
  std::lock_guard lock(mutex_);
  for (Region& region : regions_) {
    auto fit = std::find_if(region.free.begin(), region.free.end(),
                            [pages](const Run& run) { return run.pages >= pages; });
    if (fit == region.free.end()) continue;
    const Run taken{fit->first_page, pages};
    if (fit->pages == pages) {
      region.free.erase(fit);
    } else {
      fit->first_page += pages;
      fit->pages -= pages;
    }
    auto at = std::lower_bound(region.used.begin(), region.used.end(), taken.first_page,
                               [](const Run& run, uint64_t page) { return run.first_page < page; });
    region.used.insert(at, taken);
    const uint64_t offset = taken.first_page * base::kPageSize;
    return nvme::driver::DmaBuffer{
        region.memory.host.subspan(static_cast<size_t>(offset), bytes),
        region.memory.device_address + offset};
  }
  return base::Error::Format("DMA pool: no %llu contiguous free pages",
                             static_cast<unsigned long long>(pages));
}

bool PagePool::ReturnRunLocked(Region& region, Run run) {
  auto used = std::lower_bound(region.used.begin(), region.used.end(), run.first_page,
                               [](const Run& r, uint64_t page) { return r.first_page < page; });
  if (used == region.used.end() || used->first_page != run.first_page || used->pages != run.pages)
    return false;
  region.used.erase(used);
  // Insert into the sorted free list and merge with its neighbours.
  auto next = std::lower_bound(region.free.begin(), region.free.end(), run.first_page,
                               [](const Run& r, uint64_t page) { return r.first_page < page; });
  next = region.free.insert(next, run);
  if (auto after = next + 1;
      after != region.free.end() && next->first_page + next->pages == after->first_page) {
    next->pages += after->pages;
    region.free.erase(after);
  }
  if (next != region.free.begin()) {
    auto before = next - 1;
    if (before->first_page + before->pages == next->first_page) {
      before->pages += next->pages;
      region.free.erase(next);
    }
  }
  return true;
}

void PagePool::Free(const nvme::driver::DmaBuffer& buffer) {
  std::lock_guard lock(mutex_);
  for (Region& region : regions_) {
    const uint64_t base_address = region.memory.device_address;
    const uint64_t bytes = region.memory.host.size();
    if (buffer.device_address < base_address ||
        !base::RangeFits<uint64_t>(buffer.device_address - base_address, buffer.host.size(), bytes))
      continue;
    const uint64_t offset = buffer.device_address - base_address;
    // The host view must be the one Allocate gave for this device range.
    const bool same_host = buffer.host.data() == region.memory.host.data() + offset;
    if (same_host && base::IsAligned(offset, base::kPageSize) && !buffer.host.empty() &&
        base::IsAligned<uint64_t>(buffer.host.size(), base::kPageSize) &&
        ReturnRunLocked(region, Run{offset / base::kPageSize, buffer.host.size() / base::kPageSize}))
      return;
    break;
  }
  ++refused_frees_;
}

uint64_t PagePool::free_pages() const {
  std::lock_guard lock(mutex_);
  uint64_t pages = 0;
  for (const Region& region : regions_)
    for (const Run& run : region.free) pages += run.pages;
  return pages;
}

uint64_t PagePool::refused_frees() const {
  std::lock_guard lock(mutex_);
  return refused_frees_;
}

}  // namespace hcl::vfio
