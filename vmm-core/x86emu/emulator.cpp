#include "x86emu/emulator.h"

#include <array>
#include <utility>

#include "base/le_bytes.h"
#include "base/page.h"
#include "base/string_printf.h"
#include "x86emu/decoder.h"
#include "x86emu/page_walk.h"

namespace x86emu {
namespace {

constexpr uint64_t kFlagRf = 1ull << 16;

constexpr uint64_t Mask(unsigned size_bytes) {
  return size_bytes >= 8 ? ~0ull : (1ull << (8 * size_bytes)) - 1;
}

constexpr uint64_t SignBit(unsigned size_bytes) { return 1ull << (8 * size_bytes - 1); }

constexpr uint64_t SignExtendFrom(uint64_t value, unsigned size_bytes) {
  if (size_bytes >= 8) return value;
  const uint64_t sign = SignBit(size_bytes);
  return ((value & Mask(size_bytes)) ^ sign) - sign;
}

// SDM Vol 3 §4.1.1 (canonicality): bits 63:47 all equal.
constexpr bool IsCanonical(uint64_t address) {
  const uint64_t top = address >> 47;
  return top == 0 || top == 0x1ffff;
}

struct AluResult {
  uint64_t value;
  uint64_t flags;  // only kArithmeticFlags bits
};

uint64_t SignZeroParity(uint64_t result, unsigned size) {
  uint64_t flags = 0;
  if (result == 0) flags |= kFlagZf;
  if ((result & SignBit(size)) != 0) flags |= kFlagSf;
  // PF: set when the low byte has an even number of ones (SDM Vol 1 §3.4.3.1).
  if (__builtin_parityll(result & 0xff) == 0) flags |= kFlagPf;
  return flags;
}

// SDM Vol 1 §3.4.3.1 and Appendix A; Vol 2 ADD/ADC/SUB/SBB/CMP/AND/OR/XOR/TEST.
AluResult Alu(Op op, uint64_t a, uint64_t b, unsigned size, bool carry_in) {
  const uint64_t mask = Mask(size);
  a &= mask;
  b &= mask;
  uint64_t result = 0;
  uint64_t flags = 0;
  switch (op) {
    case Op::kAdd:
    case Op::kAdc: {
      const uint64_t c = (op == Op::kAdc && carry_in) ? 1 : 0;
      result = (a + b + c) & mask;
      if (c != 0 ? result <= a : result < a) flags |= kFlagCf;
      if (((a ^ result) & (b ^ result) & SignBit(size)) != 0) flags |= kFlagOf;
      if (((a ^ b ^ result) & 0x10) != 0) flags |= kFlagAf;
      break;
    }
    case Op::kSub:
    case Op::kSbb:
    case Op::kCmp: {
      const uint64_t c = (op == Op::kSbb && carry_in) ? 1 : 0;
      result = (a - b - c) & mask;
      if (c != 0 ? a <= b : a < b) flags |= kFlagCf;
      if (((a ^ b) & (a ^ result) & SignBit(size)) != 0) flags |= kFlagOf;
      if (((a ^ b ^ result) & 0x10) != 0) flags |= kFlagAf;
      break;
    }
    case Op::kAnd:
    case Op::kTest:
      result = a & b;
      break;
    case Op::kOr:
      result = a | b;
      break;
    case Op::kXor:
      result = a ^ b;
      break;
    case Op::kXchg: case Op::kMov: case Op::kMovzx: case Op::kMovsx:
    case Op::kBt: case Op::kBts: case Op::kBtr: case Op::kBtc:
    case Op::kMovs: case Op::kStos: case Op::kLods: case Op::kIns: case Op::kOuts:
    case Op::kIn: case Op::kOut:
      break;
  }
  return AluResult{result, flags | SignZeroParity(result, size)};
}

// One page-bounded piece of a memory access, already translated.
struct Piece {
  Gpa gpa{};
  size_t offset = 0;  // into the access
  size_t size = 0;
};

// An access of at most 8 bytes spans at most two pages.
struct MappedAccess {
  std::array<Piece, 2> pieces{};
  size_t count = 0;
};

class Execution {
 public:
  Execution(X86Cpu& cpu, const Instruction& insn)
      : cpu_(cpu), insn_(insn), paging_(PagingState::FromCpu(cpu)) {
    const uint64_t rip_mask = insn.mode == CpuMode::k64 ? ~0ull : 0xffff'ffffull;
    next_rip_ = (cpu.rip() + insn.length) & rip_mask;
  }

