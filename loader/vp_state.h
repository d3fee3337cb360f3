// X64VpState: the register state an IGVM VP context asks a VP to start in,
// in Hyper-V's terms (TLFS "Virtual Processor Register Names"; HV_X64_
// SEGMENT_REGISTER, HV_X64_TABLE_REGISTER). Registers the context does
// not name stay empty and keep the VP's reset value.
//
// Segment attributes use the VMX access-rights layout that Hyper-V uses
// (SDM vol. 3C §24.4.1, Table 24-2): bits 0-3 type, 4 S, 5-6 DPL, 7 P,
// 12 AVL, 13 L, 14 D/B, 15 G, 16 unusable.
#pragma once

#include <cstdint>
#include <optional>

namespace loader {

struct SegmentRegister {
  uint64_t base = 0;
  uint32_t limit = 0;  // in bytes, as Hyper-V and KVM both keep it
  uint16_t selector = 0;
  uint16_t attributes = 0;
};

struct TableRegister {
  uint64_t base = 0;
  uint16_t limit = 0;
};

struct X64VpState {
  uint8_t vtl = 0;
  std::optional<uint64_t> rip, rsp, rbp, rsi, rdi, rflags;
  std::optional<uint64_t> cr0, cr3, cr4, efer, pat;
  std::optional<SegmentRegister> cs, ds, es, fs, gs, ss, ldtr, tr;
  std::optional<TableRegister> gdtr, idtr;
};

}  // namespace loader
