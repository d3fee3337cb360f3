#include "kvm/lapic.h"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>

namespace kvm {
namespace {

// SDM vol. 3A Table 11-1.
constexpr size_t kTpr = 0x80;
constexpr size_t kIsr = 0x100;
constexpr size_t kIrr = 0x200;

uint32_t Reg32(const kvm_lapic_state& lapic, size_t offset) {
  uint32_t value = 0;
  std::memcpy(&value, &lapic.regs[offset], sizeof value);
  return value;
}

// The highest vector set in the 256-bit register at `base` (eight 32-bit
// words, 16 bytes apart), or -1.
int Highest(const kvm_lapic_state& lapic, size_t base) {
  for (int word = 7; word >= 0; --word) {
    const uint32_t bits = Reg32(lapic, base + static_cast<size_t>(word) * 0x10);
    if (bits != 0) return word * 32 + 31 - __builtin_clz(bits);
  }
  return -1;
}

}  // namespace

bool InterruptDeliverable(const kvm_lapic_state& lapic) {
  const int irr = Highest(lapic, kIrr);
  if (irr < 0) return false;
  const int isr = Highest(lapic, kIsr);
  const int tpr_class = static_cast<int>((Reg32(lapic, kTpr) >> 4) & 0xF);
  const int ppr_class = std::max(tpr_class, isr < 0 ? 0 : isr >> 4);
  return (irr >> 4) > ppr_class;
}

}  // namespace kvm
