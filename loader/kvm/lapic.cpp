#include "kvm/lapic.h"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "base/string_printf.h"

namespace kvm {
namespace {

// SDM vol. 3A Table 11-1.
constexpr size_t kTpr = 0x80;
constexpr size_t kIsr = 0x100;
constexpr size_t kIrr = 0x200;
constexpr size_t kLvtTimer = 0x320;
constexpr uint32_t kLvtMasked = 1u << 16;
constexpr uint32_t kLvtTimerModeMask = 3u << 17;
constexpr uint32_t kLvtTimerTscDeadline = 2u << 17;

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

// Whether `vector` beats the processor priority (SDM vol. 3A §11.8.3.1).
bool AbovePriority(const kvm_lapic_state& lapic, int vector) {
  const int isr = Highest(lapic, kIsr);
  const int tpr_class = static_cast<int>((Reg32(lapic, kTpr) >> 4) & 0xF);
  const int ppr_class = std::max(tpr_class, isr < 0 ? 0 : isr >> 4);
  return (vector >> 4) > ppr_class;
}

}  // namespace

bool InterruptDeliverable(const kvm_lapic_state& lapic) {
  const int irr = Highest(lapic, kIrr);
  return irr >= 0 && AbovePriority(lapic, irr);
}

bool TscDeadlineMode(const kvm_lapic_state& lapic) {
  const uint32_t lvt = Reg32(lapic, kLvtTimer);
  return (lvt & kLvtMasked) == 0 && (lvt & kLvtTimerModeMask) == kLvtTimerTscDeadline;
}

bool TscDeadlineTimerDue(const kvm_lapic_state& lapic, uint64_t tsc_deadline, uint64_t guest_tsc) {
  const uint32_t lvt = Reg32(lapic, kLvtTimer);
  if (!TscDeadlineMode(lapic)) return false;
  if (tsc_deadline == 0 || guest_tsc < tsc_deadline) return false;
  return AbovePriority(lapic, static_cast<int>(lvt & 0xFF));
}

std::optional<std::chrono::nanoseconds> TscDeadlineWithin(uint64_t deadline, uint64_t tsc,
                                                           uint64_t tsc_hz,
                                                           std::chrono::nanoseconds horizon) {
  if (deadline == 0 || tsc_hz == 0 || horizon.count() <= 0 || horizon > std::chrono::seconds(1))
    return std::nullopt;
  const uint64_t ticks = deadline > tsc ? deadline - tsc : 0;
  // horizon <= 1 s: horizon_ticks <= tsc_hz, and ticks * 1e9 below fits
  // in 64 bits for any TSC under 18 GHz.
  const uint64_t horizon_ticks =
      tsc_hz / 1000 * static_cast<uint64_t>(horizon.count()) / 1'000'000;
  if (ticks >= horizon_ticks) return std::nullopt;
  return std::chrono::nanoseconds(ticks * 1'000'000'000 / tsc_hz);
}

int HighestRequested(const kvm_lapic_state& lapic) { return Highest(lapic, kIrr); }
int HighestInService(const kvm_lapic_state& lapic) { return Highest(lapic, kIsr); }
unsigned TaskPriority(const kvm_lapic_state& lapic) { return Reg32(lapic, kTpr) & 0xFF; }

std::string DescribeLapic(const kvm_lapic_state& lapic, uint64_t tsc_deadline, uint64_t guest_tsc,
                          uint64_t tsc_hz) {
  const uint32_t lvt = Reg32(lapic, kLvtTimer);
  static constexpr const char* kModes[] = {"one-shot", "periodic", "tsc-deadline", "reserved"};
  std::string out = base::StringPrintf(
      "IRR top %d, ISR top %d, TPR 0x%x, timer %s%s vector 0x%x", HighestRequested(lapic),
      HighestInService(lapic), TaskPriority(lapic), kModes[(lvt & kLvtTimerModeMask) >> 17],
      (lvt & kLvtMasked) != 0 ? " masked" : "", lvt & 0xFF);
  if ((lvt & kLvtTimerModeMask) != kLvtTimerTscDeadline) return out;
  if (tsc_deadline == 0) return out + ", deadline disarmed";
  if (tsc_hz == 0) return out + ", deadline armed";
  const bool passed = guest_tsc >= tsc_deadline;
  const uint64_t ticks = passed ? guest_tsc - tsc_deadline : tsc_deadline - guest_tsc;
  // Microseconds without overflow for any gap (ticks / MHz).
  const uint64_t mhz = std::max<uint64_t>(tsc_hz / 1'000'000, 1);
  return out + base::StringPrintf(", deadline %s %llu us", passed ? "passed" : "in",
                                  static_cast<unsigned long long>(ticks / mhz)) +
         (passed ? " ago" : "");
}

}  // namespace kvm
