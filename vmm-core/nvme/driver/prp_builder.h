// Turning a block::Request's data segments into NVMe commands whose data
// pointers are PRPs (NVMe 2.0 §4.1.1 "Physical Region Page Entry and
// List"; nvme-vfio.md §3), zero copy: the device DMAs straight into the
// segments' pages.
//
// PRP rules for a memory page size of 4 KiB (CC.MPS = 0):
//   - PRP1 may start at any dword-aligned offset and covers the rest of
//     its page;
//   - every later page of the transfer is a whole, page-aligned page, so
//     inside one command a segment may end other than on a page boundary
//     only if it is the command's last, and may start other than on a page
//     boundary only if it is the command's first.
//
// Policy: requests are SPLIT, never bounced. A request whose segments
// break the rules at a joint becomes several commands, cut at that joint;
// a request longer than the largest transfer (MDTS and the driver's own
// cap) is cut every max_transfer_bytes. A cut must fall on a logical
// block boundary (each command moves whole blocks) and every command must
// start dword aligned; a request that needs a cut anywhere else cannot be
// expressed and fails with block::Status::kInvalid (the caller's job then;
// nothing here copies data).
//
// Not here: where the PRP list lives (the queue pair writes `pages` into a
// list page from the DMA pool), opcodes, LBAs beyond their offsets.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "base/result.h"
#include "block/device.h"

namespace nvme::driver {

inline constexpr uint64_t kPrpPageBytes = 4096;
// A command's PRP list must fit one list page (512 entries, no chaining):
// the driver never builds commands longer than this.
inline constexpr uint32_t kMaxPrpListEntries = kPrpPageBytes / sizeof(uint64_t);
inline constexpr uint32_t kMaxCommandBytes = kMaxPrpListEntries * kPrpPageBytes;  // 2 MiB

// The data pointer of one command.
struct PrpPlan {
  uint64_t prp1 = 0;            // first byte of the data (dword aligned)
  std::vector<uint64_t> pages;  // page-aligned addresses of pages 2..n; <= kMaxPrpListEntries
};

// One NVMe command's share of a request.
struct DataCommand {
  uint64_t block_offset = 0;  // from the request's first LBA
  uint32_t block_count = 0;   // >= 1
  PrpPlan prps;
};

// Splits `segments` (sum of bytes == block_count * block_size is checked)
// into commands of at most `max_transfer_bytes` (a multiple of 4096, at
// most kMaxCommandBytes, at least block_size). `block_size` is a power of
// two, 512..4096. Zero-length segments are skipped. Commands are in data
// order.
base::Result<std::vector<DataCommand>> BuildDataCommands(std::span<const block::Segment> segments,
                                                         uint64_t block_count, uint32_t block_size,
                                                         uint32_t max_transfer_bytes);

}  // namespace nvme::driver
