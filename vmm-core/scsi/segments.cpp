#include "scsi/segments.h"

#include <algorithm>

#include "base/checked.h"

namespace scsi {

base::Result<std::vector<block::Segment>> TakeSegments(std::span<const block::Segment> segments,
                                                       uint64_t bytes) {
  std::vector<block::Segment> taken;
  uint64_t remaining = bytes;
  for (const block::Segment& segment : segments) {
    if (remaining == 0) break;
    if (segment.bytes == 0) continue;
    const auto piece = static_cast<uint32_t>(std::min<uint64_t>(segment.bytes, remaining));
    taken.push_back({segment.gpa, piece});
    remaining -= piece;
  }
  if (remaining != 0)
    return base::Error::Format("data buffer holds fewer than %llu bytes",
                               static_cast<unsigned long long>(bytes));
  return taken;
}

namespace {

// Calls `copy(gpa, offset, length)` for each piece of the first `total`
// bytes of the buffer.
template <typename CopyPiece>
base::Result<void> ForEachPiece(std::span<const block::Segment> segments, size_t total,
                                CopyPiece copy) {
  size_t done = 0;
  for (const block::Segment& segment : segments) {
    if (done == total) break;
    const size_t piece = std::min<size_t>(segment.bytes, total - done);
    if (piece == 0) continue;
    TRY(copy(segment.gpa, done, piece));
    done += piece;
  }
  if (done != total) return base::Error::Format("data buffer holds fewer than %zu bytes", total);
  return base::Ok();
}

}  // namespace

base::Result<void> CopyToSegments(GuestBuffer& buffer, std::span<const block::Segment> segments,
                                  std::span<const std::byte> data) {
  return ForEachPiece(segments, data.size(), [&](mem::Gpa gpa, size_t offset, size_t length) {
    return buffer.Write(gpa, data.subspan(offset, length));
  });
}

base::Result<void> CopyFromSegments(GuestBuffer& buffer, std::span<const block::Segment> segments,
                                    std::span<std::byte> out) {
  return ForEachPiece(segments, out.size(), [&](mem::Gpa gpa, size_t offset, size_t length) {
    return buffer.Read(gpa, out.subspan(offset, length));
  });
}

}  // namespace scsi
