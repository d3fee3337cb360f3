#include "x86emu/decoder.h"

#include <algorithm>
#include <array>

#include "base/string_printf.h"

namespace x86emu {
namespace {

constexpr Gpr ToGpr(unsigned index) { return static_cast<Gpr>(index & 15u); }

constexpr uint64_t SignExtend(uint64_t value, unsigned bytes) {
  if (bytes >= 8) return value;
  const unsigned bits = 8 * bytes;
  const uint64_t sign = 1ull << (bits - 1);
  value &= (1ull << bits) - 1;
  return (value ^ sign) - sign;
}

class ByteReader {
 public:
  explicit ByteReader(std::span<const std::byte> bytes) : bytes_(bytes) {}

  size_t position() const { return position_; }
  bool too_long() const { return too_long_; }

  base::Result<uint8_t> Next() {
    if (position_ >= kMaxInstructionBytes) {
      too_long_ = true;
      return base::Error("instruction longer than 15 bytes");
    }
    if (position_ >= bytes_.size())
      return base::Error::Format("instruction truncated after %zu bytes (%s)", bytes_.size(),
                                 HexBytes(bytes_).c_str());
    return static_cast<uint8_t>(bytes_[position_++]);
  }

  // A little-endian value of `size` bytes, zero-extended.
  base::Result<uint64_t> Le(unsigned size) {
    uint64_t value = 0;
    for (unsigned i = 0; i < size; ++i) value |= static_cast<uint64_t>(TRY(Next())) << (8 * i);
    return value;
  }

 private:
  std::span<const std::byte> bytes_;
  size_t position_ = 0;
  bool too_long_ = false;
};

struct Rex {
  bool w = false, r = false, x = false, b = false;
};

class Decoder {
 public:
  Decoder(std::span<const std::byte> bytes, CpuMode mode) : bytes_(bytes), reader_(bytes), mode_(mode) {}

  bool too_long() const { return reader_.too_long(); }

  base::Result<Decoded> Run();

 private:
  DecodeFault Unsupported() const {
    return DecodeFault{ExceptionVector::kUd,
                       "unsupported instruction: " + HexBytes(bytes_.first(reader_.position()))};
  }
  base::Result<void> ReadModRm();
  base::Result<void> ReadModRm16(uint8_t mod, uint8_t rm);
  // Iz: 16 bits with a 16-bit operand size, else 32 bits sign-extended.
  base::Result<uint64_t> ReadImmZ() {
    const unsigned size = insn_.operand_size == 2 ? 2 : 4;
    return SignExtend(TRY(reader_.Le(size)), size);
  }
  // The Ib/Iz pair of byte and full-size opcode forms (A8/A9, C6/C7,
  // F6/F7): the byte form has a byte operand and an Ib, the other an Iz.
  base::Result<void> ReadImmBOrZ(bool byte_op) {
    if (byte_op) {
      insn_.operand_size = 1;
      insn_.immediate = TRY(reader_.Le(1));
    } else {
      insn_.immediate = TRY(ReadImmZ());
    }
    return base::Ok();
  }

