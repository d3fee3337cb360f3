// RunDeadline and VcpuTicker: how VP threads get out of KVM_RUN.
//
// RunDeadline is the wall-clock limit of one run (CLOCK_MONOTONIC through
// steady_clock), shared read-only by every VP thread; each run loop checks
// it whenever KVM_RUN returns.
//
// VcpuTicker kicks one VP thread out of KVM_RUN every kTick: a POSIX timer
// per thread (timer_create(2) with SIGEV_THREAD_ID, a Linux extension)
// sends kKickSignal to that thread only. The handler sets the immediate_exit
// of the vCPU registered for the signalled thread (a thread_local), so a
// KVM_RUN in progress returns EINTR and one about to start returns at once
// (api.rst, immediate_exit: the flag closes the race between checking for a
// stop and entering the guest). The run loop clears immediate_exit after
// each kick. The ticks exist because with the in-kernel irqchip a HLT never
// exits to user space: the run loop looks at the VP's state on each kick
// (VpRunner), checks the deadline and the machine's stop. KickThread sends
// the same signal at once, for a stop decided on another VP. KickAfter
// sends it once at a given time (a second, one-shot timer of the thread):
// when the timer of the VTL that is not running falls due.
//
// StartSampling adds a third timer, with a signal of its own
// (kSampleSignal), for a statistical profile (hcl-loader --rip-samples):
// its ticks are unrelated to what the guest does, unlike the kicks, which
// device interrupts also send. Its handler kicks the same way and notes
// whether the thread was inside KVM_RUN (MarkInRun); TakeSample tells the
// run loop a sample is due.
#pragma once

#include <pthread.h>
#include <signal.h>
#include <time.h>

#include <chrono>

#include "base/result.h"
#include "kvm/vcpu.h"

namespace loader {

class RunDeadline {
 public:
  // `limit` from now.
  explicit RunDeadline(std::chrono::milliseconds limit)
      : at_(std::chrono::steady_clock::now() + limit) {}
  bool expired() const { return std::chrono::steady_clock::now() >= at_; }

 private:
  std::chrono::steady_clock::time_point at_;
};

// The signal that kicks a VP thread. Its handler must be installed
// (InstallKickHandler) before any ticker starts or any kick is sent: the
// default action of SIGUSR1 ends the process.
inline constexpr int kKickSignal = SIGUSR1;
inline constexpr int kSampleSignal = SIGUSR2;
// Installs the handlers of both signals.
base::Result<void> InstallKickHandler();

// Sends kKickSignal to `thread`, a VP thread (ESRCH for one that already
// ended is ignored).
void KickThread(pthread_t thread);

class VcpuTicker {
 public:
  static constexpr std::chrono::milliseconds kTick{100};

  // On the calling thread, which runs `vcpu`: makes kicks of this thread
  // stop `vcpu`, and starts this thread's timer. `vcpu` must outlive the
  // ticker; the ticker must be destroyed on the same thread.
  // `other_vtl`: the same VP's vCPU in the other VTL's VM, kicked too.
  // `tick`: the period (VSM machines tick faster: while VTL0 runs, a kick
  // is when the loader looks for interrupts pending for VTL2).
  static base::Result<VcpuTicker> Start(kvm::Vcpu& vcpu, kvm::Vcpu* other_vtl = nullptr,
                                        std::chrono::milliseconds tick = kTick);

  VcpuTicker(VcpuTicker&& other) noexcept;
  VcpuTicker& operator=(VcpuTicker&&) = delete;
  VcpuTicker(const VcpuTicker&) = delete;
  VcpuTicker& operator=(const VcpuTicker&) = delete;
  ~VcpuTicker();

  // One kick of this thread `delay` from now (at least 1 ns), replacing
  // the one asked for before if it has not come yet.
  base::Result<void> KickAfter(std::chrono::nanoseconds delay) const;

  // Sampling ticks every `period` on this thread, until the ticker ends.
  base::Result<void> StartSampling(std::chrono::microseconds period);
  // Around each KVM_RUN of this thread: a sample tick outside it finds the
  // loader at work, not the guest.
  static void MarkInRun(bool in_run);
  enum class Sample : uint8_t { kNone, kGuest, kLoader };
  // Whether a sample tick came since the last call, and where it found
  // the thread.
  static Sample TakeSample();

 private:
  VcpuTicker() = default;
  timer_t timer_{};
  timer_t one_shot_{};
  timer_t sampler_{};
  bool armed_ = false;
  bool sampling_ = false;
};

}  // namespace loader
