#include "vsm/initial_vp_context.h"

#include <cstring>

namespace loader::vsm {
namespace {

template <typename T>
T Load(std::span<const std::byte, kInitialVpContextBytes> bytes, size_t offset) {
  T value{};
  std::memcpy(&value, bytes.data() + offset, sizeof value);
  return value;
}

SegmentRegister Segment(std::span<const std::byte, kInitialVpContextBytes> bytes, size_t offset) {
  return {Load<uint64_t>(bytes, offset), Load<uint32_t>(bytes, offset + 8),
          Load<uint16_t>(bytes, offset + 12), Load<uint16_t>(bytes, offset + 14)};
}

TableRegister Table(std::span<const std::byte, kInitialVpContextBytes> bytes, size_t offset) {
  return {Load<uint64_t>(bytes, offset + 8), Load<uint16_t>(bytes, offset + 6)};
}

}  // namespace

X64VpState ParseInitialVpContext(std::span<const std::byte, kInitialVpContextBytes> bytes,
                                 uint8_t vtl) {
  X64VpState state;
  state.vtl = vtl;
  state.rip = Load<uint64_t>(bytes, 0);
  state.rsp = Load<uint64_t>(bytes, 8);
  state.rflags = Load<uint64_t>(bytes, 16) | 2;  // SDM vol. 1 §3.4.3: bit 1 reads 1
  state.cs = Segment(bytes, 24);
  state.ds = Segment(bytes, 40);
  state.es = Segment(bytes, 56);
  state.fs = Segment(bytes, 72);
  state.gs = Segment(bytes, 88);
  state.ss = Segment(bytes, 104);
  state.tr = Segment(bytes, 120);
  state.ldtr = Segment(bytes, 136);
  state.idtr = Table(bytes, 152);
  state.gdtr = Table(bytes, 168);
  state.efer = Load<uint64_t>(bytes, 184);
  state.cr0 = Load<uint64_t>(bytes, 192);
  state.cr3 = Load<uint64_t>(bytes, 200);
  state.cr4 = Load<uint64_t>(bytes, 208);
  state.pat = Load<uint64_t>(bytes, 216);
  return state;
}

}  // namespace loader::vsm
