#include "vsm/io_instruction.h"

namespace loader::vsm {

std::optional<IoInstructionForm> DecodeIoInstruction(std::span<const std::byte> bytes,
                                                     bool long_mode) {
  IoInstructionForm form;
  // SDM vol. 2 §2.3.11: at most 15 bytes.
  for (size_t i = 0; i < bytes.size() && i < 15; ++i) {
    const auto byte = std::to_integer<uint8_t>(bytes[i]);
    switch (byte) {
      case 0xF2:  // REPNE: repeats INS/OUTS as REP does
      case 0xF3:
        form.rep = true;
        continue;
      case 0x66: case 0x67: case 0x2E: case 0x36: case 0x3E: case 0x26: case 0x64: case 0x65:
      case 0xF0:
        continue;
      default:
        break;
    }
    if (long_mode && (byte & 0xF0) == 0x40) continue;  // REX
    if (byte >= 0x6C && byte <= 0x6F) {
      form.string = true;
      return form;
    }
    if ((byte >= 0xE4 && byte <= 0xE7) || (byte >= 0xEC && byte <= 0xEF)) {
      form.rep = false;  // REP means nothing to IN/OUT
      return form;
    }
    return std::nullopt;
  }
  return std::nullopt;
}

}  // namespace loader::vsm
