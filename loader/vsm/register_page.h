// The register page (hv/hvdef.h VpRegisterPage, Hyper-V's
// hv_vp_register_page): VTL0's registers as the loader shows them to VTL2
// at each entry, and the ones VTL2 hands back at its VtlReturn. Pure
// functions over KVM's register structs; the run loop (vp_runner.cpp)
// reads and writes the page in VTL2's memory, at the GPA VTL2 registered
// with SetVpRegisters(kRegisterPage) (vsm/hypercalls.h).
#pragma once

#include <linux/kvm.h>

#include <array>
#include <cstdint>

#include "hv/hvdef.h"

namespace loader::vsm {

// kvm_regs in Hyper-V's order RAX RCX RDX RBX RSP RBP RSI RDI R8-R15 (the
// SDM's register numbering; hvdef.h reg::kRax + n, the page's gprs[n]).
std::array<__u64*, 16> GprsInHvOrder(kvm_regs& regs);

// The page for VTL0's `regs` and `sregs`: version 1, valid, nothing dirty.
// XMM and the interrupt state are not shown (zero): VTL0's XMM registers
// are its vCPU's own and hcl reads none of them.
hv::VpRegisterPage ShowRegisters(const kvm_regs& regs, const kvm_sregs& sregs);

// What VTL2 marked dirty in `page`, put into `regs`: the general
// registers, RIP, RFLAGS (bit 1 kept set, SDM vol. 1 §3.4.3). Segments and
// XMM are not taken back (a write to them goes through SetVpRegisters).
// Nothing if the page is not valid or not version 1. True if `regs`
// changed.
bool TakeDirtyRegisters(const hv::VpRegisterPage& page, kvm_regs& regs);

}  // namespace loader::vsm
