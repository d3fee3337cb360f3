// TimerWatch: notices when a VTL's TSC-deadline timer cannot fire on time
// (README, "Timer stalls"). A Linux guest arms IA32_TSC_DEADLINE at most a
// few seconds ahead of its TSC (its watchdog hrtimer runs every 4 s), and
// KVM turns the deadline into a host timer through its own view of the
// guest's TSC (arch/x86/kvm/lapic.c, start_sw_tscdeadline). A deadline far
// beyond the TSC KVM reports, or that TSC moving against the host's own,
// means the guest and KVM disagree on the time: the timer interrupt comes
// that much late. Pure; VpRunner feeds it about once a second.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>

namespace loader {

class TimerWatch {
 public:
  struct Sample {
    uint64_t guest_tsc = 0;  // KVM's view (KVM_GET_MSRS IA32_TSC)
    uint64_t host_tsc = 0;   // the loader's RDTSC right after
    uint64_t deadline = 0;   // IA32_TSC_DEADLINE, 0: disarmed
    bool deadline_mode = false;  // LVT timer unmasked in TSC-deadline mode
  };
  // A deadline this far ahead is no deadline a guest set.
  static constexpr uint64_t kFarAheadSeconds = 30;
  // The guest's TSC offset from the host's moving by more than this.
  static constexpr uint64_t kOffsetJumpMicros = 50'000;
  static constexpr unsigned kMaxReports = 8;  // per VTL and run

  // A line for the log when `sample` of `vtl` (0 or 2) shows either.
  std::optional<std::string> Check(unsigned vtl, const Sample& sample, uint64_t tsc_hz);

 private:
  struct PerVtl {
    bool seen = false;
    int64_t offset = 0;  // guest_tsc - host_tsc at the last sample
    bool far_ahead = false;  // reported already, until it clears
    unsigned reports = 0;
  };
  std::array<PerVtl, 3> vtls_{};
};

}  // namespace loader
