// Local APIC register math on KVM's LAPIC state (KVM_GET_LAPIC: the 1 KiB
// register page, SDM vol. 3A Table 11-1). Pure.
#pragma once

#include <linux/kvm.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

namespace kvm {

// Whether the highest-priority requested interrupt (IRR) would be
// delivered now: its priority class above the processor priority, the
// larger of the TPR's class and the highest in-service vector's class
// (SDM vol. 3A §11.8.3.1). RFLAGS.IF is the caller's to check.
bool InterruptDeliverable(const kvm_lapic_state& lapic);

// Whether the LAPIC timer in TSC-deadline mode (SDM vol. 3A §11.5.4.1:
// LVT timer mode 2, not masked) has expired: IA32_TSC_DEADLINE is armed
// (non-zero) and the guest's TSC has reached it, and its vector would be
// delivered now (priority as above). KVM keeps an expired timer of a vCPU
// that is not running as "pending" and moves it into IRR only when that
// vCPU next enters KVM_RUN (arch/x86/kvm/lapic.c, apic_timer_expired), so
// IRR alone does not show it: the run loop asks this too while the VP
// runs another VTL.
// Whether the LVT timer is unmasked in TSC-deadline mode.
bool TscDeadlineMode(const kvm_lapic_state& lapic);

bool TscDeadlineTimerDue(const kvm_lapic_state& lapic, uint64_t tsc_deadline, uint64_t guest_tsc);

// How long until a TSC deadline `deadline` (0: disarmed) is reached from
// `tsc` on a `tsc_hz` clock, if that is less than `horizon` (at most a
// second); nullopt if disarmed or not that soon. A deadline already passed
// is 0 ns away.
std::optional<std::chrono::nanoseconds> TscDeadlineWithin(uint64_t deadline, uint64_t tsc,
                                                           uint64_t tsc_hz,
                                                           std::chrono::nanoseconds horizon);

// The highest vector requested (IRR) or in service (ISR), or -1; and the
// TPR. For diagnostics.
int HighestRequested(const kvm_lapic_state& lapic);
int HighestInService(const kvm_lapic_state& lapic);
unsigned TaskPriority(const kvm_lapic_state& lapic);

// One line on a LAPIC for the report of a hung VP: IRR and ISR tops, TPR,
// the LVT timer (SDM vol. 3A §11.5.1: mode, mask, vector) and, with an
// armed TSC deadline, how far it is from `guest_tsc` in microseconds on a
// `tsc_hz` clock. A deadline long past with the timer unmasked and nothing
// in service is a timer interrupt that was never delivered.
std::string DescribeLapic(const kvm_lapic_state& lapic, uint64_t tsc_deadline, uint64_t guest_tsc,
                          uint64_t tsc_hz);

}  // namespace kvm
