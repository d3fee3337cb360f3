// Decoder: instruction bytes -> a typed Instruction, for the subset of x86-64
// that touches MMIO or does port I/O (README.md lists it).
//
// Pure: no CPU state besides the execution mode. Reads only the bytes it is
// given and at most 15 of them (SDM Vol 2 §2.3.11); running out of bytes is
// an Error ("instruction truncated"), an opcode outside the subset or an
// over-long instruction is a DecodeFault the caller turns into #UD / #GP.
//
// Not here: VEX/EVEX, x87, SSE, control transfers, and everything else
// outside the list (including 0x82 and the 0x40-0x4F INC/DEC of 32-bit code).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <variant>

#include "base/result.h"
#include "x86emu/cpu.h"

namespace x86emu {

inline constexpr size_t kMaxInstructionBytes = 15;

enum class Op : uint8_t {
  // The ALU group, in the order of its opcode encoding (bits 5:3 of 00-3F,
  // ModRM.reg of 80/81/83).
  kAdd, kOr, kAdc, kSbb, kAnd, kSub, kXor, kCmp,
  kTest, kXchg, kMov, kMovzx, kMovsx,
  kBt, kBts, kBtr, kBtc,
  kMovs, kStos, kLods, kIns, kOuts, kIn, kOut,
};

// Where an instruction's operands come from.
enum class Form : uint8_t {
  kRmReg,     // destination r/m, source ModRM.reg (or the only operands of TEST/XCHG)
  kRegRm,     // destination ModRM.reg, source r/m
  kRmImm,     // destination r/m, source immediate
  kAccImm,    // destination AL/AX/EAX/RAX, source immediate
  kAccMem,    // AL/rAX <- [moffs]
  kMemAcc,    // [moffs] <- AL/rAX
  kString,    // implicit rSI/rDI/rCX/DX
  kPortImm,   // port is the 8-bit immediate
  kPortDx,    // port is DX
};

enum class RepPrefix : uint8_t { kNone, kRep, kRepne };

// A ModRM memory operand (or a moffs: displacement only). The effective
// address is base + index * scale + displacement (+ next RIP when
// rip_relative), truncated to the address size.
struct MemoryOperand {
  Segment segment = Segment::kDs;  // after any override
  std::optional<Gpr> base;
  std::optional<Gpr> index;
  uint8_t scale = 1;
  int64_t displacement = 0;
  bool rip_relative = false;
};

struct Instruction {
  Op op = Op::kMov;
  Form form = Form::kRmReg;
  CpuMode mode = CpuMode::k64;
  uint8_t length = 0;           // bytes, prefixes included
  uint8_t operand_size = 4;     // bytes: 1, 2, 4 or 8
  uint8_t source_size = 0;      // MOVZX/MOVSX source: 1 or 2
  uint8_t address_size = 8;     // bytes: 2, 4 or 8
  RepPrefix rep = RepPrefix::kNone;
  bool lock = false;            // accepted and ignored
  bool rex = false;             // any REX prefix: selects SPL..DIL over AH..BH
  std::optional<Segment> segment_override;
  uint8_t reg = 0;              // ModRM.reg with REX.R: a GPR index
  bool rm_is_register = false;
  uint8_t rm_register = 0;      // with REX.B, when rm_is_register
  MemoryOperand memory;         // when !rm_is_register, or a moffs
  uint64_t immediate = 0;       // sign- or zero-extended as the form says
};

// An instruction the emulator must not run: the caller injects `vector`.
struct DecodeFault {
  ExceptionVector vector = ExceptionVector::kUd;
  std::string reason;
};

using Decoded = std::variant<Instruction, DecodeFault>;

base::Result<Decoded> Decode(std::span<const std::byte> bytes, CpuMode mode);

// "0f 0b ..." for messages.
std::string HexBytes(std::span<const std::byte> bytes);

}  // namespace x86emu
