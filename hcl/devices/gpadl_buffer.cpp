#include "devices/gpadl_buffer.h"

#include "base/checked.h"
#include "base/page.h"

#include <cstdint>

namespace hcl {

namespace {

// Calls `chunk(gpa, bytes_done, length)` for each piece of [offset,
// offset + length) of the bytes of `ranges` (`size` in all) within one page.
template <typename Chunk>
base::Result<void> WalkRanges(std::span<const vmbus::GpaRange> ranges, uint64_t size,
                              uint64_t offset, uint64_t length, Chunk&& chunk) {
  if (!base::RangeFits<uint64_t>(offset, length, size))
    return base::Error::Format("%llu bytes at %llu are outside the %llu bytes of the GPA ranges",
                               static_cast<unsigned long long>(length),
                               static_cast<unsigned long long>(offset),
                               static_cast<unsigned long long>(size));
  uint64_t done = 0;
  for (const auto& range : ranges) {
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
      if (page >= range.pfns.size()) return base::Error("GPA range shorter than its byte count");
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

uint64_t TotalBytes(std::span<const vmbus::GpaRange> ranges) {
  uint64_t size = 0;
  for (const auto& range : ranges) size += range.byte_count;
  return size;
}

base::Result<void> ReadRanges(const Vtl0Memory& memory, std::span<const vmbus::GpaRange> ranges,
                              uint64_t size, uint64_t offset, std::span<std::byte> out) {
  return WalkRanges(ranges, size, offset, out.size(),
                    [&](uint64_t gpa, uint64_t done, uint64_t bytes) {
                      return memory.Read(mem::Gpa{gpa}, out.subspan(done, bytes));
                    });
}

base::Result<void> PiecesOfRanges(const Vtl0Memory& memory, std::span<const vmbus::GpaRange> ranges,
                                  uint64_t size, uint64_t offset, uint64_t length, size_t max_pieces,
                                  std::vector<block::Segment>& pieces) {
  return WalkRanges(ranges, size, offset, length, [&](uint64_t gpa, uint64_t, uint64_t bytes) {
    if (!memory.Allows(gpa, bytes, Vtl0Memory::kRead))
      return base::Result<void>(base::Error::Format(
          "GPA 0x%llx is not VTL0 RAM VTL0 may read", static_cast<unsigned long long>(gpa)));
    // A chunk lies within one page: merging keeps a piece far below 4 GiB
    // for the lengths callers ask (a frame).
    if (!pieces.empty() && mem::ToU64(pieces.back().gpa) + pieces.back().bytes == gpa &&
        pieces.back().bytes + bytes <= UINT32_MAX) {
      pieces.back().bytes += static_cast<uint32_t>(bytes);
    } else if (pieces.size() < max_pieces) {
      pieces.push_back({mem::Gpa{gpa}, static_cast<uint32_t>(bytes)});
    } else {
      return base::Result<void>(
          base::Error::Format("the bytes lie in more than %zu pieces", max_pieces));
    }
    return base::Result<void>(base::Ok());
  });
}

}  // namespace

base::Result<void> GpaRangePieces(const Vtl0Memory& memory, std::span<const vmbus::GpaRange> ranges,
                                  uint64_t offset, uint64_t length, size_t max_pieces,
                                  std::vector<block::Segment>& pieces) {
  return PiecesOfRanges(memory, ranges, TotalBytes(ranges), offset, length, max_pieces, pieces);
}

base::Result<void> GpadlBuffer::Pieces(uint64_t offset, uint64_t length, size_t max_pieces,
                                       std::vector<block::Segment>& pieces) const {
  return PiecesOfRanges(memory_, gpadl_.ranges, size_, offset, length, max_pieces, pieces);
}

base::Result<void> ReadGpaRanges(const Vtl0Memory& memory, std::span<const vmbus::GpaRange> ranges,
                                 uint64_t offset, std::span<std::byte> out) {
  return ReadRanges(memory, ranges, TotalBytes(ranges), offset, out);
}

GpadlBuffer::GpadlBuffer(Vtl0Memory& memory, vmbus::Gpadl gpadl)
    : memory_(memory), gpadl_(std::move(gpadl)), size_(TotalBytes(gpadl_.ranges)) {}

base::Result<void> GpadlBuffer::Read(uint64_t offset, std::span<std::byte> out) const {
  return ReadRanges(memory_, gpadl_.ranges, size_, offset, out);
}

base::Result<void> GpadlBuffer::Write(uint64_t offset, std::span<const std::byte> in) {
  return WalkRanges(gpadl_.ranges, size_, offset, in.size(),
                    [&](uint64_t gpa, uint64_t done, uint64_t bytes) {
                      return memory_.Write(mem::Gpa{gpa}, in.subspan(done, bytes));
                    });
}

}  // namespace hcl
