// Guest memory as a VMBus ring sees it (hyperv-vmbus.md §5.3).
//
// A ring lives in guest pages named by a GPADL: its header page, then its
// data pages, in whatever physical order the guest chose. `PageAccess` is
// the one door to those pages (in hcl: an adapter over the VTL0 memory gate,
// which checks VTL0 RAM and protections; in tests: a fake). `RingView` maps
// ring offsets to pages, so a copy that crosses a page or wraps at the end
// of the data area becomes several page-sized accesses, each inside one
// page.
//
// Left to others: which pages belong to a ring (RingLayout, ring.h), the
// packet format and the signalling rules (ring.h), mapping or pinning
// pages, and serialising access (one thread per ring direction).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <utility>
#include <vector>

#include "base/result.h"
#include "mem/guest_memory.h"
#include "vmbus/ring_wire.h"

namespace vmbus {

// The guest physical memory a ring reads and writes. Every call made by
// RingView stays within one 4 KiB page; the 32-bit calls are 4-aligned.
// All of it is shared with the guest, which may change it at any time.
class PageAccess {
 public:
  virtual ~PageAccess() = default;
  virtual base::Result<void> Read(mem::Gpa gpa, std::span<std::byte> out) = 0;
  virtual base::Result<void> Write(mem::Gpa gpa, std::span<const std::byte> in) = 0;
  // Ring indices: an acquire load pairs with the writer's release (the
  // packet bytes before the index, hyperv-vmbus.md §5.3), a release store
  // publishes our bytes before our index.
  virtual base::Result<uint32_t> LoadAcquire32(mem::Gpa gpa) = 0;
  virtual base::Result<void> StoreRelease32(mem::Gpa gpa, uint32_t value) = 0;
};

// PageAccess over one mem::GuestMemory range (the loader, tests).
class GuestMemoryPageAccess final : public PageAccess {
 public:
  explicit GuestMemoryPageAccess(mem::GuestMemory& memory) : memory_(&memory) {}
  base::Result<void> Read(mem::Gpa gpa, std::span<std::byte> out) override;
  base::Result<void> Write(mem::Gpa gpa, std::span<const std::byte> in) override;
  base::Result<uint32_t> LoadAcquire32(mem::Gpa gpa) override;
  base::Result<void> StoreRelease32(mem::Gpa gpa, uint32_t value) override;

 private:
  mem::GuestMemory* memory_;
};

// The 32-bit header fields a ring touches (wire::RingHeader).
enum class RingField : uint32_t {
  kWriteIndex = offsetof(wire::RingHeader, write_index),
  kReadIndex = offsetof(wire::RingHeader, read_index),
  kInterruptMask = offsetof(wire::RingHeader, interrupt_mask),
  kPendingSendSize = offsetof(wire::RingHeader, pending_send_sz),
  kFeatureBits = offsetof(wire::RingHeader, feature_bits),
};

// The highest page number whose address (pfn * 4096) fits in 64 bits.
inline constexpr uint64_t kMaxPfn = UINT64_MAX >> 12;

// One ring's pages: pfns[0] is the header, pfns[1..] the data area.
class RingView {
 public:
  // `pfns` (guest-controlled) must hold at least 2 pages, each a valid page
  // number, and a data area whose byte size fits in 32 bits (ring indices
  // are u32). `memory` must outlive the view.
  static base::Result<RingView> Create(PageAccess& memory, std::span<const uint64_t> pfns);

  // Size of the data area in bytes: a multiple of 4096, below 2^32.
  uint32_t data_bytes() const { return data_bytes_; }

  base::Result<uint32_t> LoadAcquire(RingField field);
  base::Result<void> StoreRelease(RingField field, uint32_t value);

  // Copy data-area bytes starting at `offset` (< data_bytes()), wrapping at
  // the end of the data area; the span may be at most data_bytes() long.
  base::Result<void> ReadData(uint32_t offset, std::span<std::byte> out);
  base::Result<void> WriteData(uint32_t offset, std::span<const std::byte> in);

 private:
  RingView(PageAccess& memory, std::vector<uint64_t> pfns, uint32_t data_bytes)
      : memory_(&memory), pfns_(std::move(pfns)), data_bytes_(data_bytes) {}

  // The guest address of data byte `offset` (< data_bytes()).
  mem::Gpa DataGpa(uint32_t offset) const;
  base::Result<void> CheckSpan(uint32_t offset, size_t size_bytes) const;

  PageAccess* memory_;
  std::vector<uint64_t> pfns_;
  uint32_t data_bytes_;
};

}  // namespace vmbus
