// RunDeadline: stops a vCPU's KVM_RUN after a wall-clock limit.
//
// A one-shot ITIMER_REAL raises SIGALRM; the handler sets the vCPU's
// immediate_exit, so a KVM_RUN in progress returns EINTR and one about to
// start returns at once (api.rst, immediate_exit: the flag closes the race
// between checking for a stop and entering the guest). One deadline at a
// time per process; the vCPU must stay alive while it is armed.
#pragma once

#include <chrono>

#include "base/result.h"
#include "kvm/vcpu.h"

namespace loader {

class RunDeadline {
 public:
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
