#include "vsm/io_instruction.h"

#include <doctest/doctest.h>

#include <vector>

namespace {

using CodeSize = x86emu::CpuMode;

std::vector<std::byte> Bytes(const std::vector<uint8_t>& raw) {
  std::vector<std::byte> bytes;
  for (uint8_t b : raw) bytes.push_back(std::byte{b});
  return bytes;
}

std::optional<loader::vsm::IoInstructionForm> Decode(std::vector<uint8_t> raw, bool long_mode = true) {
  return loader::vsm::DecodeIoInstruction(Bytes(raw), long_mode ? CodeSize::k64 : CodeSize::k32);
}

}  // namespace

TEST_CASE("I/O instruction form: single INS/OUTS are string I/O (review finding 12)") {
  auto outsb = Decode({0x6E});
  REQUIRE(outsb);
  CHECK(outsb->string);
  CHECK_FALSE(outsb->rep);
  auto rep_insw = Decode({0x66, 0xF3, 0x6D});
  REQUIRE(rep_insw);
  CHECK(rep_insw->string);
  CHECK(rep_insw->rep);
  auto out_dx = Decode({0xEE});
  REQUIRE(out_dx);
  CHECK_FALSE(out_dx->string);
  auto in_imm = Decode({0xE4, 0x80});
  REQUIRE(in_imm);
  CHECK_FALSE(in_imm->string);
  // REX before OUTSD in long mode; 0x48 is DEC EAX in 32-bit code.
  CHECK(Decode({0x48, 0x6F})->string);
  CHECK_FALSE(Decode({0x48, 0x6F}, false));
  // IN AL, imm8 without its port byte is cut short.
  CHECK_FALSE(Decode({0xE4}));
  // Not I/O (a rewritten instruction), empty, or only prefixes.
  CHECK_FALSE(Decode({0x90}));
  CHECK_FALSE(Decode({}));
  CHECK_FALSE(Decode(std::vector<uint8_t>(20, 0x66)));
}

TEST_CASE("I/O instruction form: direction, operand size, port and length") {
  auto out_dx_al = Decode({0xEE});
  REQUIRE(out_dx_al);
  CHECK_FALSE(out_dx_al->in);
  CHECK(out_dx_al->operand_bytes == 1);
  CHECK_FALSE(out_dx_al->immediate_port);
  CHECK(out_dx_al->length == 1);
  auto in_eax_imm = Decode({0xE5, 0x71});
  REQUIRE(in_eax_imm);
  CHECK(in_eax_imm->in);
  CHECK(in_eax_imm->operand_bytes == 4);
  CHECK(in_eax_imm->immediate_port == 0x71);
  CHECK(in_eax_imm->length == 2);
  // 0x66 picks the size that is not the code's default (SDM vol. 1 §3.6.1).
  CHECK(Decode({0x66, 0xEF})->operand_bytes == 2);
  CHECK(Decode({0x66, 0xEF})->length == 2);
  CHECK(loader::vsm::DecodeIoInstruction(Bytes({0xEF}), CodeSize::k16)->operand_bytes == 2);
  CHECK(loader::vsm::DecodeIoInstruction(Bytes({0x66, 0xEF}), CodeSize::k16)->operand_bytes == 4);
  // REX.W does not make I/O 64-bit.
  CHECK(Decode({0x48, 0xED})->operand_bytes == 4);
  CHECK(Decode({0x48, 0xED})->length == 2);
  CHECK(Decode({0x6D})->in);
  CHECK_FALSE(Decode({0x6E})->in);
}

TEST_CASE("I/O exit deferral: only an IN/OUT KVM left RIP at, of the exit's own port, size and direction") {
  using loader::vsm::DeferrableIoLength;
  using loader::vsm::IoExitFacts;
  const auto nop = std::optional<std::byte>(std::byte{0x90});
  const IoExitFacts out_scratch{.port = 0x3FF, .size = 1, .in = false, .count = 1, .dx = 0x3FF};
  // out dx, al (the benchmark's loop) and out 0x80, al.
  CHECK(DeferrableIoLength(Bytes({0xEE, 0x90}), nop, CodeSize::k64, out_scratch) == 1);
  const IoExitFacts out_80{.port = 0x80, .size = 1, .in = false, .count = 1, .dx = 0};
  CHECK(DeferrableIoLength(Bytes({0xE6, 0x80}), nop, CodeSize::k64, out_80) == 2);
  // in ax, dx with 0x66 in 64-bit code.
  const IoExitFacts in_word{.port = 0x1F0, .size = 2, .in = true, .count = 1, .dx = 0x1F0};
  CHECK(DeferrableIoLength(Bytes({0x66, 0xED}), nop, CodeSize::k64, in_word) == 2);

  // Not the exit's instruction: another port (DX or the immediate), the
  // other direction, another size, string I/O, not I/O at all.
  CHECK_FALSE(DeferrableIoLength(Bytes({0xEE}), nop, CodeSize::k64, {.port = 0x3FF, .size = 1, .count = 1, .dx = 0x3F8}));
  CHECK_FALSE(DeferrableIoLength(Bytes({0xE6, 0x81}), nop, CodeSize::k64, out_80));
  CHECK_FALSE(DeferrableIoLength(Bytes({0xEC}), nop, CodeSize::k64, out_scratch));
  CHECK_FALSE(DeferrableIoLength(Bytes({0xEF}), nop, CodeSize::k64, out_scratch));
  CHECK_FALSE(DeferrableIoLength(Bytes({0x6E}), nop, CodeSize::k64, out_scratch));
  CHECK_FALSE(DeferrableIoLength(Bytes({0x90}), nop, CodeSize::k64, out_scratch));
  // A REP string exit (several elements), and KVM's own early skip of OUT 0x7E.
  CHECK_FALSE(DeferrableIoLength(Bytes({0xEE}), nop, CodeSize::k64, {.port = 0x3FF, .size = 1, .count = 4, .dx = 0x3FF}));
  CHECK_FALSE(DeferrableIoLength(Bytes({0xE6, 0x7E}), nop, CodeSize::k64, {.port = 0x7E, .size = 1, .count = 1}));
  // After `outsb; out dx, al` KVM's emulator has already moved RIP past the
  // OUTS, onto an instruction that matches: the byte before RIP gives it
  // away. Unknown (RIP at a page's first byte): not deferred either.
  CHECK_FALSE(DeferrableIoLength(Bytes({0xEE}), std::byte{0x6E}, CodeSize::k64, out_scratch));
  CHECK_FALSE(DeferrableIoLength(Bytes({0xEE}), std::byte{0x6F}, CodeSize::k64, out_scratch));
  CHECK_FALSE(DeferrableIoLength(Bytes({0xEE}), std::nullopt, CodeSize::k64, out_scratch));
}