  std::span<const std::byte> bytes_;
  ByteReader reader_;
  CpuMode mode_;
  Instruction insn_;
  Rex rex_;
  uint8_t modrm_reg_raw_ = 0;  // the /digit of group opcodes
};

base::Result<void> Decoder::ReadModRm16(uint8_t mod, uint8_t rm) {
  // SDM Vol 2 §2.1.5, Table 2-1.
  MemoryOperand& m = insn_.memory;
  static constexpr std::array<std::optional<Gpr>, 8> kBase = {
      Gpr::kRbx, Gpr::kRbx, Gpr::kRbp, Gpr::kRbp, std::nullopt, std::nullopt, Gpr::kRbp, Gpr::kRbx};
  static constexpr std::array<std::optional<Gpr>, 8> kIndex = {
      Gpr::kRsi, Gpr::kRdi, Gpr::kRsi, Gpr::kRdi, Gpr::kRsi, Gpr::kRdi, std::nullopt, std::nullopt};
  if (mod == 0 && rm == 6) {
    m.displacement = static_cast<int64_t>(TRY(reader_.Le(2)));
    return base::Ok();
  }
  m.base = kBase[rm];
  m.index = kIndex[rm];
  if (m.base == Gpr::kRbp) m.segment = Segment::kSs;
  if (mod == 1) m.displacement = static_cast<int64_t>(SignExtend(TRY(reader_.Le(1)), 1));
  if (mod == 2) m.displacement = static_cast<int64_t>(SignExtend(TRY(reader_.Le(2)), 2));
  return base::Ok();
}

base::Result<void> Decoder::ReadModRm() {
  const uint8_t modrm = TRY(reader_.Next());
  const auto mod = static_cast<uint8_t>(modrm >> 6);
  const auto rm = static_cast<uint8_t>(modrm & 7);
  modrm_reg_raw_ = static_cast<uint8_t>((modrm >> 3) & 7);
  insn_.reg = static_cast<uint8_t>(modrm_reg_raw_ | (rex_.r ? 8 : 0));
  if (mod == 3) {
    insn_.rm_is_register = true;
    insn_.rm_register = static_cast<uint8_t>(rm | (rex_.b ? 8 : 0));
    return base::Ok();
  }
  MemoryOperand& m = insn_.memory;
  m.segment = Segment::kDs;
  if (insn_.address_size == 2) {
    TRY(ReadModRm16(mod, rm));
  } else {
    // SDM Vol 2 §2.1.5, Tables 2-2 and 2-3; §2.2.1.6 for RIP-relative.
    bool disp32 = false;
    if (rm == 4) {
      const uint8_t sib = TRY(reader_.Next());
      m.scale = static_cast<uint8_t>(1u << (sib >> 6));
      const unsigned index = ((sib >> 3) & 7u) | (rex_.x ? 8u : 0u);
      if (index != 4) m.index = ToGpr(index);
      const unsigned base = sib & 7u;
      if (base == 5 && mod == 0) {
        disp32 = true;
      } else {
        m.base = ToGpr(base | (rex_.b ? 8u : 0u));
        if (base == 4 || base == 5) m.segment = Segment::kSs;
      }
    } else if (rm == 5 && mod == 0) {
      disp32 = true;
      m.rip_relative = mode_ == CpuMode::k64;
    } else {
      m.base = ToGpr(rm | (rex_.b ? 8u : 0u));
      if (rm == 5) m.segment = Segment::kSs;
    }
    if (mod == 1) m.displacement = static_cast<int64_t>(SignExtend(TRY(reader_.Le(1)), 1));
    if (mod == 2 || disp32) m.displacement = static_cast<int64_t>(SignExtend(TRY(reader_.Le(4)), 4));
  }
  if (insn_.segment_override) m.segment = *insn_.segment_override;
  return base::Ok();
}

base::Result<Decoded> Decoder::Run() {
  insn_.mode = mode_;
  bool operand_override = false;
  bool address_override = false;
  uint8_t byte = 0;
  uint8_t rex = 0;
  // SDM Vol 2 §2.1.1 (legacy prefixes, any order) and §2.2.1 (a REX prefix
  // counts only immediately before the opcode).
  for (;;) {
    byte = TRY(reader_.Next());
    bool legacy = true;
    switch (byte) {
      case 0x66: operand_override = true; break;
      case 0x67: address_override = true; break;
      case 0xf0: insn_.lock = true; break;
      case 0xf2: insn_.rep = RepPrefix::kRepne; break;
      case 0xf3: insn_.rep = RepPrefix::kRep; break;
      case 0x26: insn_.segment_override = Segment::kEs; break;
      case 0x2e: insn_.segment_override = Segment::kCs; break;
      case 0x36: insn_.segment_override = Segment::kSs; break;
      case 0x3e: insn_.segment_override = Segment::kDs; break;
      case 0x64: insn_.segment_override = Segment::kFs; break;
      case 0x65: insn_.segment_override = Segment::kGs; break;
      default: legacy = false; break;
    }
    if (legacy) {
      rex = 0;
      continue;
    }
    if (mode_ == CpuMode::k64 && (byte & 0xf0) == 0x40) {
      rex = byte;
      continue;
    }
    break;
  }
  insn_.rex = rex != 0;
  rex_ = Rex{(rex & 8) != 0, (rex & 4) != 0, (rex & 2) != 0, (rex & 1) != 0};

  // SDM Vol 1 §3.6.1, Tables 3-3 and 3-4.
  switch (mode_) {
    case CpuMode::k64:
      insn_.operand_size = rex_.w ? 8 : operand_override ? 2 : 4;
      insn_.address_size = address_override ? 4 : 8;
      break;
    case CpuMode::k32:
      insn_.operand_size = operand_override ? 2 : 4;
      insn_.address_size = address_override ? 2 : 4;
      break;
    case CpuMode::k16:
      insn_.operand_size = operand_override ? 4 : 2;
      insn_.address_size = address_override ? 4 : 2;
      break;
  }
  const uint8_t full_size = insn_.operand_size;
  const auto io_size = static_cast<uint8_t>(full_size > 4 ? 4 : full_size);

  if (byte == 0x0f) {
    const uint8_t opcode = TRY(reader_.Next());
    switch (opcode) {
      case 0xa3: case 0xab: case 0xb3: case 0xbb:
        insn_.op = static_cast<Op>(static_cast<uint8_t>(Op::kBt) + ((opcode >> 3) & 3));
        insn_.form = Form::kRmReg;
        TRY(ReadModRm());
        break;
      case 0xba:
        TRY(ReadModRm());
        if (modrm_reg_raw_ < 4) return Decoded{Unsupported()};
        insn_.op = static_cast<Op>(static_cast<uint8_t>(Op::kBt) + (modrm_reg_raw_ - 4));
        insn_.form = Form::kRmImm;
        insn_.immediate = TRY(reader_.Le(1));
        break;
      case 0xb6: case 0xb7: case 0xbe: case 0xbf:
        insn_.op = opcode < 0xb8 ? Op::kMovzx : Op::kMovsx;
        insn_.form = Form::kRegRm;
        insn_.source_size = (opcode & 1) ? 2 : 1;
        TRY(ReadModRm());
        break;
      default:
        return Decoded{Unsupported()};
    }
    insn_.length = static_cast<uint8_t>(reader_.position());
    return Decoded{insn_};
  }

  const bool byte_op = (byte & 1) == 0;
  switch (byte) {
    case 0x00: case 0x01: case 0x02: case 0x03: case 0x04: case 0x05:
    case 0x08: case 0x09: case 0x0a: case 0x0b: case 0x0c: case 0x0d:
    case 0x10: case 0x11: case 0x12: case 0x13: case 0x14: case 0x15:
    case 0x18: case 0x19: case 0x1a: case 0x1b: case 0x1c: case 0x1d:
    case 0x20: case 0x21: case 0x22: case 0x23: case 0x24: case 0x25:
    case 0x28: case 0x29: case 0x2a: case 0x2b: case 0x2c: case 0x2d:
    case 0x30: case 0x31: case 0x32: case 0x33: case 0x34: case 0x35:
    case 0x38: case 0x39: case 0x3a: case 0x3b: case 0x3c: case 0x3d: {
      insn_.op = static_cast<Op>((byte >> 3) & 7);
      if (byte_op) insn_.operand_size = 1;
      switch (byte & 7) {
        case 0: case 1: insn_.form = Form::kRmReg; TRY(ReadModRm()); break;
        case 2: case 3: insn_.form = Form::kRegRm; TRY(ReadModRm()); break;
        case 4: insn_.form = Form::kAccImm; insn_.immediate = TRY(reader_.Le(1)); break;
        default: insn_.form = Form::kAccImm; insn_.immediate = TRY(ReadImmZ()); break;
      }
      break;
    }
    case 0x6c: case 0x6d: case 0x6e: case 0x6f:
      insn_.op = byte < 0x6e ? Op::kIns : Op::kOuts;
      insn_.form = Form::kString;
      insn_.operand_size = byte_op ? 1 : io_size;
      break;
    case 0x80: case 0x81: case 0x83:
      TRY(ReadModRm());
      insn_.op = static_cast<Op>(modrm_reg_raw_);
      insn_.form = Form::kRmImm;
      if (byte == 0x80) {
        insn_.operand_size = 1;
        insn_.immediate = TRY(reader_.Le(1));
      } else if (byte == 0x81) {
        insn_.immediate = TRY(ReadImmZ());
      } else {
        insn_.immediate = SignExtend(TRY(reader_.Le(1)), 1);
      }
      break;
    case 0x84: case 0x85: case 0x86: case 0x87: case 0x88: case 0x89: case 0x8a: case 0x8b:
      insn_.op = byte < 0x86 ? Op::kTest : byte < 0x88 ? Op::kXchg : Op::kMov;
      insn_.form = byte < 0x8a ? Form::kRmReg : Form::kRegRm;
      if (byte_op) insn_.operand_size = 1;
      TRY(ReadModRm());
      break;
    case 0xa0: case 0xa1: case 0xa2: case 0xa3:
      // SDM Vol 2 MOV: the offset is address-size wide (8 bytes in 64-bit mode).
      insn_.op = Op::kMov;
      insn_.form = byte < 0xa2 ? Form::kAccMem : Form::kMemAcc;
      if (byte_op) insn_.operand_size = 1;
      insn_.memory.segment = insn_.segment_override.value_or(Segment::kDs);
      insn_.memory.displacement = static_cast<int64_t>(TRY(reader_.Le(insn_.address_size)));
      break;
    case 0xa8: case 0xa9:
      insn_.op = Op::kTest;
      insn_.form = Form::kAccImm;
      TRY(ReadImmBOrZ(byte_op));
      break;
    case 0xa4: case 0xa5: case 0xaa: case 0xab: case 0xac: case 0xad:
      insn_.op = byte < 0xa6 ? Op::kMovs : byte < 0xac ? Op::kStos : Op::kLods;
      insn_.form = Form::kString;
      if (byte_op) insn_.operand_size = 1;
      break;
    case 0xc6: case 0xc7:
      TRY(ReadModRm());
      // C6 F8 / C7 F8 are XABORT / XBEGIN.
      if (modrm_reg_raw_ != 0) return Decoded{Unsupported()};
      insn_.op = Op::kMov;
      insn_.form = Form::kRmImm;
      TRY(ReadImmBOrZ(byte_op));
      break;
    case 0xe4: case 0xe5: case 0xe6: case 0xe7: case 0xec: case 0xed: case 0xee: case 0xef:
      insn_.op = (byte & 2) == 0 ? Op::kIn : Op::kOut;
      insn_.form = byte < 0xec ? Form::kPortImm : Form::kPortDx;
      insn_.operand_size = byte_op ? 1 : io_size;
      if (insn_.form == Form::kPortImm) insn_.immediate = TRY(reader_.Le(1));
      break;
    case 0xf6: case 0xf7:
      TRY(ReadModRm());
      // Only TEST (/0); NOT, NEG, MUL, DIV and the /1 alias are not emulated.
      if (modrm_reg_raw_ != 0) return Decoded{Unsupported()};
      insn_.op = Op::kTest;
      insn_.form = Form::kRmImm;
      TRY(ReadImmBOrZ(byte_op));
      break;
    default:
      return Decoded{Unsupported()};
  }
  insn_.length = static_cast<uint8_t>(reader_.position());
  return Decoded{insn_};
}

}  // namespace

std::string HexBytes(std::span<const std::byte> bytes) {
  std::string text;
  for (size_t i = 0; i < bytes.size() && i < kMaxInstructionBytes + 1; ++i) {
    if (i != 0) text += ' ';
    text += base::StringPrintf("%02x", static_cast<unsigned>(bytes[i]));
  }
  return text;
}

base::Result<Decoded> Decode(std::span<const std::byte> bytes, CpuMode mode) {
  Decoder decoder(bytes, mode);
  auto decoded = decoder.Run();
  // SDM Vol 2 §2.3.11: more than 15 bytes is #GP(0), whatever the bytes say.
  if (decoder.too_long())
    return Decoded{DecodeFault{ExceptionVector::kGp, "instruction longer than 15 bytes: " +
                                                         HexBytes(bytes.first(std::min<size_t>(bytes.size(), kMaxInstructionBytes)))}};
  return decoded;
}

}  // namespace x86emu
