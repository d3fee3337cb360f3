#include "vp_state_kvm.h"

#include <array>

namespace loader {
namespace {

constexpr uint32_t kMsrIa32Pat = 0x277;  // SDM vol. 4, Table 2-2: IA32_PAT

}  // namespace

base::Result<kvm_segment> ToKvmSegment(const SegmentRegister& segment) {
  const uint32_t ar = segment.attributes;
  // Table 24-2: bits 8-11 and 17-31 reserved. (Hyper-V's attributes are 16
  // bits wide, so bit 16, "unusable", cannot be expressed.)
  if ((ar & 0x0F00) != 0)
    return base::Error::Format("segment attributes 0x%04x set reserved bits 8-11", ar);
  kvm_segment out{};
  out.base = segment.base;
  out.limit = segment.limit;
  out.selector = segment.selector;
  out.type = static_cast<uint8_t>(ar & 0xF);
  out.s = static_cast<uint8_t>((ar >> 4) & 1);
  out.dpl = static_cast<uint8_t>((ar >> 5) & 3);
  out.present = static_cast<uint8_t>((ar >> 7) & 1);
  out.avl = static_cast<uint8_t>((ar >> 12) & 1);
  out.l = static_cast<uint8_t>((ar >> 13) & 1);
  out.db = static_cast<uint8_t>((ar >> 14) & 1);
  out.g = static_cast<uint8_t>((ar >> 15) & 1);
  // A null, non-present segment is what VMX calls unusable.
  out.unusable = static_cast<uint8_t>(out.present == 0 ? 1 : 0);
  return out;
}

base::Result<void> ApplyVpState(kvm::Vcpu& vcpu, const X64VpState& state) {
  kvm_regs regs = TRY(vcpu.GetRegs());
  if (state.rip) regs.rip = *state.rip;
  if (state.rsp) regs.rsp = *state.rsp;
  if (state.rbp) regs.rbp = *state.rbp;
  if (state.rsi) regs.rsi = *state.rsi;
  if (state.rdi) regs.rdi = *state.rdi;
  if (state.rflags) regs.rflags = *state.rflags;

  kvm_sregs sregs = TRY(vcpu.GetSregs());
  if (state.cr0) sregs.cr0 = *state.cr0;
  if (state.cr3) sregs.cr3 = *state.cr3;
  if (state.cr4) sregs.cr4 = *state.cr4;
  if (state.efer) sregs.efer = *state.efer;
  const std::array<std::pair<const std::optional<SegmentRegister>*, kvm_segment*>, 8> segments{{
      {&state.cs, &sregs.cs}, {&state.ds, &sregs.ds}, {&state.es, &sregs.es},
      {&state.fs, &sregs.fs}, {&state.gs, &sregs.gs}, {&state.ss, &sregs.ss},
      {&state.ldtr, &sregs.ldt}, {&state.tr, &sregs.tr}}};
  for (const auto& [from, to] : segments)
    if (*from) *to = TRY(ToKvmSegment(**from));
  if (state.gdtr) {
    sregs.gdt.base = state.gdtr->base;
    sregs.gdt.limit = state.gdtr->limit;
  }
  if (state.idtr) {
    sregs.idt.base = state.idtr->base;
    sregs.idt.limit = state.idtr->limit;
  }
  // KVM_SET_SREGS before KVM_SET_REGS: entering long mode through sregs
  // needs CPUID set first (done by the caller), and RIP above 4 GiB is
  // only canonical once CS.L is in place.
  TRY(vcpu.SetSregs(sregs));
  TRY(vcpu.SetRegs(regs));
  if (state.pat) {
    const std::array<kvm::MsrValue, 1> msrs{{{kMsrIa32Pat, *state.pat}}};
    TRY(vcpu.SetMsrs(msrs));
  }
  return base::Ok();
}

}  // namespace loader
