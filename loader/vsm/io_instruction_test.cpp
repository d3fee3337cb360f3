#include "vsm/io_instruction.h"

#include <doctest/doctest.h>

#include <vector>

namespace {

std::optional<loader::vsm::IoInstructionForm> Decode(std::vector<uint8_t> raw, bool long_mode = true) {
  std::vector<std::byte> bytes;
  for (uint8_t b : raw) bytes.push_back(std::byte{b});
  return loader::vsm::DecodeIoInstruction(bytes, long_mode);
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
  // Not I/O (a rewritten instruction), empty, or only prefixes.
  CHECK_FALSE(Decode({0x90}));
  CHECK_FALSE(Decode({}));
  CHECK_FALSE(Decode(std::vector<uint8_t>(20, 0x66)));
}
