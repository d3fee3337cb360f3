#include "vfio/bar_registers.h"

#include <atomic>

#include "base/checked.h"

namespace hcl::vfio {

uint32_t* BarRegisters::Word(uint64_t offset) const {
  if (!base::IsAligned<uint64_t>(offset, 4) || !base::RangeFits<uint64_t>(offset, 4, bar_.size()))
    return nullptr;
  // The BAR is device memory, not objects of ours: its words are reached
  // only through atomic_ref below.
  return reinterpret_cast<uint32_t*>(bar_.data() + offset);
}

uint32_t BarRegisters::Read32(uint64_t offset) {
  uint32_t* word = Word(offset);
  if (word == nullptr) return 0xFFFFFFFF;
  return std::atomic_ref<uint32_t>(*word).load(std::memory_order_acquire);
}

uint64_t BarRegisters::Read64(uint64_t offset) {
  // Two 32-bit reads, low then high (Linux lo_hi_readq, nvme-vfio.md §1.1).
  if (offset > UINT64_MAX - 4) return ~uint64_t{0};
  const uint64_t low = Read32(offset);
  const uint64_t high = Read32(offset + 4);
  return high << 32 | low;
}

void BarRegisters::Write32(uint64_t offset, uint32_t value) {
  uint32_t* word = Word(offset);
  if (word == nullptr) return;
  std::atomic_ref<uint32_t>(*word).store(value, std::memory_order_release);
}

}  // namespace hcl::vfio
