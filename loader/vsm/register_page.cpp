#include "vsm/register_page.h"

#include "vsm/intercept_message.h"

namespace loader::vsm {

std::array<__u64*, 16> GprsInHvOrder(kvm_regs& r) {
  return {&r.rax, &r.rcx, &r.rdx, &r.rbx, &r.rsp, &r.rbp, &r.rsi, &r.rdi,
          &r.r8,  &r.r9,  &r.r10, &r.r11, &r.r12, &r.r13, &r.r14, &r.r15};
}

hv::VpRegisterPage ShowRegisters(const kvm_regs& regs, const kvm_sregs& sregs) {
  hv::VpRegisterPage page;
  page.version = hv::VpRegisterPage::kVersion;
  page.is_valid = 1;
  kvm_regs copy = regs;
  const auto gprs = GprsInHvOrder(copy);
  for (size_t i = 0; i < gprs.size(); ++i) page.gprs[i] = *gprs[i];
  page.rip = regs.rip;
  page.rflags = regs.rflags;
  namespace seg = hv::register_page_segment;
  page.segments[seg::kEs] = ToWire(sregs.es);
  page.segments[seg::kCs] = ToWire(sregs.cs);
  page.segments[seg::kSs] = ToWire(sregs.ss);
  page.segments[seg::kDs] = ToWire(sregs.ds);
  page.segments[seg::kFs] = ToWire(sregs.fs);
  page.segments[seg::kGs] = ToWire(sregs.gs);
  page.cr0 = sregs.cr0;
  page.cr3 = sregs.cr3;
  page.cr4 = sregs.cr4;
  page.cr8 = sregs.cr8;
  page.efer = sregs.efer;
  return page;
}

bool TakeDirtyRegisters(const hv::VpRegisterPage& page, kvm_regs& regs) {
  if (page.is_valid == 0 || page.version != hv::VpRegisterPage::kVersion) return false;
  namespace rc = hv::register_class;
  bool changed = false;
  if ((page.dirty & rc::kGeneral) != 0) {
    const auto gprs = GprsInHvOrder(regs);
    for (size_t i = 0; i < gprs.size(); ++i) *gprs[i] = page.gprs[i];
    changed = true;
  }
  if ((page.dirty & rc::kIp) != 0) {
    regs.rip = page.rip;
    changed = true;
  }
  if ((page.dirty & rc::kFlags) != 0) {
    regs.rflags = page.rflags | 2;
    changed = true;
  }
  return changed;
}

}  // namespace loader::vsm
