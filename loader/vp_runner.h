// VpRunner: runs one vCPU and dispatches its exits: port I/O to the
// PortBus, MMIO (nothing mapped yet: reads all-ones), trapped MSRs (the
// Hyper-V range; not emulated yet: #GP), until the VP stops.
//
// What "stopped" means:
//   - power-off: a device raised MachineEvents::RequestPowerOff (the ACPI
//     PM1 S5 write, acpi_pm.h); checked after every port write;
//   - halted: the VP sits in HLT with RFLAGS.IF clear. With KVM's
//     in-kernel irqchip HLT does not exit to user space, so this is seen
//     on RunDeadline's periodic kicks through KVM_GET_MP_STATE. Nothing
//     wakes such a VP but NMI/INIT/SMI, which the loader does not send.
//     A HLT with IF set is an idle VP waiting for an interrupt (the
//     in-kernel LAPIC timer, PIT, or a device): not a stop.
#pragma once

#include <cstdint>
#include <string>

#include "base/result.h"
#include "kvm/vcpu.h"
#include "machine_events.h"
#include "port_bus.h"
#include "run_deadline.h"

namespace loader {

enum class StopReason {
  kPoweredOff,           // the guest asked for power-off (ACPI S5)
  kHalted,               // HLT with interrupts disabled
  kHaltedInterruptible,  // HLT exit with IF set: only without an in-kernel irqchip
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
  VpRunner(kvm::Vcpu& vcpu, PortBus& ports, const MachineEvents& events)
      : vcpu_(vcpu), ports_(ports), events_(events) {}

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
  const MachineEvents& events_;
  int log_lines_ = 0;
};

// General, control and segment registers, a few lines, for failure reports.
std::string DumpVcpu(const kvm::Vcpu& vcpu);

}  // namespace loader
