// PRP walking: the data buffer a command's PRP1/PRP2 pair describes, as
// block::Segments (NVMe 2.0 "Physical Region Page Entry and List", the
// brief's §4.1.1; nvme-vfio.md §3).
//
// Rules applied, for a memory page size of 4 KiB (CC.MPS = 0):
//   - PRP1 may carry a dword-aligned offset into its page and covers the
//     rest of that page;
//   - if the data ends in PRP1's page, PRP2 is ignored; if it needs exactly
//     one more page, PRP2 is that page (offset 0); otherwise PRP2 points to
//     a PRP list (qword aligned, any offset in its page);
//   - every list entry has offset 0; when data remains after a list page
//     is full, its last entry points to the next list page (page aligned);
//   - list pages are copied once each (through DmaMemory), and only as
//     many entries as the transfer needs are read, so the work is bounded
//     by the transfer size the caller already bounded (MDTS).
// Pages that are physically adjacent merge into one segment.
//
// Errors become the NVMe status the command fails with: a misaligned
// entry is PRP Offset Invalid, an unreadable list page Data Transfer Error,
// both with DNR set (a retry would walk the same PRPs).
// The data pages themselves are not touched here: whoever moves the data
// (the block back end, the controller for admin data) reaches them through
// DMA and fails the command if they are not backed.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "block/device.h"
#include "nvme/dma.h"
#include "nvme/wire.h"

namespace nvme {

inline constexpr uint32_t kMemoryPageBytes = 4096;  // CC.MPS = 0

struct PrpResult {
  wire::Status status;                  // kSuccess, or why the command fails
  std::vector<block::Segment> segments;  // in order; empty on failure
  bool ok() const { return status.ok(); }
};

// `transfer_bytes` of data described by `prp1`/`prp2` (guest-controlled).
// A transfer of 0 bytes yields no segments.
PrpResult WalkPrps(DmaMemory& dma, uint64_t prp1, uint64_t prp2, uint32_t transfer_bytes);

// Copies between a host buffer and the segments (admin data such as an
// Identify page, DSM ranges). `bytes` must not be longer than the segments.
base::Result<void> WriteSegments(DmaMemory& dma, std::span<const block::Segment> segments,
                                 std::span<const std::byte> bytes);
base::Result<void> ReadSegments(DmaMemory& dma, std::span<const block::Segment> segments,
                                std::span<std::byte> bytes);

}  // namespace nvme
