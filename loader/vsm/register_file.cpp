#include "vsm/register_file.h"

#include <array>

#include "vp_state_kvm.h"
#include "vsm/register_page.h"

namespace loader::vsm {
namespace {

kvm_segment* Segment(kvm_sregs& s, uint32_t name) {
  switch (name) {
    case hv::reg::kEs: return &s.es;
    case hv::reg::kCs: return &s.cs;
    case hv::reg::kSs: return &s.ss;
    case hv::reg::kDs: return &s.ds;
    case hv::reg::kFs: return &s.fs;
    case hv::reg::kGs: return &s.gs;
    case hv::reg::kLdtr: return &s.ldt;
    case hv::reg::kTr: return &s.tr;
    default: return nullptr;
  }
}

// kvm_segment back to VMX access rights (SDM vol. 3C Table 24-2), the
// inverse of ToKvmSegment.
uint16_t AccessRights(const kvm_segment& seg) {
  return static_cast<uint16_t>((seg.type & 0xF) | (seg.s & 1) << 4 | (seg.dpl & 3) << 5 |
                               (seg.present & 1) << 7 | (seg.avl & 1) << 12 | (seg.l & 1) << 13 |
                               (seg.db & 1) << 14 | (seg.g & 1) << 15);
}

}  // namespace

base::Result<void> RegisterFile::Load() {
  if (!regs_) regs_ = TRY(vcpu_.GetRegs());
  if (!sregs_) sregs_ = TRY(vcpu_.GetSregs());
  return base::Ok();
}

base::Result<hv::Status> RegisterFile::Get(uint32_t name, hv::RegisterValue& value) {
  TRY(Load());
  kvm_regs& r = *regs_;
  kvm_sregs& s = *sregs_;
  value = {};
  if (name >= hv::reg::kRax && name <= hv::reg::kR15) {
    value.low = *GprsInHvOrder(r)[name - hv::reg::kRax];
    return hv::Status::kSuccess;
  }
  if (kvm_segment* seg = Segment(s, name)) {
    value.low = seg->base;
    value.high = uint64_t{seg->limit} | uint64_t{seg->selector} << 32 |
                 uint64_t{AccessRights(*seg)} << 48;
    return hv::Status::kSuccess;
  }
  switch (name) {
    case hv::reg::kRip: value.low = r.rip; break;
    case hv::reg::kRflags: value.low = r.rflags; break;
    case hv::reg::kCr0: value.low = s.cr0; break;
    case hv::reg::kCr2: value.low = s.cr2; break;
    case hv::reg::kCr3: value.low = s.cr3; break;
    case hv::reg::kCr4: value.low = s.cr4; break;
    case hv::reg::kCr8: value.low = s.cr8; break;
    case hv::reg::kEfer: value.low = s.efer; break;
    case hv::reg::kApicBase: value.low = s.apic_base; break;
    case hv::reg::kIdtr:
      value.low = uint64_t{s.idt.limit} << 48;
      value.high = s.idt.base;
      break;
    case hv::reg::kGdtr:
      value.low = uint64_t{s.gdt.limit} << 48;
      value.high = s.gdt.base;
      break;
    default:
      return hv::Status::kUnknownRegisterName;
  }
  return hv::Status::kSuccess;
}

base::Result<hv::Status> RegisterFile::Set(uint32_t name, const hv::RegisterValue& value) {
  TRY(Load());
  kvm_regs& r = *regs_;
  kvm_sregs& s = *sregs_;
  if (name >= hv::reg::kRax && name <= hv::reg::kR15) {
    *GprsInHvOrder(r)[name - hv::reg::kRax] = value.low;
    regs_dirty_ = true;
    return hv::Status::kSuccess;
  }
  if (kvm_segment* seg = Segment(s, name)) {
    SegmentRegister wire;
    wire.base = value.low;
    wire.limit = static_cast<uint32_t>(value.high);
    wire.selector = static_cast<uint16_t>(value.high >> 32);
    wire.attributes = static_cast<uint16_t>(value.high >> 48);
    auto converted = ToKvmSegment(wire);
    if (!converted) return hv::Status::kInvalidParameter;
    *seg = *converted;
    sregs_dirty_ = true;
    return hv::Status::kSuccess;
  }
  switch (name) {
    case hv::reg::kRip: r.rip = value.low; regs_dirty_ = true; break;
    case hv::reg::kRflags:
      // SDM vol. 1 §3.4.3: bit 1 always reads 1; the guest cannot clear it.
      r.rflags = value.low | 2;
      regs_dirty_ = true;
      break;
    case hv::reg::kCr0: s.cr0 = value.low; sregs_dirty_ = true; break;
    case hv::reg::kCr2: s.cr2 = value.low; sregs_dirty_ = true; break;
    case hv::reg::kCr3: s.cr3 = value.low; sregs_dirty_ = true; break;
    case hv::reg::kCr4: s.cr4 = value.low; sregs_dirty_ = true; break;
    case hv::reg::kCr8: s.cr8 = value.low; sregs_dirty_ = true; break;
    case hv::reg::kEfer: s.efer = value.low; sregs_dirty_ = true; break;
    case hv::reg::kIdtr:
      s.idt.limit = static_cast<uint16_t>(value.low >> 48);
      s.idt.base = value.high;
      sregs_dirty_ = true;
      break;
    case hv::reg::kGdtr:
      s.gdt.limit = static_cast<uint16_t>(value.low >> 48);
      s.gdt.base = value.high;
      sregs_dirty_ = true;
      break;
    case hv::reg::kPendingEvent0: {
      // HV_X64_PENDING_EXCEPTION_EVENT (hvdef.h PendingException): only
      // exceptions (type 0); the rest is refused.
      if ((value.low & 1) == 0) return hv::Status::kSuccess;  // nothing pending
      const uint64_t type = (value.low >> 1) & 7;
      const uint64_t vector = (value.low >> 16) & 0xFFFF;
      if (type != 0 || vector > 31) return hv::Status::kInvalidParameter;
      kvm_vcpu_events events = TRY(vcpu_.GetEvents());
      events.exception.injected = 1;
      events.exception.nr = static_cast<__u8>(vector);
      events.exception.has_error_code = static_cast<__u8>((value.low >> 8) & 1);
      events.exception.error_code = static_cast<__u32>(value.low >> 32);
      events.flags = 0;
      if (vector == 14) {  // #PF: CR2 is the faulting address
        s.cr2 = value.high;
        sregs_dirty_ = true;
      }
      pending_exception_ = events;
      break;
    }
    default:
      return hv::Status::kUnknownRegisterName;
  }
  return hv::Status::kSuccess;
}

base::Result<void> RegisterFile::Flush() {
  if (sregs_dirty_) TRY(vcpu_.SetSregs(*sregs_));
  if (regs_dirty_) TRY(vcpu_.SetRegs(*regs_));
  if (pending_exception_) TRY(vcpu_.SetEvents(*pending_exception_));
  sregs_dirty_ = regs_dirty_ = false;
  pending_exception_.reset();
  regs_.reset();
  sregs_.reset();
  return base::Ok();
}

}  // namespace loader::vsm
