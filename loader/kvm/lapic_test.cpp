#include "kvm/lapic.h"

#include <doctest/doctest.h>

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace {

void Set(kvm_lapic_state& lapic, size_t base, int vector) {
  const size_t offset = base + static_cast<size_t>(vector / 32) * 0x10;
  uint32_t word = 0;
  std::memcpy(&word, &lapic.regs[offset], 4);
  word |= 1u << (vector % 32);
  std::memcpy(&lapic.regs[offset], &word, 4);
}

void Tpr(kvm_lapic_state& lapic, uint32_t value) { std::memcpy(&lapic.regs[0x80], &value, 4); }

}  // namespace

TEST_CASE("LAPIC: an interrupt is deliverable when its class beats TPR and in-service") {
  struct Case {
    int irr, isr;
    uint32_t tpr;
    bool deliverable;
  };
  const Case cases[] = {
      {-1, -1, 0, false},    // nothing requested
      {0x31, -1, 0, true},   // class 3 > 0
      {0x31, -1, 0x30, false},  // TPR class 3 masks class 3
      {0x41, -1, 0x30, true},
      {0x41, 0x45, 0, false},  // in service: same class
      {0x51, 0x45, 0, true},
      {0xFF, 0x20, 0xE0, true},
      {0xEF, -1, 0xEF, false},
  };
  for (const Case& c : cases) {
    kvm_lapic_state lapic{};
    if (c.irr >= 0) Set(lapic, 0x200, c.irr);
    if (c.isr >= 0) Set(lapic, 0x100, c.isr);
    Tpr(lapic, c.tpr);
    CAPTURE(c.irr);
    CAPTURE(c.isr);
    CAPTURE(c.tpr);
    CHECK(kvm::InterruptDeliverable(lapic) == c.deliverable);
  }
}

TEST_CASE("LAPIC: an expired TSC-deadline timer is due, pending or not in IRR") {
  kvm_lapic_state lapic{};
  const uint32_t lvt = 0xEC | 2u << 17;  // vector 0xEC, TSC-deadline mode
  std::memcpy(&lapic.regs[0x320], &lvt, 4);
  CHECK(kvm::TscDeadlineTimerDue(lapic, 1000, 1000));
  CHECK(kvm::TscDeadlineTimerDue(lapic, 1000, 5000));
  CHECK_FALSE(kvm::TscDeadlineTimerDue(lapic, 1000, 999));  // not yet
  CHECK_FALSE(kvm::TscDeadlineTimerDue(lapic, 0, 5000));    // disarmed
  Set(lapic, 0x100, 0xF3);                                  // class F in service
  CHECK_FALSE(kvm::TscDeadlineTimerDue(lapic, 1000, 5000));
  kvm_lapic_state masked{};
  const uint32_t masked_lvt = lvt | 1u << 16;
  std::memcpy(&masked.regs[0x320], &masked_lvt, 4);
  CHECK_FALSE(kvm::TscDeadlineTimerDue(masked, 1000, 5000));
  kvm_lapic_state one_shot{};
  const uint32_t one_shot_lvt = 0xEC;
  std::memcpy(&one_shot.regs[0x320], &one_shot_lvt, 4);
  CHECK_FALSE(kvm::TscDeadlineTimerDue(one_shot, 1000, 5000));
}

TEST_CASE("lapic: how soon a TSC deadline falls due") {
  using std::chrono::nanoseconds;
  constexpr uint64_t kHz = 2'500'000'000;  // 2.5 GHz: 2.5 ticks per ns
  const nanoseconds horizon = std::chrono::milliseconds(4);
  // 1 ms ahead.
  CHECK(kvm::TscDeadlineWithin(1'000 + 2'500'000, 1'000, kHz, horizon) == nanoseconds(1'000'000));
  // Already passed: due now.
  CHECK(kvm::TscDeadlineWithin(500, 1'000, kHz, horizon) == nanoseconds(0));
  // Disarmed, or beyond the horizon (exactly 4 ms, or far away).
  CHECK_FALSE(kvm::TscDeadlineWithin(0, 1'000, kHz, horizon));
  CHECK_FALSE(kvm::TscDeadlineWithin(1'000 + 10'000'000, 1'000, kHz, horizon));
  CHECK_FALSE(kvm::TscDeadlineWithin(~uint64_t{0}, 0, kHz, horizon));
  // No clock, or a horizon the arithmetic is not made for.
  CHECK_FALSE(kvm::TscDeadlineWithin(2'000, 1'000, 0, horizon));
  CHECK_FALSE(kvm::TscDeadlineWithin(2'000, 1'000, kHz, std::chrono::seconds(2)));
}

TEST_CASE("LAPIC: a hung VP's report shows a timer deadline long past") {
  constexpr uint64_t kHz = 2'000'000'000;  // 2 GHz: 2,000 ticks per us
  kvm_lapic_state lapic{};
  const uint32_t lvt = 0xEC | 2u << 17;
  std::memcpy(&lapic.regs[0x320], &lvt, 4);
  Set(lapic, 0x100, 0xF3);
  Tpr(lapic, 0x10);
  CHECK(kvm::DescribeLapic(lapic, 1'000, 1'000 + 6'000'000'000, kHz) ==
        "IRR top -1, ISR top 243, TPR 0x10, timer tsc-deadline vector 0xec, "
        "deadline passed 3000000 us ago");
  CHECK(kvm::DescribeLapic(lapic, 5'000, 1'000, kHz) ==
        "IRR top -1, ISR top 243, TPR 0x10, timer tsc-deadline vector 0xec, deadline in 2 us");
  CHECK(kvm::DescribeLapic(lapic, 0, 1'000, kHz).ends_with("deadline disarmed"));
  // A masked one-shot timer: no deadline to show; a TSC rate unknown.
  kvm_lapic_state other{};
  const uint32_t masked = 0x30 | 1u << 16;
  std::memcpy(&other.regs[0x320], &masked, 4);
  CHECK(kvm::DescribeLapic(other, 1'000, 9'000, kHz) ==
        "IRR top -1, ISR top -1, TPR 0x0, timer one-shot masked vector 0x30");
  CHECK(kvm::DescribeLapic(lapic, 1'000, 9'000, 0).ends_with("deadline armed"));
}
