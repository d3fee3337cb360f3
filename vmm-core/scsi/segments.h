// Data-buffer segments (block::Segment lists) for SCSI commands: taking an
// exact byte prefix to hand to the block device, and copying emulated data
// in or out through a GuestBuffer. Every walk is bounded by the list's
// length and every sum is overflow-checked; GPAs stay unchecked here (the
// GuestBuffer and the block back end check them).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "base/result.h"
#include "block/device.h"
#include "scsi/disk.h"

namespace scsi {

// The first `bytes` bytes of `segments`, the last one trimmed; zero-length
// segments are dropped. Fails if the list holds fewer bytes.
base::Result<std::vector<block::Segment>> TakeSegments(std::span<const block::Segment> segments,
                                                       uint64_t bytes);

// Writes `data` to the start of the buffer `segments` describe, or reads
// the buffer's first out.size() bytes. Fails if the buffer is shorter or
// the GuestBuffer refuses an address.
base::Result<void> CopyToSegments(GuestBuffer& buffer, std::span<const block::Segment> segments,
                                  std::span<const std::byte> data);
base::Result<void> CopyFromSegments(GuestBuffer& buffer, std::span<const block::Segment> segments,
                                    std::span<std::byte> out);

}  // namespace scsi