  // Executes; on a guest exception returns an Error and leaves it in exception().
  base::Result<Executed> Run();

  std::optional<InjectException>& exception() { return exception_; }

 private:
  base::Error Raise(ExceptionVector vector, std::optional<uint32_t> error_code, uint64_t cr2,
                    std::string reason) {
    base::Error error(reason);
    exception_ = InjectException{vector, error_code, cr2, std::move(reason)};
    return error;
  }

  // Registers.
  uint64_t ReadReg(unsigned index, unsigned size) const;
  void WriteReg(unsigned index, unsigned size, uint64_t value);

  // Memory: offsets are segment-relative effective addresses.
  uint64_t EffectiveAddress(const MemoryOperand& m) const;
  base::Result<Gva> Linear(Segment segment, uint64_t offset, size_t size);
  base::Result<MappedAccess> Map(Segment segment, uint64_t offset, size_t size, Access access);
  base::Result<void> ReadMapped(const MappedAccess& mapped, std::span<std::byte> out);
  base::Result<void> WriteMapped(const MappedAccess& mapped, std::span<const std::byte> in);
  base::Result<uint64_t> ReadMemory(Segment segment, uint64_t offset, unsigned size, Access access);
  base::Result<void> WriteMemory(Segment segment, uint64_t offset, unsigned size, uint64_t value);

  // The r/m operand (register or memory).
  base::Result<uint64_t> ReadRm(unsigned size, Access access);
  base::Result<void> WriteRm(unsigned size, uint64_t value);

  base::Result<void> RunAlu();
  base::Result<void> RunMov();
  base::Result<void> RunBitTest();
  base::Result<bool> RunString();  // false: REP stopped early
  base::Result<void> RunPortIo();

  void SetArithmeticFlags(uint64_t flags) {
    cpu_.set_rflags((cpu_.rflags() & ~kArithmeticFlags) | flags);
  }

