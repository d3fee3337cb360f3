#include "devices/gpadl_buffer.h"

#include "base/checked.h"
#include "base/page.h"

namespace hcl {

GpadlBuffer::GpadlBuffer(Vtl0Memory& memory, vmbus::Gpadl gpadl)
    : memory_(memory), gpadl_(std::move(gpadl)) {
  for (const auto& range : gpadl_.ranges) size_ += range.byte_count;
}

template <typename Chunk>
base::Result<void> GpadlBuffer::Walk(uint64_t offset, uint64_t length, Chunk&& chunk) const {
  if (!base::RangeFits<uint64_t>(offset, length, size_))
    return base::Error::Format("%llu bytes at %llu are outside the %llu-byte GPADL",
                               static_cast<unsigned long long>(length),
                               static_cast<unsigned long long>(offset),
                               static_cast<unsigned long long>(size_));
  uint64_t done = 0;
  for (const auto& range : gpadl_.ranges) {
    if (done == length) break;
    if (offset >= range.byte_count) {
      offset -= range.byte_count;
      continue;
    }
    // The range's bytes start byte_offset into its first page (the ring
    // reader and the GPADL builder checked the PFN count covers them).
    uint64_t at = range.byte_offset + offset;
    while (done < length && at < range.byte_offset + uint64_t{range.byte_count}) {
      const uint64_t page = at / base::kPageSize, in_page = at % base::kPageSize;
      if (page >= range.pfns.size()) return base::Error("GPADL range shorter than its byte count");
      const uint64_t bytes = std::min({length - done, base::kPageSize - in_page,
                                       range.byte_offset + uint64_t{range.byte_count} - at});
      TRY(chunk(range.pfns[page] * base::kPageSize + in_page, done, bytes));
      done += bytes;
      at += bytes;
    }
    offset = 0;
  }
  return base::Ok();
}

base::Result<void> GpadlBuffer::Read(uint64_t offset, std::span<std::byte> out) const {
  return Walk(offset, out.size(), [&](uint64_t gpa, uint64_t done, uint64_t bytes) {
    return memory_.Read(mem::Gpa{gpa}, out.subspan(done, bytes));
  });
}

base::Result<void> GpadlBuffer::Write(uint64_t offset, std::span<const std::byte> in) {
  return Walk(offset, in.size(), [&](uint64_t gpa, uint64_t done, uint64_t bytes) {
    return memory_.Write(mem::Gpa{gpa}, in.subspan(done, bytes));
  });
}

}  // namespace hcl
