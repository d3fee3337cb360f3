// RegisterFile: Hyper-V register names (TLFS "Virtual Processor Register
// Names"; hvdef.h reg::) read and written on one KVM vCPU, for
// HvCallGetVpRegisters / HvCallSetVpRegisters aimed at a VTL's state.
//
// KVM's state is fetched on first use and written back by Flush, so a
// rep hypercall touching many registers costs one KVM_GET/SET each.
// PendingEvent0 (write only) injects an exception through
// KVM_SET_VCPU_EVENTS. The general registers are shared between VTLs
// (TLFS "VTL State"): the loader copies them at every switch, so a write
// here to VTL0's RAX..R15 is overwritten by VTL2's registers at the next
// VTL return; the paravisor passes VTL0's general registers through its
// run page instead (mshv_vtl: the run page's cpu_context).
#pragma once

#include <linux/kvm.h>

#include <optional>

#include "base/result.h"
#include "hv/hvdef.h"
#include "kvm/vcpu_state.h"

namespace loader::vsm {

class RegisterFile {
 public:
  explicit RegisterFile(kvm::VcpuState& vcpu) : vcpu_(vcpu) {}

  // An error Result is a KVM failure; a Status other than success is the
  // guest's fault (unknown name: HV_STATUS_UNKNOWN_REGISTER_NAME (0x87);
  // a bad value: HV_STATUS_INVALID_PARAMETER).
  base::Result<hv::Status> Get(uint32_t name, hv::RegisterValue& value);
  base::Result<hv::Status> Set(uint32_t name, const hv::RegisterValue& value);
  // Writes changed state back to KVM.
  base::Result<void> Flush();

 private:
  base::Result<void> Load();

  kvm::VcpuState& vcpu_;
  std::optional<kvm_regs> regs_;
  std::optional<kvm_sregs> sregs_;
  bool regs_dirty_ = false;
  bool sregs_dirty_ = false;
  std::optional<kvm_vcpu_events> pending_exception_;
};

}  // namespace loader::vsm
