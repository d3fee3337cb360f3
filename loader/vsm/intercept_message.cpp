#include "vsm/intercept_message.h"

namespace loader::vsm {
namespace {

constexpr uint64_t kEferLma = 1u << 10;  // SDM vol. 3A §2.2.1
constexpr uint64_t kCr0Pe = 1u << 0;

}  // namespace

hv::SegmentWire ToWire(const kvm_segment& seg) {
  hv::SegmentWire wire;
  wire.base = seg.base;
  wire.limit = seg.limit;
  wire.selector = seg.selector;
  wire.attributes = static_cast<uint16_t>((seg.type & 0xF) | (seg.s & 1) << 4 | (seg.dpl & 3) << 5 |
                                          (seg.present & 1) << 7 | (seg.avl & 1) << 12 |
                                          (seg.l & 1) << 13 | (seg.db & 1) << 14 | (seg.g & 1) << 15);
  return wire;
}

hv::InterceptHeader MakeInterceptHeader(uint32_t vp_index, const kvm_regs& regs,
                                          const kvm_sregs& sregs, uint8_t length, uint8_t access) {
  hv::InterceptHeader header;
  header.vp_index = vp_index;
  header.instruction_length_cr8 = static_cast<uint8_t>((length & 0xF) | (sregs.cr8 & 0xF) << 4);
  header.intercept_access = access;
  header.execution_state = static_cast<uint16_t>((sregs.ss.dpl & 3) |
                                                 ((sregs.cr0 & kCr0Pe) != 0 ? 1u << 2 : 0u) |
                                                 ((sregs.efer & kEferLma) != 0 ? 1u << 4 : 0u));
  header.cs = ToWire(sregs.cs);
  header.rip = regs.rip;
  header.rflags = regs.rflags;
  return header;
}

}  // namespace loader::vsm
