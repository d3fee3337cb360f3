// The intercept messages the loader sends VTL2 for VTL0's exits (TLFS
// "Intercepts": HV_X64_INTERCEPT_MESSAGE_HEADER and the per-kind payloads
// of hv/hvdef.h), built from KVM's register structs. Pure functions: the
// run loop (vp_runner.cpp) gathers the registers and posts the bytes.
#pragma once

#include <linux/kvm.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "hv/hvdef.h"

namespace loader::vsm {

// A KVM segment as the TLFS's HV_X64_SEGMENT_REGISTER (attributes in the
// VMX access-rights layout: type 0-3, S 4, DPL 5-6, P 7, AVL 12, L 13,
// D/B 14, G 15).
hv::SegmentWire ToWire(const kvm_segment& segment);

// The header of VP `vp_index`'s intercept: instruction length (bits 0-3)
// and CR8 (4-7), the access (read, write, execute), the execution state
// (CPL bits 0-1 from SS.DPL, SDM vol. 3A §5.5; CR0.PE bit 2; EFER.LMA bit
// 4; VTL bits 7-10: 0), CS, RIP and RFLAGS.
hv::InterceptHeader MakeInterceptHeader(uint32_t vp_index, const kvm_regs& regs,
                                          const kvm_sregs& sregs, uint8_t length, uint8_t access);

// An intercept message as the SIMP slot holds it (TLFS HV_MESSAGE): the
// header with `type` and the payload's size, then the payload.
template <typename Payload>
std::array<std::byte, sizeof(hv::MessageHeader) + sizeof(Payload)> Message(uint32_t type,
                                                                             const Payload& payload) {
  static_assert(sizeof(Payload) <= hv::kMessagePayloadBytes);
  const hv::MessageHeader header{type, static_cast<uint8_t>(sizeof(Payload)), 0, 0, 0};
  std::array<std::byte, sizeof header + sizeof(Payload)> bytes{};
  std::memcpy(bytes.data(), &header, sizeof header);
  std::memcpy(bytes.data() + sizeof header, &payload, sizeof(Payload));
  return bytes;
}

}  // namespace loader::vsm
