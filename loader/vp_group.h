// VpGroup: what the VP threads of one machine share: the machine's stop
// (the first one recorded wins: power-off, a guest or KVM failure on any
// VP, the deadline, or every VP parked) and the check that finds every VP
// parked.
//
// "Parked" is a VP that cannot run again by itself: in HLT with RFLAGS.IF
// clear, or an application processor still waiting for INIT/SIPI
// (KVM_MP_STATE_UNINITIALIZED / INIT_RECEIVED, api.rst 4.38). Only another
// VP can wake a parked VP (an IPI: INIT, SIPI, NMI; SDM vol. 3A §10.6), so
// when all are parked at one instant nothing ever runs again: the machine
// has halted. Seen one VP at a time the flags can be stale (VP 1 parked at
// its last look may have been woken since by VP 0), so the check is
// stop-the-world: a VP that finds every flag set asks for a pause; each VP
// thread, out of KVM_RUN (its ticker kicks it within VcpuTicker::kTick),
// looks at its own state and waits; with all VP threads out of KVM_RUN no
// VP can wake another, and the last to arrive decides.
//
// Locking: mutex_ guards the pause and the recorded stop; the flags and
// "a stop is recorded" are atomics read without it on every exit.
#pragma once

#include <pthread.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace loader {

enum class StopReason {
  kPoweredOff,           // the guest asked for power-off (ACPI S5)
  kReset,                // VTL0 asked for a platform reset (its reboot)
  kVtl2Reset,            // VTL2 did (its reboot, or a panic with panic=-1)
  kHalted,               // every VP parked (HLT with interrupts disabled)
  kHaltedInterruptible,  // HLT exit with IF set: only without an in-kernel irqchip
  kTimedOut,
  kTripleFault,
  kInternalError,
  kFailEntry,
  kUnhandledExit,
  kVcpuError,  // a KVM call of the loader's own failed (KVM_RUN, KVM_GET_REGS, ...)
};

struct MachineStop {
  StopReason reason = StopReason::kHalted;
  uint32_t vp = 0;     // the VP that stopped the machine
  std::string detail;  // the exit or error, for the failure kinds
};

class VpGroup {
 public:
  explicit VpGroup(uint32_t vp_count);

  uint32_t vp_count() const { return vp_count_; }

  // The thread running VP `vp`, for stop kicks. Set before it runs.
  void SetThread(uint32_t vp, pthread_t thread);
  // Kicks VP `vp`'s thread out of KVM_RUN (a request waits for it).
  void Kick(uint32_t vp);

  // An interrupt was just raised in VP `vp`'s VTL2 local APIC (a device's
  // MSI, a VTL0 signal on an event port). A VP running VTL2 takes it in
  // KVM_RUN by itself (KVM's in-kernel APIC); one running VTL0 must leave
  // it for VTL2 (TLFS "Secure Interrupts"): the flag below is set, and the
  // VP's thread is kicked unless it is the caller (it looks at the flag
  // before its next VTL0 run). Raised by the VP's own thread while it runs
  // VTL2, nothing is remembered. Pairs with NoteVtl0/TakeVtl2Interrupt: the
  // flag and the VTL are seq_cst, so either this sees the VP in VTL0 and
  // kicks, or the VP sees the flag before entering VTL0.
  void RaisedVtl2Interrupt(uint32_t vp);
  // VP `vp`'s thread is about to run VTL0 (true) or VTL2 (false).
  void NoteVtl0(uint32_t vp, bool vtl0) { in_vtl0_[vp].store(vtl0); }
  // Whether an interrupt was raised for VP `vp`'s VTL2 since the last
  // call (clears the flag).
  bool TakeVtl2Interrupt(uint32_t vp) {
    return vtl2_interrupt_[vp].load(std::memory_order_relaxed) && vtl2_interrupt_[vp].exchange(false);
  }

  // Records `stop` unless one is recorded already, then kicks every VP
  // thread so each leaves KVM_RUN and sees it.
  void RequestStop(MachineStop stop);
  bool stop_requested() const { return stop_requested_.load(std::memory_order_acquire); }
  // The recorded stop; call after every VP thread has ended.
  std::optional<MachineStop> stop() const;

  // VP `vp` has run (any exit but a kick that found it parked).
  void NoteRunning(uint32_t vp) { Flag(vp).store(false, std::memory_order_relaxed); }
  // VP `vp` saw itself parked. If every VP's flag is set, asks for a pause.
  void NoteParked(uint32_t vp);

  bool pause_requested() const { return pause_requested_.load(std::memory_order_acquire); }
  // Called by every VP thread, out of KVM_RUN, once pause_requested():
  // `parked` is its own state now. Returns when the pause ends (the last
  // VP has arrived and decided) or a stop is recorded.
  void WaitInPause(bool parked);

 private:
  std::atomic<bool>& Flag(uint32_t vp) { return parked_flags_[vp]; }
  void RequestStopLocked(MachineStop stop);

  const uint32_t vp_count_;
  const std::unique_ptr<std::atomic<bool>[]> parked_flags_;  // one per VP
  const std::unique_ptr<std::atomic<bool>[]> in_vtl0_;         // one per VP
  const std::unique_ptr<std::atomic<bool>[]> vtl2_interrupt_;  // one per VP
  std::atomic<bool> stop_requested_{false};
  std::atomic<bool> pause_requested_{false};

  mutable std::mutex mutex_;
  std::condition_variable pause_ended_;
  std::vector<pthread_t> threads_;   // guarded by mutex_
  std::vector<bool> thread_set_;     // guarded by mutex_
  std::optional<MachineStop> stop_;  // guarded by mutex_
  uint32_t pause_arrived_ = 0;       // guarded by mutex_
  bool pause_all_parked_ = true;     // guarded by mutex_
  uint64_t pause_generation_ = 0;    // guarded by mutex_
};

}  // namespace loader
