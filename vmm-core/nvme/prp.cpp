#include "nvme/prp.h"

#include <algorithm>
#include <array>

#include "base/checked.h"
#include "base/le_bytes.h"

namespace nvme {
namespace {

constexpr uint64_t kPageMask = kMemoryPageBytes - 1;

PrpResult Fail(uint8_t generic_status) { return PrpResult{wire::GenericStatus(generic_status), {}}; }

// Appends [gpa, gpa + bytes), merging with the previous segment when the
// two are physically adjacent.
void Append(std::vector<block::Segment>& segments, uint64_t gpa, uint32_t bytes) {
  if (!segments.empty()) {
    block::Segment& last = segments.back();
    const auto end = base::CheckedAdd<uint64_t>(mem::ToU64(last.gpa), last.bytes);
    const auto merged = base::CheckedAdd<uint32_t>(last.bytes, bytes);
    if (end && *end == gpa && merged) {
      last.bytes = *merged;
      return;
    }
  }
  segments.push_back(block::Segment{mem::Gpa{gpa}, bytes});
}

}  // namespace

PrpResult WalkPrps(DmaMemory& dma, uint64_t prp1, uint64_t prp2, uint32_t transfer_bytes) {
  PrpResult result;
  if (transfer_bytes == 0) return result;

  // NVMe 2.0 "PRP Entry": the first entry's offset is dword aligned
  // (bits 1:0 cleared); it covers up to the end of its page.
  if ((prp1 & 3) != 0) return Fail(wire::generic::kPrpOffsetInvalid);
  const uint32_t first_bytes =
      std::min<uint32_t>(transfer_bytes, static_cast<uint32_t>(kMemoryPageBytes - (prp1 & kPageMask)));
  Append(result.segments, prp1, first_bytes);
  uint32_t remaining = transfer_bytes - first_bytes;
  if (remaining == 0) return result;

  // One more page: PRP2 is a data page, offset 0.
  if (remaining <= kMemoryPageBytes) {
    if ((prp2 & kPageMask) != 0) return Fail(wire::generic::kPrpOffsetInvalid);
    Append(result.segments, prp2, remaining);
    return result;
  }

  // More: PRP2 is a PRP list pointer, qword aligned, possibly offset into
  // its page (Linux 6.1 carves short lists from a 256-byte pool).
  if ((prp2 & 7) != 0) return Fail(wire::generic::kPrpOffsetInvalid);
  uint64_t list_gpa = prp2;
  uint32_t pages_needed = (remaining + kMemoryPageBytes - 1) / kMemoryPageBytes;
  std::array<std::byte, kMemoryPageBytes> list_bytes;
  // Each pass reads one list page and consumes at least one data entry,
  // except a pass over a list whose only slot is a chain pointer, which is
  // followed by a full, page-aligned page: at most 2 * pages_needed passes.
  while (pages_needed > 0) {
    const size_t slots = (kMemoryPageBytes - (list_gpa & kPageMask)) / sizeof(uint64_t);
    // A full page with data left over ends in a pointer to the next page.
    const bool chains = pages_needed > slots;
    const size_t entries = chains ? slots : pages_needed;
    const auto window = std::span(list_bytes).first(entries * sizeof(uint64_t));
    // Copy the list entries once; parse only the copy.
    if (!dma.Read(mem::Gpa{list_gpa}, window)) return Fail(wire::generic::kDataTransferError);
    const size_t data_entries = chains ? entries - 1 : entries;
    for (size_t i = 0; i < data_entries; ++i) {
      uint64_t entry = 0;
      (void)base::LoadLe<uint64_t>(window, i * sizeof(uint64_t), entry);
      if ((entry & kPageMask) != 0) return Fail(wire::generic::kPrpOffsetInvalid);
      const uint32_t bytes = std::min(remaining, kMemoryPageBytes);
      Append(result.segments, entry, bytes);
      remaining -= bytes;
      --pages_needed;
    }
    if (chains) {
      uint64_t next = 0;
      (void)base::LoadLe<uint64_t>(window, (entries - 1) * sizeof(uint64_t), next);
      if ((next & kPageMask) != 0) return Fail(wire::generic::kPrpOffsetInvalid);
      list_gpa = next;
    }
  }
  return result;
}

base::Result<void> WriteSegments(DmaMemory& dma, std::span<const block::Segment> segments,
                                 std::span<const std::byte> bytes) {
  size_t at = 0;
  for (const block::Segment& segment : segments) {
    if (at == bytes.size()) break;
    const size_t chunk = std::min<size_t>(segment.bytes, bytes.size() - at);
    TRY(dma.Write(segment.gpa, bytes.subspan(at, chunk)));
    at += chunk;
  }
  if (at != bytes.size()) return base::Error("data longer than its PRP segments");
  return base::Ok();
}

base::Result<void> ReadSegments(DmaMemory& dma, std::span<const block::Segment> segments,
                                std::span<std::byte> bytes) {
  size_t at = 0;
  for (const block::Segment& segment : segments) {
    if (at == bytes.size()) break;
    const size_t chunk = std::min<size_t>(segment.bytes, bytes.size() - at);
    TRY(dma.Read(segment.gpa, bytes.subspan(at, chunk)));
    at += chunk;
  }
  if (at != bytes.size()) return base::Error("data longer than its PRP segments");
  return base::Ok();
}

}  // namespace nvme
