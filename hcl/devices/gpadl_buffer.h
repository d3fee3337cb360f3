// GpadlBuffer: the bytes of a GPADL the guest made for a device (netvsc's
// receive and send buffers), read and written by offset through the VTL0
// gate. The GPADL's ranges are copied when the device takes it; every
// access is checked against them and against what VTL0 may touch now
// (Vtl0Memory), so a GPADL the guest tears down or re-protects later is
// never reached past its bounds or its permissions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "base/result.h"
#include "block/device.h"
#include "paravisor/vtl0_memory.h"
#include "vmbus/gpadl.h"

namespace hcl {

// Reads [offset, offset + out.size()) of the bytes `ranges` describe in
// order (each range's bytes start byte_offset into its first page: a
// GPADL's ranges, or a packet's GPA-direct ones), from VTL0 RAM that VTL0
// may read now; an Error past their bytes or on a refused page.
base::Result<void> ReadGpaRanges(const Vtl0Memory& memory, std::span<const vmbus::GpaRange> ranges,
                                 uint64_t offset, std::span<std::byte> out);

// Appends to `pieces` the guest-physical pieces of [offset, offset +
// length) of the same bytes, physically contiguous ones merged, for a
// device that will read them in place: each must be VTL0 RAM that VTL0
// may read now. An Error past their bytes, on a refused page, or if
// `pieces` would grow past `max_pieces`.
base::Result<void> GpaRangePieces(const Vtl0Memory& memory, std::span<const vmbus::GpaRange> ranges,
                                  uint64_t offset, uint64_t length, size_t max_pieces,
                                  std::vector<block::Segment>& pieces);

class GpadlBuffer {
 public:
  GpadlBuffer(Vtl0Memory& memory, vmbus::Gpadl gpadl);

  uint64_t size() const { return size_; }
  base::Result<void> Read(uint64_t offset, std::span<std::byte> out) const;
  // GpaRangePieces over the GPADL's ranges.
  base::Result<void> Pieces(uint64_t offset, uint64_t length, size_t max_pieces,
                            std::vector<block::Segment>& pieces) const;
  base::Result<void> Write(uint64_t offset, std::span<const std::byte> in);

 private:
  Vtl0Memory& memory_;
  vmbus::Gpadl gpadl_;
  uint64_t size_ = 0;
};

}  // namespace hcl
