// Local APIC register math on KVM's LAPIC state (KVM_GET_LAPIC: the 1 KiB
// register page, SDM vol. 3A Table 11-1). Pure.
#pragma once

#include <linux/kvm.h>

namespace kvm {

// Whether the highest-priority requested interrupt (IRR) would be
// delivered now: its priority class above the processor priority, the
// larger of the TPR's class and the highest in-service vector's class
// (SDM vol. 3A §11.8.3.1). RFLAGS.IF is the caller's to check.
bool InterruptDeliverable(const kvm_lapic_state& lapic);

}  // namespace kvm
