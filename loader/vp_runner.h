// VpRunner: runs one vCPU and dispatches its exits: port I/O to the
// PortBus, MMIO (nothing mapped yet: reads all-ones), trapped MSRs (the
// Hyper-V range; not emulated yet: #GP), until the VP stops.
//
// What "stopped" means in this slice: HLT with RFLAGS.IF clear is the end
// of the boot shim's run (`cli; hlt`) and counts as a clean halt. Nothing
// can wake such a VP without an NMI or INIT, which the loader does not
// send yet. The definition of power-off (an ACPI PM1 or Hyper-V
// guest-crash/shutdown path) comes with the slice that boots Linux.
#pragma once

#include <cstdint>
#include <string>

#include "base/result.h"
#include "kvm/vcpu.h"
#include "port_bus.h"
#include "run_deadline.h"

namespace loader {

enum class StopReason {
  kHalted,               // HLT with interrupts disabled
  kHaltedInterruptible,  // HLT with interrupts enabled: nothing will wake it yet
  kTimedOut,
  kTripleFault,
  kInternalError,
  kFailEntry,
  kUnhandledExit,
};

struct RunOutcome {
  StopReason reason = StopReason::kHalted;
  std::string detail;  // the exit, for the failure kinds
  uint64_t exits = 0;
};

class VpRunner {
 public:
  VpRunner(kvm::Vcpu& vcpu, PortBus& ports) : vcpu_(vcpu), ports_(ports) {}

  base::Result<RunOutcome> Run(const RunDeadline& deadline);

 private:
  struct Step {
    bool stop = false;
    RunOutcome outcome;
  };
  base::Result<Step> Handle(const kvm::VcpuExit& exit);
  void HandleIo(const kvm::IoExit& io);
  // Logs a guest-triggerable event, at most kMaxLogLines times per run.
  [[gnu::format(printf, 2, 3)]] void Log(const char* fmt, ...);

  static constexpr int kMaxLogLines = 32;

  kvm::Vcpu& vcpu_;
  PortBus& ports_;
  int log_lines_ = 0;
};

// General, control and segment registers, a few lines, for failure reports.
std::string DumpVcpu(const kvm::Vcpu& vcpu);

}  // namespace loader
