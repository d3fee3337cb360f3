#include "vp_context.h"

#include "base/le_bytes_result.h"
#include "wire.h"

namespace loader {
namespace {

constexpr size_t kRecordBytes = sizeof(igvm::wire::VbsVpContextRegister);  // 32
constexpr size_t kNameOffset = 1, kMbzOffset = 5, kMbzBytes = 11, kValueOffset = 16;

// HV_X64_SEGMENT_REGISTER: base u64, limit u32, selector u16, attributes u16.
base::Result<SegmentRegister> ParseSegment(std::span<const std::byte> value) {
  SegmentRegister segment;
  segment.base = TRY(base::LoadLeOrError<uint64_t>(value, 0));
  segment.limit = TRY(base::LoadLeOrError<uint32_t>(value, 8));
  segment.selector = TRY(base::LoadLeOrError<uint16_t>(value, 12));
  segment.attributes = TRY(base::LoadLeOrError<uint16_t>(value, 14));
  return segment;
}

// HV_X64_TABLE_REGISTER: pad u16[3], limit u16, base u64.
base::Result<TableRegister> ParseTable(std::span<const std::byte> value) {
  TableRegister table;
  table.limit = TRY(base::LoadLeOrError<uint16_t>(value, 6));
  table.base = TRY(base::LoadLeOrError<uint64_t>(value, 8));
  return table;
}

// Where each supported register name goes (TLFS register names; the
// subset igvm/wire.h defines). nullptr: not of that kind.
std::optional<uint64_t>* ScalarSlot(X64VpState& s, uint32_t name) {
  switch (name) {
    case hv::reg::kRip: return &s.rip;
    case hv::reg::kRsp: return &s.rsp;
    case hv::reg::kRbp: return &s.rbp;
    case hv::reg::kRsi: return &s.rsi;
    case hv::reg::kRdi: return &s.rdi;
    case hv::reg::kRflags: return &s.rflags;
    case hv::reg::kCr0: return &s.cr0;
    case hv::reg::kCr3: return &s.cr3;
    case hv::reg::kCr4: return &s.cr4;
    case hv::reg::kEfer: return &s.efer;
    case hv::reg::kPat: return &s.pat;
    default: return nullptr;
  }
}

std::optional<SegmentRegister>* SegmentSlot(X64VpState& s, uint32_t name) {
  switch (name) {
    case hv::reg::kCs: return &s.cs;
    case hv::reg::kDs: return &s.ds;
    case hv::reg::kEs: return &s.es;
    case hv::reg::kFs: return &s.fs;
    case hv::reg::kGs: return &s.gs;
    case hv::reg::kSs: return &s.ss;
    case hv::reg::kLdtr: return &s.ldtr;
    case hv::reg::kTr: return &s.tr;
    default: return nullptr;
  }
}

std::optional<TableRegister>* TableSlot(X64VpState& s, uint32_t name) {
  switch (name) {
    case hv::reg::kGdtr: return &s.gdtr;
    case hv::reg::kIdtr: return &s.idtr;
    default: return nullptr;
  }
}

template <typename T>
base::Result<void> SetOnce(std::optional<T>& slot, T value, uint32_t name) {
  if (slot) return base::Error::Format("register 0x%08x appears twice", name);
  slot = value;
  return base::Ok();
}

}  // namespace

base::Result<X64VpState> ParseVbsVpContext(std::span<const std::byte> data) {
  const uint32_t count = TRY(base::LoadLeOrError<uint32_t>(data, 0));
  const std::span<const std::byte> records = data.subspan(4);
  if (count == 0) return base::Error("VBS VP context names no registers");
  if (records.size() / kRecordBytes < count)
    return base::Error::Format("VBS VP context claims %u registers but holds %zu bytes of them",
                               count, records.size());
  X64VpState state;
  for (uint32_t i = 0; i < count; ++i) {
    const auto record = records.subspan(size_t{i} * kRecordBytes, kRecordBytes);
    const uint8_t vtl = TRY(base::LoadLeOrError<uint8_t>(record, 0));
    const uint32_t name = TRY(base::LoadLeOrError<uint32_t>(record, kNameOffset));
    for (size_t b = 0; b < kMbzBytes; ++b)
      if (record[kMbzOffset + b] != std::byte{0})
        return base::Error::Format("VBS register %u (0x%08x): reserved bytes are not zero", i,
                                   name);
    // TLFS "Virtual Secure Mode": the format names VTLs 0-15; this loader
    // has VTL0 and VTL2 only.
    if (vtl != 0 && vtl != 2)
      return base::Error::Format("VBS register %u is for VTL %u: only VTL0 and VTL2 exist here",
                                 i, vtl);
    if (i == 0) state.vtl = vtl;
    if (vtl != state.vtl)
      return base::Error::Format("VBS register %u is for VTL %u, the first for VTL %u", i, vtl,
                                 state.vtl);
    const auto value = record.subspan(kValueOffset);
    if (auto* scalar_slot = ScalarSlot(state, name)) {
      const uint64_t scalar = TRY(base::LoadLeOrError<uint64_t>(value, 0));
      TRY(SetOnce(*scalar_slot, scalar, name));
    } else if (auto* segment_slot = SegmentSlot(state, name)) {
      const SegmentRegister segment = TRY(ParseSegment(value));
      TRY(SetOnce(*segment_slot, segment, name));
    } else if (auto* table_slot = TableSlot(state, name)) {
      const TableRegister table = TRY(ParseTable(value));
      TRY(SetOnce(*table_slot, table, name));
    } else {
      return base::Error::Format("VBS register %u: register 0x%08x is not supported", i, name);
    }
  }
  return state;
}

}  // namespace loader
