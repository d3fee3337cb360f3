// mem::DmaMemory: the memory an emulated device reaches by DMA (queues,
// descriptor lists, data buffers), as an interface the device core calls
// and its host implements: hcl-loader over a guest's RAM under its DMA
// policy (loader/devices/guest_dma.h), tests and fuzzers over a byte
// vector (nvme/testing/fake_dma_memory.h). NVMe and MANA share it.
//
// Every access is a copy: a core never holds a pointer into DMA memory,
// so a value it validated cannot change under it (STYLE.md §3.1). An
// address range that is not backed (not RAM, beyond the end, refused by
// the policy) fails with an Error; the core turns that into the device's
// own error (an NVMe status, a MANA error completion), never an abort.
//
// Ordering: a later Write does not become visible to the guest before an
// earlier one (x86 stores are ordered; an implementation over shared
// memory needs no more than a compiler barrier between calls). Cores rely
// on it to write an entry's body before its valid bit or owner bits.
// Thread safety: a core calls under its own lock, but two cores may share
// one DmaMemory from different threads.
#pragma once

#include <cstddef>
#include <span>

#include "base/result.h"
#include "mem/guest_memory.h"

namespace mem {

class DmaMemory {
 public:
  virtual ~DmaMemory() = default;
  virtual base::Result<void> Read(Gpa gpa, std::span<std::byte> out) = 0;
  virtual base::Result<void> Write(Gpa gpa, std::span<const std::byte> in) = 0;
};

}  // namespace mem
