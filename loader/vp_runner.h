// VpRunner: runs one vCPU on the calling thread and dispatches its exits:
// port I/O to the PortBus, MMIO (nothing mapped yet: reads all-ones),
// trapped MSRs (the Hyper-V range) to this VP's hv::SyntheticMsrs, and
// writes to hv::kHypercallPort (the hypercall page's trap,
// hv/hypercall_page.h) to the hypercall dispatcher, until the machine
// stops. One VpRunner per VP, each on its own thread; what they
// share is the PortBus (locked), MachineEvents (atomic) and the VpGroup.
//
// What stops the machine (recorded in the VpGroup, first one wins; every
// other VP thread is kicked out of KVM_RUN and returns):
//   - power-off: a device raised MachineEvents::RequestPowerOff (the ACPI
//     PM1 S5 write, acpi_pm.h); checked after every port exit;
//   - halted: every VP parked (vp_group.h): in HLT with RFLAGS.IF clear,
//     or an AP never started. With KVM's in-kernel irqchip HLT does not
//     exit to user space, so this is seen on VcpuTicker's periodic kicks
//     through KVM_GET_MP_STATE. A HLT with IF set is an idle VP waiting
//     for an interrupt (the in-kernel LAPIC timer, PIT, or a device): not
//     a stop;
//   - the deadline, checked whenever KVM_RUN returns;
//   - a failure on this VP: triple fault, KVM internal error, failed
//     entry, an exit the loader cannot handle, a failing KVM call.
#pragma once

#include <cstdint>
#include <string>

#include "base/result.h"
#include "hv/synthetic_msrs.h"
#include "kvm/vcpu.h"
#include "machine_events.h"
#include "port_bus.h"
#include "run_deadline.h"
#include "vp_group.h"

namespace loader {

class VpRunner {
 public:
  // `msrs` is this VP's synthetic MSR state (its VP index = the vCPU id).
  VpRunner(kvm::Vcpu& vcpu, PortBus& ports, const MachineEvents& events, VpGroup& group,
           hv::SyntheticMsrs& msrs)
      : vcpu_(vcpu), ports_(ports), events_(events), group_(group), msrs_(msrs) {}

  // Runs until the group records a stop (recording this VP's own stop or
  // error there first). Returns the number of exits this VP took. On the
  // thread that runs the vCPU; starts and ends its VcpuTicker.
  uint64_t Run(const RunDeadline& deadline);

  const kvm::Vcpu& vcpu() const { return vcpu_; }

 private:
  base::Result<void> RunLoop(const RunDeadline& deadline);
  // Handles one exit; a stop of this VP's making goes to the group.
  base::Result<void> Handle(const kvm::VcpuExit& exit);
  // Parked (vp_group.h): HLT with IF clear, or waiting for INIT/SIPI.
  base::Result<bool> IsParked() const;
  void Stop(StopReason reason, std::string detail);
  void HandleIo(const kvm::IoExit& io);
  // The hypercall page's `out` to hv::kHypercallPort: completes the OUT,
  // then reads the input value and writes the result (TLFS "Hypercall
  // Inputs", "Hypercall Result Value").
  base::Result<void> HandleHypercall();
  // Logs a guest-triggerable event, at most kMaxLogLines times per run.
  [[gnu::format(printf, 2, 3)]] void Log(const char* fmt, ...);

  static constexpr int kMaxLogLines = 32;

  kvm::Vcpu& vcpu_;
  PortBus& ports_;
  const MachineEvents& events_;
  VpGroup& group_;
  hv::SyntheticMsrs& msrs_;
  int log_lines_ = 0;
  uint64_t exits_ = 0;
};

// General, control and segment registers, a few lines, for failure reports.
std::string DumpVcpu(const kvm::Vcpu& vcpu);

}  // namespace loader
