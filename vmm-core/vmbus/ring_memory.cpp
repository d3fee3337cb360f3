#include "vmbus/ring_memory.h"

#include <algorithm>
#include <cinttypes>

#include "base/checked.h"
#include "base/page.h"

namespace vmbus {

base::Result<void> GuestMemoryPageAccess::Read(mem::Gpa gpa, std::span<std::byte> out) {
  return memory_->Read(gpa, out);
}

base::Result<void> GuestMemoryPageAccess::Write(mem::Gpa gpa, std::span<const std::byte> in) {
  return memory_->Write(gpa, in);
}

base::Result<uint32_t> GuestMemoryPageAccess::LoadAcquire32(mem::Gpa gpa) {
  return memory_->LoadAcquire32(gpa);
}

base::Result<void> GuestMemoryPageAccess::StoreRelease32(mem::Gpa gpa, uint32_t value) {
  return memory_->StoreRelease32(gpa, value);
}

base::Result<RingView> RingView::Create(PageAccess& memory, std::span<const uint64_t> pfns) {
  // hyperv-vmbus.md §5.3: a ring is one header page plus data pages.
  if (pfns.size() < wire::kMinRingPages)
    return base::Error::Format("a ring needs at least %u pages (header and data), got %zu",
                               wire::kMinRingPages, pfns.size());
  // Ring indices are u32 byte offsets into the data area.
  const uint64_t data_pages = pfns.size() - 1;
  if (data_pages > UINT32_MAX / base::kPageSize)
    return base::Error::Format("a ring data area of %" PRIu64 " pages does not fit 32-bit indices",
                               data_pages);
  for (const uint64_t pfn : pfns) {
    if (pfn > kMaxPfn) return base::Error::Format("ring page number %#" PRIx64 " is not an address", pfn);
  }
  return RingView(memory, std::vector<uint64_t>(pfns.begin(), pfns.end()),
                  static_cast<uint32_t>(data_pages * base::kPageSize));
}

base::Result<uint32_t> RingView::LoadAcquire(RingField field) {
  return memory_->LoadAcquire32(mem::Gpa{pfns_[0] * base::kPageSize + static_cast<uint32_t>(field)});
}

base::Result<void> RingView::StoreRelease(RingField field, uint32_t value) {
  return memory_->StoreRelease32(
      mem::Gpa{pfns_[0] * base::kPageSize + static_cast<uint32_t>(field)}, value);
}

mem::Gpa RingView::DataGpa(uint32_t offset) const {
  const uint64_t page = pfns_[1 + offset / base::kPageSize];
  return mem::Gpa{page * base::kPageSize + base::PageOffset(offset)};
}

base::Result<void> RingView::CheckSpan(uint32_t offset, size_t size_bytes) const {
  if (offset >= data_bytes_ || size_bytes > data_bytes_)
    return base::Error::Format("ring copy of %zu bytes at %#x exceeds a %#x-byte data area",
                               size_bytes, offset, data_bytes_);
  return base::Ok();
}

// Both copies walk the data area from `offset`, one page (or the rest of
// the data area) at a time, wrapping to 0 at the end: at most
// data_bytes / 4096 + 1 steps.
base::Result<void> RingView::ReadData(uint32_t offset, std::span<std::byte> out) {
  TRY(CheckSpan(offset, out.size()));
  uint32_t position = offset;
  while (!out.empty()) {
    const uint64_t to_page_end = base::kPageSize - base::PageOffset(position);
    const size_t chunk = static_cast<size_t>(std::min<uint64_t>(out.size(), to_page_end));
    TRY(memory_->Read(DataGpa(position), out.first(chunk)));
    out = out.subspan(chunk);
    // position + chunk <= data_bytes_ (pages tile the data area).
    position = static_cast<uint32_t>(position + chunk);
    if (position == data_bytes_) position = 0;
  }
  return base::Ok();
}

base::Result<void> RingView::WriteData(uint32_t offset, std::span<const std::byte> in) {
  TRY(CheckSpan(offset, in.size()));
  uint32_t position = offset;
  while (!in.empty()) {
    const uint64_t to_page_end = base::kPageSize - base::PageOffset(position);
    const size_t chunk = static_cast<size_t>(std::min<uint64_t>(in.size(), to_page_end));
    TRY(memory_->Write(DataGpa(position), in.first(chunk)));
    in = in.subspan(chunk);
    position = static_cast<uint32_t>(position + chunk);
    if (position == data_bytes_) position = 0;
  }
  return base::Ok();
}

}  // namespace vmbus