  X86Cpu& cpu_;
  const Instruction& insn_;
  PagingState paging_;
  uint64_t next_rip_ = 0;
  std::optional<InjectException> exception_;
};

uint64_t Execution::ReadReg(unsigned index, unsigned size) const {
  // SDM Vol 2 §3.7.2.1 / Table 3-1: without REX, byte registers 4-7 are AH-BH.
  if (size == 1 && !insn_.rex && index >= 4 && index < 8)
    return (cpu_.gpr(static_cast<Gpr>(index - 4)) >> 8) & 0xff;
  return cpu_.gpr(static_cast<Gpr>(index & 15)) & Mask(size);
}

void Execution::WriteReg(unsigned index, unsigned size, uint64_t value) {
  if (size == 1 && !insn_.rex && index >= 4 && index < 8) {
    const auto reg = static_cast<Gpr>(index - 4);
    cpu_.set_gpr(reg, (cpu_.gpr(reg) & ~0xff00ull) | ((value & 0xff) << 8));
    return;
  }
  const auto reg = static_cast<Gpr>(index & 15);
  // SDM Vol 1 §3.4.1.1: 32-bit results zero-extend; 8/16-bit ones merge.
  if (size >= 4) {
    cpu_.set_gpr(reg, value & Mask(size));
  } else {
    cpu_.set_gpr(reg, (cpu_.gpr(reg) & ~Mask(size)) | (value & Mask(size)));
  }
}

uint64_t Execution::EffectiveAddress(const MemoryOperand& m) const {
  uint64_t address = static_cast<uint64_t>(m.displacement);
  if (m.base) address += cpu_.gpr(*m.base);
  if (m.index) address += cpu_.gpr(*m.index) * m.scale;
  if (m.rip_relative) address += next_rip_;
  return address & Mask(insn_.address_size);
}

base::Result<Gva> Execution::Linear(Segment segment, uint64_t offset, size_t size) {
  if (insn_.mode == CpuMode::k64) {
    // SDM Vol 3 §3.4.4: in 64-bit mode only FS and GS have a base.
    const bool based = segment == Segment::kFs || segment == Segment::kGs;
    const uint64_t linear = offset + (based ? cpu_.segment(segment).base : 0);
    if (!IsCanonical(linear) || !IsCanonical(linear + size - 1)) {
      // SDM Vol 2 §2.6 / Vol 3 §6.15: #SS for stack references, else #GP(0).
      const ExceptionVector vector =
          segment == Segment::kSs ? ExceptionVector::kSs : ExceptionVector::kGp;
      return Raise(vector, 0, 0,
                   base::StringPrintf("non-canonical address %#llx",
                                      static_cast<unsigned long long>(linear)));
    }
    return Gva{linear};
  }
  return Gva{(cpu_.segment(segment).base + offset) & 0xffff'ffffull};
}

base::Result<MappedAccess> Execution::Map(Segment segment, uint64_t offset, size_t size,
                                          Access access) {
  const Gva start = TRY(Linear(segment, offset, size));
  MappedAccess mapped;
  size_t done = 0;
  while (done < size && mapped.count < mapped.pieces.size()) {
    const uint64_t linear = ToU64(start) + done;
    const uint64_t in_page = base::kPageSize - base::PageOffset(linear);
    const size_t piece_size = static_cast<size_t>(std::min<uint64_t>(in_page, size - done));
    const Translation translation = TRY(TranslateGva(cpu_, paging_, Gva{linear}, access));
    if (const auto* fault = std::get_if<PageFault>(&translation))
      return Raise(ExceptionVector::kPf, fault->error_code, linear,
                   base::StringPrintf("page fault at %#llx, error code %#x",
                                      static_cast<unsigned long long>(linear), fault->error_code));
    mapped.pieces[mapped.count++] = Piece{std::get<Gpa>(translation), done, piece_size};
    done += piece_size;
  }
  if (done != size) return base::Error("memory access wider than two pages");
  return mapped;
}

base::Result<void> Execution::ReadMapped(const MappedAccess& mapped, std::span<std::byte> out) {
  for (size_t i = 0; i < mapped.count; ++i) {
    const Piece& piece = mapped.pieces[i];
    const auto bytes = out.subspan(piece.offset, piece.size);
    if (cpu_.IsMmio(piece.gpa)) {
      TRY(cpu_.MmioRead(piece.gpa, bytes));
    } else {
      TRY(cpu_.ReadPhys(piece.gpa, bytes));
    }
  }
  return base::Ok();
}

base::Result<void> Execution::WriteMapped(const MappedAccess& mapped,
                                          std::span<const std::byte> in) {
  for (size_t i = 0; i < mapped.count; ++i) {
    const Piece& piece = mapped.pieces[i];
    const auto bytes = in.subspan(piece.offset, piece.size);
    if (cpu_.IsMmio(piece.gpa)) {
      TRY(cpu_.MmioWrite(piece.gpa, bytes));
    } else {
      TRY(cpu_.WritePhys(piece.gpa, bytes));
    }
  }
  return base::Ok();
}

base::Result<uint64_t> Execution::ReadMemory(Segment segment, uint64_t offset, unsigned size,
                                             Access access) {
  std::array<std::byte, 8> buffer{};
  const auto bytes = std::span(buffer).first(size);
  const MappedAccess mapped = TRY(Map(segment, offset, size, access));
  TRY(ReadMapped(mapped, bytes));
  uint64_t value = 0;
  (void)base::LoadLe<uint64_t>(buffer, 0, value);
  return value & Mask(size);
}

base::Result<void> Execution::WriteMemory(Segment segment, uint64_t offset, unsigned size,
                                          uint64_t value) {
  std::array<std::byte, 8> buffer{};
  (void)base::StoreLe<uint64_t>(buffer, 0, value);
  const MappedAccess mapped = TRY(Map(segment, offset, size, Access::kWrite));
  return WriteMapped(mapped, std::span<const std::byte>(buffer).first(size));
}

base::Result<uint64_t> Execution::ReadRm(unsigned size, Access access) {
  if (insn_.rm_is_register) return ReadReg(insn_.rm_register, size);
  return ReadMemory(insn_.memory.segment, EffectiveAddress(insn_.memory), size, access);
}

base::Result<void> Execution::WriteRm(unsigned size, uint64_t value) {
  if (insn_.rm_is_register) {
    WriteReg(insn_.rm_register, size, value);
    return base::Ok();
  }
  return WriteMemory(insn_.memory.segment, EffectiveAddress(insn_.memory), size, value);
}

base::Result<void> Execution::RunAlu() {
  const unsigned size = insn_.operand_size;
  const bool writes = insn_.op != Op::kCmp && insn_.op != Op::kTest;
  // A read-modify-write checks write access on its read, as the CPU does.
  const Access rm_access = writes ? Access::kWrite : Access::kRead;
  const bool carry = (cpu_.rflags() & kFlagCf) != 0;
  switch (insn_.form) {
    case Form::kRmReg:
    case Form::kRmImm: {
      const uint64_t destination = TRY(ReadRm(size, rm_access));
      const uint64_t source =
          insn_.form == Form::kRmReg ? ReadReg(insn_.reg, size) : insn_.immediate;
      const AluResult result = Alu(insn_.op, destination, source, size, carry);
      if (writes) TRY(WriteRm(size, result.value));
      SetArithmeticFlags(result.flags);
      return base::Ok();
    }
    case Form::kRegRm:
    case Form::kAccImm: {
      const unsigned reg = insn_.form == Form::kRegRm ? insn_.reg : 0;
      const uint64_t source =
          insn_.form == Form::kRegRm ? TRY(ReadRm(size, Access::kRead)) : insn_.immediate;
      const AluResult result = Alu(insn_.op, ReadReg(reg, size), source, size, carry);
      if (writes) WriteReg(reg, size, result.value);
      SetArithmeticFlags(result.flags);
      return base::Ok();
    }
    case Form::kAccMem: case Form::kMemAcc: case Form::kString:
    case Form::kPortImm: case Form::kPortDx:
      break;
  }
  return base::Error("decoder produced an ALU form it cannot have");
}

base::Result<void> Execution::RunMov() {
  const unsigned size = insn_.operand_size;
  if (insn_.op == Op::kMovzx || insn_.op == Op::kMovsx) {
    const uint64_t source = TRY(ReadRm(insn_.source_size, Access::kRead));
    WriteReg(insn_.reg, size,
             insn_.op == Op::kMovsx ? SignExtendFrom(source, insn_.source_size) : source);
    return base::Ok();
  }
  if (insn_.op == Op::kXchg) {
    // Memory first: a fault leaves the register untouched.
    const uint64_t old = TRY(ReadRm(size, Access::kWrite));
    TRY(WriteRm(size, ReadReg(insn_.reg, size)));
    WriteReg(insn_.reg, size, old);
    return base::Ok();
  }
  switch (insn_.form) {
    case Form::kRmReg: return WriteRm(size, ReadReg(insn_.reg, size));
    case Form::kRegRm: WriteReg(insn_.reg, size, TRY(ReadRm(size, Access::kRead))); return base::Ok();
    case Form::kRmImm: return WriteRm(size, insn_.immediate);
    case Form::kAccMem: {
      const uint64_t offset = static_cast<uint64_t>(insn_.memory.displacement);
      WriteReg(0, size, TRY(ReadMemory(insn_.memory.segment, offset, size, Access::kRead)));
      return base::Ok();
    }
    case Form::kMemAcc: {
      const uint64_t offset = static_cast<uint64_t>(insn_.memory.displacement);
      return WriteMemory(insn_.memory.segment, offset, size, ReadReg(0, size));
    }
    case Form::kAccImm: case Form::kString: case Form::kPortImm: case Form::kPortDx:
      break;
  }
  return base::Error("decoder produced a MOV form it cannot have");
}

// SDM Vol 2 BT/BTS/BTR/BTC: CF = the selected bit; the other arithmetic
// flags are undefined and left unchanged here.
base::Result<void> Execution::RunBitTest() {
  const unsigned size = insn_.operand_size;
  const unsigned bits = 8 * size;
  const bool writes = insn_.op != Op::kBt;
  const Access access = writes ? Access::kWrite : Access::kRead;
  unsigned bit = 0;
  uint64_t value = 0;
  std::optional<uint64_t> memory_offset;
  if (insn_.form == Form::kRmImm) {
    bit = static_cast<unsigned>(insn_.immediate & (bits - 1));
    value = TRY(ReadRm(size, access));
  } else if (insn_.rm_is_register) {
    bit = static_cast<unsigned>(ReadReg(insn_.reg, size) & (bits - 1));
    value = ReadReg(insn_.rm_register, size);
  } else {
    // A register bit offset addresses a bit string: it is signed and may
    // reach outside the operand (SDM Vol 2 BT, "bit base").
    const auto bit_offset = static_cast<int64_t>(SignExtendFrom(ReadReg(insn_.reg, size), size));
    const int64_t units = bit_offset >= 0 ? bit_offset / bits
                                          : -((-(bit_offset + 1)) / static_cast<int64_t>(bits)) - 1;
    bit = static_cast<unsigned>(static_cast<uint64_t>(bit_offset) & (bits - 1));
    memory_offset = (EffectiveAddress(insn_.memory) + static_cast<uint64_t>(units) * size) &
                    Mask(insn_.address_size);
    value = TRY(ReadMemory(insn_.memory.segment, *memory_offset, size, access));
  }
  const uint64_t selected = 1ull << bit;
  uint64_t updated = value;
  if (insn_.op == Op::kBts) updated |= selected;
  if (insn_.op == Op::kBtr) updated &= ~selected;
  if (insn_.op == Op::kBtc) updated ^= selected;
  if (writes) {
    if (memory_offset) {
      TRY(WriteMemory(insn_.memory.segment, *memory_offset, size, updated));
    } else {
      TRY(WriteRm(size, updated));
    }
  }
  cpu_.set_rflags((value & selected) != 0 ? cpu_.rflags() | kFlagCf : cpu_.rflags() & ~kFlagCf);
  return base::Ok();
}

// SDM Vol 2 MOVS/STOS/LODS/INS/OUTS and REP: source DS:rSI (segment
// override allowed), destination ES:rDI (no override), count rCX, all at the
// address size; RFLAGS.DF chooses the direction. F2 acts as REP here.
base::Result<bool> Execution::RunString() {
  const unsigned size = insn_.operand_size;
  const unsigned asize = insn_.address_size;
  const bool rep = insn_.rep != RepPrefix::kNone;
  const uint64_t step = (cpu_.rflags() & kFlagDf) != 0 ? (0 - uint64_t{size}) : uint64_t{size};
  const Segment source_segment = insn_.segment_override.value_or(Segment::kDs);
  const auto rcx = static_cast<unsigned>(Gpr::kRcx);
  const auto rsi = static_cast<unsigned>(Gpr::kRsi);
  const auto rdi = static_cast<unsigned>(Gpr::kRdi);
  const auto port = static_cast<uint16_t>(cpu_.gpr(Gpr::kRdx) & 0xffff);

  for (uint64_t iteration = 0;; ++iteration) {
    if (rep) {
      if (ReadReg(rcx, asize) == 0) return true;
      if (iteration == kMaxRepIterations) return false;
    } else if (iteration == 1) {
      return true;
    }
    std::array<std::byte, 8> buffer{};
    const auto bytes = std::span(buffer).first(size);
    const uint64_t source = ReadReg(rsi, asize);
    const uint64_t destination = ReadReg(rdi, asize);
    switch (insn_.op) {
      case Op::kMovs: {
        const uint64_t value = TRY(ReadMemory(source_segment, source, size, Access::kRead));
        TRY(WriteMemory(Segment::kEs, destination, size, value));
        WriteReg(rsi, asize, source + step);
        WriteReg(rdi, asize, destination + step);
        break;
      }
      case Op::kStos:
        TRY(WriteMemory(Segment::kEs, destination, size, ReadReg(0, size)));
        WriteReg(rdi, asize, destination + step);
        break;
      case Op::kLods:
        WriteReg(0, size, TRY(ReadMemory(source_segment, source, size, Access::kRead)));
        WriteReg(rsi, asize, source + step);
        break;
      case Op::kIns: {
        // Translate first: a #PF must not swallow a port read.
        const MappedAccess mapped = TRY(Map(Segment::kEs, destination, size, Access::kWrite));
        TRY(cpu_.IoIn(port, bytes));
        TRY(WriteMapped(mapped, bytes));
        WriteReg(rdi, asize, destination + step);
        break;
      }
      case Op::kOuts: {
        const MappedAccess mapped = TRY(Map(source_segment, source, size, Access::kRead));
        TRY(ReadMapped(mapped, bytes));
        TRY(cpu_.IoOut(port, bytes));
        WriteReg(rsi, asize, source + step);
        break;
      }
      case Op::kAdd: case Op::kOr: case Op::kAdc: case Op::kSbb: case Op::kAnd:
      case Op::kSub: case Op::kXor: case Op::kCmp: case Op::kTest: case Op::kXchg:
      case Op::kMov: case Op::kMovzx: case Op::kMovsx: case Op::kBt: case Op::kBts:
      case Op::kBtr: case Op::kBtc: case Op::kIn: case Op::kOut:
        return base::Error("decoder produced a string form it cannot have");
    }
    if (rep) WriteReg(rcx, asize, ReadReg(rcx, asize) - 1);
  }
}

base::Result<void> Execution::RunPortIo() {
  const unsigned size = insn_.operand_size;
  const auto port = static_cast<uint16_t>(insn_.form == Form::kPortImm
                                              ? insn_.immediate & 0xff
                                              : cpu_.gpr(Gpr::kRdx) & 0xffff);
  std::array<std::byte, 8> buffer{};
  const auto bytes = std::span(buffer).first(size);
  if (insn_.op == Op::kIn) {
    TRY(cpu_.IoIn(port, bytes));
    uint64_t value = 0;
    (void)base::LoadLe<uint64_t>(buffer, 0, value);
    WriteReg(0, size, value);
  } else {
    (void)base::StoreLe<uint64_t>(buffer, 0, ReadReg(0, size));
    TRY(cpu_.IoOut(port, bytes));
  }
  return base::Ok();
}

base::Result<Executed> Execution::Run() {
  bool complete = true;
  switch (insn_.op) {
    case Op::kAdd: case Op::kOr: case Op::kAdc: case Op::kSbb:
    case Op::kAnd: case Op::kSub: case Op::kXor: case Op::kCmp: case Op::kTest:
      TRY(RunAlu());
      break;
    case Op::kXchg: case Op::kMov: case Op::kMovzx: case Op::kMovsx:
      TRY(RunMov());
      break;
    case Op::kBt: case Op::kBts: case Op::kBtr: case Op::kBtc:
      TRY(RunBitTest());
      break;
    case Op::kMovs: case Op::kStos: case Op::kLods: case Op::kIns: case Op::kOuts:
      complete = TRY(RunString());
      break;
    case Op::kIn: case Op::kOut:
      TRY(RunPortIo());
      break;
  }
  if (!complete) return Executed{false};
  // SDM Vol 3 §18.3.1.1: RF is cleared once an instruction completes.
  cpu_.set_rip(next_rip_);
  cpu_.set_rflags(cpu_.rflags() & ~kFlagRf);
  return Executed{true};
}

}  // namespace

CpuMode ModeOf(const X86Cpu& cpu) {
  const SegmentRegister cs = cpu.segment(Segment::kCs);
  if ((cpu.control_registers().efer & kEferLma) != 0 && cs.long_mode()) return CpuMode::k64;
  return cs.default_big() ? CpuMode::k32 : CpuMode::k16;
}

base::Result<Completion> Emulate(X86Cpu& cpu, std::span<const std::byte> instruction_bytes) {
  const Decoded decoded = TRY(Decode(instruction_bytes, ModeOf(cpu)));
  if (const auto* fault = std::get_if<DecodeFault>(&decoded)) {
    std::optional<uint32_t> error_code;
    if (fault->vector == ExceptionVector::kGp) error_code = 0;
    return Completion{InjectException{fault->vector, error_code, 0, fault->reason}};
  }
  Execution execution(cpu, std::get<Instruction>(decoded));
  auto executed = execution.Run();
  if (execution.exception()) return Completion{std::move(*execution.exception())};
  if (!executed.ok()) return std::move(executed).error();
  return Completion{executed.value()};
}

}  // namespace x86emu
