#include "x86emu/decoder.h"

#include <doctest/doctest.h>

#include <cstdint>
#include <initializer_list>
#include <vector>

namespace x86emu {
namespace {

std::vector<std::byte> Bytes(std::initializer_list<unsigned> values) {
  std::vector<std::byte> bytes;
  for (unsigned value : values) bytes.push_back(static_cast<std::byte>(value));
  return bytes;
}

Instruction DecodeOk(std::initializer_list<unsigned> values, CpuMode mode = CpuMode::k64) {
  const auto bytes = Bytes(values);
  auto decoded = Decode(bytes, mode);
  REQUIRE(decoded.ok());
  REQUIRE(std::holds_alternative<Instruction>(*decoded));
  return std::get<Instruction>(*decoded);
}

TEST_CASE("x86emu decoder: mov %eax,0x10(%rbx)") {
  const Instruction insn = DecodeOk({0x89, 0x43, 0x10});
  CHECK(insn.op == Op::kMov);
  CHECK(insn.form == Form::kRmReg);
  CHECK(insn.length == 3);
  CHECK(insn.operand_size == 4);
  CHECK(insn.reg == 0);
  CHECK_FALSE(insn.rm_is_register);
  CHECK(insn.memory.base == Gpr::kRbx);
  CHECK_FALSE(insn.memory.index.has_value());
  CHECK(insn.memory.displacement == 0x10);
}

TEST_CASE("x86emu decoder: REX.W/R/X/B and SIB") {
  // mov %r9,-0x8(%r10,%r11,4) = 4f 89 4c 9a f8
  const Instruction insn = DecodeOk({0x4f, 0x89, 0x4c, 0x9a, 0xf8});
  CHECK(insn.operand_size == 8);
  CHECK(insn.reg == 9);
  CHECK(insn.memory.base == Gpr::kR10);
  CHECK(insn.memory.index == Gpr::kR11);
  CHECK(insn.memory.scale == 4);
  CHECK(insn.memory.displacement == -8);
  CHECK(insn.length == 5);
}

TEST_CASE("x86emu decoder: RIP-relative and 66/67/segment prefixes") {
  // mov 0x100(%rip),%ax with a GS override: 65 66 8b 05 00 01 00 00
  const Instruction insn = DecodeOk({0x65, 0x66, 0x8b, 0x05, 0x00, 0x01, 0x00, 0x00});
  CHECK(insn.operand_size == 2);
  CHECK(insn.memory.rip_relative);
  CHECK(insn.memory.displacement == 0x100);
  CHECK(insn.memory.segment == Segment::kGs);
  CHECK(insn.length == 8);
  // 67: 32-bit addressing in 64-bit mode.
  CHECK(DecodeOk({0x67, 0x8b, 0x03}).address_size == 4);
  // A REX before a legacy prefix is ignored.
  CHECK(DecodeOk({0x48, 0x66, 0x89, 0x03}).operand_size == 2);
}

TEST_CASE("x86emu decoder: immediates are sign-extended where the form says") {
  // or $-1,%rax via 48 83 c8 ff; and $0x80000000 via 48 81 20 00 00 00 80.
  CHECK(DecodeOk({0x48, 0x83, 0xc8, 0xff}).immediate == ~0ull);
  const Instruction and_insn = DecodeOk({0x48, 0x81, 0x20, 0x00, 0x00, 0x00, 0x80});
  CHECK(and_insn.op == Op::kAnd);
  CHECK(and_insn.immediate == 0xffff'ffff'8000'0000ull);
  // movb $0x80,(%rax): zero-extended byte.
  CHECK(DecodeOk({0xc6, 0x00, 0x80}).immediate == 0x80);
  // movabs 0x1122334455667788,%eax: an 8-byte moffs.
  const Instruction moffs = DecodeOk({0xa1, 0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11});
  CHECK(moffs.form == Form::kAccMem);
  CHECK(static_cast<uint64_t>(moffs.memory.displacement) == 0x1122334455667788ull);
  CHECK(moffs.length == 9);
}

TEST_CASE("x86emu decoder: 16-bit and 32-bit modes") {
  // 32-bit mode: 8b 05 disp32 is an absolute address, not RIP-relative.
  const Instruction abs = DecodeOk({0x8b, 0x05, 0x00, 0x10, 0x00, 0x00}, CpuMode::k32);
  CHECK_FALSE(abs.memory.rip_relative);
  CHECK(abs.memory.displacement == 0x1000);
  // 16-bit: mov %ax,0x4(%bp,%si) = 89 42 04, stack segment.
  const Instruction bp = DecodeOk({0x89, 0x42, 0x04}, CpuMode::k16);
  CHECK(bp.operand_size == 2);
  CHECK(bp.memory.base == Gpr::kRbp);
  CHECK(bp.memory.index == Gpr::kRsi);
  CHECK(bp.memory.segment == Segment::kSs);
  // 0x48 is DEC outside 64-bit mode: unsupported.
  const auto bytes = Bytes({0x48, 0x89, 0x03});
  auto decoded = Decode(bytes, CpuMode::k32);
  REQUIRE(decoded.ok());
  CHECK(std::holds_alternative<DecodeFault>(*decoded));
}

TEST_CASE("x86emu decoder: string and port forms") {
  const Instruction outsb = DecodeOk({0xf3, 0x6e});
  CHECK(outsb.op == Op::kOuts);
  CHECK(outsb.rep == RepPrefix::kRep);
  CHECK(outsb.operand_size == 1);
  // REX.W does not widen port I/O past 4 bytes.
  CHECK(DecodeOk({0x48, 0x6f}).operand_size == 4);
  CHECK(DecodeOk({0x48, 0xa5}).operand_size == 8);
  const Instruction in = DecodeOk({0xe5, 0x60});
  CHECK(in.op == Op::kIn);
  CHECK(in.immediate == 0x60);
}

TEST_CASE("x86emu decoder: unsupported opcodes name their bytes") {
  for (const auto& bytes : {Bytes({0x0f, 0x0b}), Bytes({0xf7, 0x18}), Bytes({0xc7, 0xf8, 0, 0, 0, 0}),
                            Bytes({0x0f, 0xba, 0x00, 0x01}), Bytes({0xff, 0xd0})}) {
    auto decoded = Decode(bytes, CpuMode::k64);
    REQUIRE(decoded.ok());
    REQUIRE(std::holds_alternative<DecodeFault>(*decoded));
    const DecodeFault& fault = std::get<DecodeFault>(*decoded);
    CHECK(fault.vector == ExceptionVector::kUd);
    CHECK(fault.reason.find("unsupported instruction: ") == 0);
  }
  const auto ud2 = Bytes({0x0f, 0x0b});
  CHECK(std::get<DecodeFault>(*Decode(ud2, CpuMode::k64)).reason == "unsupported instruction: 0f 0b");
}

TEST_CASE("x86emu decoder: truncated bytes are an error, never read past") {
  const auto full = Bytes({0x48, 0x81, 0x20, 0x00, 0x00, 0x00, 0x80});
  for (size_t size = 0; size < full.size(); ++size) {
    auto decoded = Decode(std::span(full).first(size), CpuMode::k64);
    REQUIRE_FALSE(decoded.ok());
    CHECK(decoded.error().message().find("instruction truncated") == 0);
  }
}

TEST_CASE("x86emu decoder: more than 15 bytes is #GP") {
  std::vector<std::byte> bytes(14, std::byte{0x66});
  for (unsigned tail : {0x89u, 0x03u}) bytes.push_back(static_cast<std::byte>(tail));
  auto decoded = Decode(bytes, CpuMode::k64);
  REQUIRE(decoded.ok());
  REQUIRE(std::holds_alternative<DecodeFault>(*decoded));
  CHECK(std::get<DecodeFault>(*decoded).vector == ExceptionVector::kGp);
  // 15 bytes exactly is fine.
  bytes.erase(bytes.begin());
  CHECK(std::holds_alternative<Instruction>(*Decode(bytes, CpuMode::k64)));
}

}  // namespace
}  // namespace x86emu
