// RunDeadline: stops a vCPU's KVM_RUN after a wall-clock limit, and kicks
// it out of KVM_RUN every kTick meanwhile.
//
// A periodic ITIMER_REAL raises SIGALRM; the handler sets the vCPU's
// immediate_exit, so a KVM_RUN in progress returns EINTR and one about to
// start returns at once (api.rst, immediate_exit: the flag closes the race
// between checking for a stop and entering the guest), and marks the
// deadline expired once the monotonic clock passes it. The ticks exist
// because with the in-kernel irqchip a HLT never exits to user space: the
// run loop looks at the VP's state on each kick (VpRunner). The run loop
// clears immediate_exit after each kick. One deadline at a time per
// process; the vCPU must stay alive while it is armed.
#pragma once

#include <chrono>

#include "base/result.h"
#include "kvm/vcpu.h"

namespace loader {

class RunDeadline {
 public:
  static constexpr std::chrono::milliseconds kTick{100};

  static base::Result<RunDeadline> Arm(kvm::Vcpu& vcpu, std::chrono::milliseconds limit);

  RunDeadline(RunDeadline&& other) noexcept;
  RunDeadline& operator=(RunDeadline&&) = delete;
  RunDeadline(const RunDeadline&) = delete;
  RunDeadline& operator=(const RunDeadline&) = delete;
  ~RunDeadline();

  bool expired() const;

 private:
  RunDeadline() = default;
  bool armed_ = false;
};

}  // namespace loader
