// nvme::DmaMemory: the memory an NVMe controller reaches by DMA (queues,
// PRP lists, data buffers), as an interface the controller core calls and
// its host implements: the loader over the VTL2 guest's RAM (mem::), tests
// and fuzzers over a byte vector (nvme/testing/fake_dma_memory.h).
//
// Every access is a copy: the core never holds a pointer into DMA memory,
// so a value it validated cannot change under it (STYLE.md §3.1). An
// address range that is not backed (not RAM, beyond the end) fails with an
// Error; the core turns that into an NVMe status or a controller fatal
// status, never an abort.
//
// Ordering: the core writes a completion entry as two Writes, the entry's
// first 12 bytes and then its last 4 (CID, status and phase tag), and
// relies on a later Write not becoming visible to the host before an
// earlier one (x86 stores are ordered; an implementation over shared
// memory needs no more than a compiler barrier between calls).
// Thread safety: the controller calls under its own lock, but two
// controllers may share one DmaMemory from different threads.
#pragma once

#include <cstddef>
#include <span>

#include "base/result.h"
#include "mem/guest_memory.h"

namespace nvme {

class DmaMemory {
 public:
  virtual ~DmaMemory() = default;
  virtual base::Result<void> Read(mem::Gpa gpa, std::span<std::byte> out) = 0;
  virtual base::Result<void> Write(mem::Gpa gpa, std::span<const std::byte> in) = 0;
};

}  // namespace nvme
