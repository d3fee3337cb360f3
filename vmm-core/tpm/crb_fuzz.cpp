// Fuzz target: VTL0's accesses to the CRB registers, with a hostile command
// buffer, and the engine's answers. Each action is 8 bytes: op, width,
// a little-endian 16-bit offset, a little-endian dword value.
//   op bits 0-1: 0 read, 1 write, 2 complete (value's low 13 bits = response
//                size), 3 rewrite the buffer's header size (value)
//   op bit 2:    make the buffer fail for this action
// Invariants: no crash or sanitizer report; a started command is exactly
// as long as its header says and fits the buffer; START reads 1 only while
// a command runs.
#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "base/be_bytes.h"
#include "base/fuzz_target.h"
#include "tpm/crb.h"
#include "tpm/platform.h"
#include "tpm/testing/memory_command_buffer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  tpm::testing::MemoryCommandBuffer buffer(tpm::kCrbBufferBytes);
  tpm::CrbInterface crb(buffer, tpm::kCrbBufferGpa, tpm::kCrbBufferBytes);
  for (size_t at = 0; at + 8 <= size; at += 8) {
    const uint8_t op = data[at];
    const size_t width = size_t{1} + (data[at + 1] & 7);
    const uint64_t offset = data[at + 2] | uint64_t{data[at + 3]} << 8;
    const uint32_t value = data[at + 4] | uint32_t{data[at + 5]} << 8 |
                           uint32_t{data[at + 6]} << 16 | uint32_t{data[at + 7]} << 24;
    buffer.fail = (op & 4) != 0;
    std::array<std::byte, 8> bytes{};
    for (size_t i = 0; i < 4; ++i) bytes[i] = std::byte(value >> (8 * i));
    switch (op & 3) {
      case 0: crb.Read(offset, std::span(bytes).first(width)); break;
      case 1: {
        auto effect = crb.Write(offset, std::span<const std::byte>(bytes).first(width));
        if (effect.start) {
          const auto& command = effect.start->bytes;
          if (command.size() < tpm::CrbInterface::kHeaderBytes ||
              command.size() > tpm::kCrbBufferBytes ||
              base::LoadBe<uint32_t>(command, 2) != command.size())
            __builtin_trap();
          if (!crb.executing()) __builtin_trap();
        }
        break;
      }
      case 2: crb.Complete(std::vector<std::byte>(value & 0x1FFF)); break;
      case 3:
        buffer.fail = false;
        base::StoreBe<uint32_t>(buffer.bytes(), 2, value);
        break;
    }
    std::array<std::byte, 4> start{};
    crb.Read(tpm::CrbInterface::kCtrlStart, start);
    if ((start[0] == std::byte{1}) != crb.executing()) __builtin_trap();
  }
  return 0;
}
