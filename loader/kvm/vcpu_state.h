// The two seams between the VSM emulation (vsm/) and KVM: a vCPU's
// register state (KVM_GET/SET_REGS, _SREGS, _VCPU_EVENTS: api.rst 4.11-4.14,
// 4.31-4.32) and a VM's message-signalled interrupts (KVM_SIGNAL_MSI, api.rst
// 4.71). kvm::Vcpu and kvm::Vm implement them; the hypercall handler's
// tests and fuzz target use fakes (vsm/testing/hypercall_machine.h), so
// they run without /dev/kvm.
#pragma once

#include <linux/kvm.h>

#include <cstdint>

#include "base/result.h"

namespace kvm {

class VcpuState {
 public:
  virtual ~VcpuState() = default;
  virtual base::Result<kvm_regs> GetRegs() const = 0;
  virtual base::Result<void> SetRegs(const kvm_regs& regs) = 0;
  virtual base::Result<kvm_sregs> GetSregs() const = 0;
  virtual base::Result<void> SetSregs(const kvm_sregs& sregs) = 0;
  virtual base::Result<kvm_vcpu_events> GetEvents() const = 0;
  virtual base::Result<void> SetEvents(const kvm_vcpu_events& events) = 0;
};

class MsiTarget {
 public:
  virtual ~MsiTarget() = default;
  // A fixed interrupt `vector` to the local APIC `apic_id` (physical).
  virtual base::Result<void> SignalMsi(uint32_t apic_id, uint8_t vector) = 0;
};

}  // namespace kvm
