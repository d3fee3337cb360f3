// Fuzz target: VTL0's instruction bytes at an I/O exit, as the loader
// reads them to build the intercept message and to decide whether KVM's
// completion of the exit may wait (vsm/io_instruction.h). Input: byte 0
// the mode, bytes 1-2 the exit's port, byte 3 its size/direction/count
// bits, byte 4 the byte before RIP, bytes 5-6 DX, the rest the code.
// Invariants: no crash or sanitizer report; a deferred exit is always a
// single non-string IN/OUT of the exit's port, direction and size, whose
// length lies inside the bytes read and is what the decoder says.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <span>

#include "base/fuzz_target.h"
#include "vsm/io_instruction.h"

namespace {

void Require(bool condition) {
  if (!condition) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  constexpr size_t kHeader = 7;
  if (size < kHeader) return 0;
  const auto mode = static_cast<x86emu::CpuMode>(data[0] % 3);
  const uint8_t sizes[] = {1, 2, 4};
  loader::vsm::IoExitFacts exit{
      .port = static_cast<uint16_t>(data[1] | (data[2] << 8)),
      .size = sizes[(data[3] & 3) % 3],
      .in = (data[3] & 4) != 0,
      .count = (data[3] & 8) != 0 ? 2u : 1u,
      .dx = static_cast<uint16_t>(data[5] | (data[6] << 8)),
  };
  const std::optional<std::byte> before =
      (data[3] & 16) != 0 ? std::nullopt : std::optional<std::byte>(std::byte{data[4]});
  const auto code = std::as_bytes(std::span(data + kHeader, size - kHeader));

  const auto form = loader::vsm::DecodeIoInstruction(code, mode);
  if (form) {
    Require(form->length >= 1 && form->length <= code.size() && form->length <= 15);
    Require(form->operand_bytes == 1 || form->operand_bytes == 2 || form->operand_bytes == 4);
    Require(!form->rep || form->string);
    Require(!form->immediate_port || !form->string);
  }
  const auto deferred = loader::vsm::DeferrableIoLength(code, before, mode, exit);
  if (deferred) {
    Require(form && !form->string && *deferred == form->length);
    Require(exit.count == 1 && form->in == exit.in && form->operand_bytes == exit.size);
    Require(form->immediate_port ? *form->immediate_port == exit.port : exit.dx == exit.port);
    Require(before && *before != std::byte{0x6E} && *before != std::byte{0x6F});
  }
  return 0;
}
