// Applying an X64VpState to a KVM vCPU: Hyper-V register names to
// kvm_regs / kvm_sregs fields and MSRs (api.rst 4.11-4.14, KVM_SET_REGS,
// KVM_SET_SREGS; 4.19 KVM_SET_MSRS for PAT).
#pragma once

#include <linux/kvm.h>

#include "base/result.h"
#include "kvm/vcpu.h"
#include "vp_state.h"

namespace loader {

// VMX access rights (SDM vol. 3C §24.4.1) to struct kvm_segment's split
// fields. KVM's VMX code packs these same fields back into access rights
// (vmx_segment_access_rights), so the conversion is lossless for the bits
// KVM keeps; reserved bits 8-11 and 17-31 must be zero.
base::Result<kvm_segment> ToKvmSegment(const SegmentRegister& segment);

// Starts from the vCPU's current (reset) state, overrides the registers
// `state` names, and writes regs, sregs and MSR_IA32_CR_PAT back. The
// vCPU's CPUID must already be set (long mode needs CPUID.LM).
base::Result<void> ApplyVpState(kvm::Vcpu& vcpu, const X64VpState& state);

}  // namespace loader
