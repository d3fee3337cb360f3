// The form of a port I/O instruction from its bytes (SDM vol. 2: IN/OUT
// E4-E7, EC-EF; INS/OUTS 6C-6F; prefixes vol. 2 §2.1.1, REX §2.2.1).
// KVM's I/O exit does not say whether the instruction was a string one,
// and a single INS/OUTS (or REP with RCX = 1) exits like IN/OUT: the
// loader reads the instruction to build the intercept message Hyper-V
// would (TLFS HV_X64_IO_PORT_INTERCEPT_MESSAGE, access_info string/rep).
// Sans I/O.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

namespace loader::vsm {

struct IoInstructionForm {
  bool string = false;
  bool rep = false;
};

// nullopt: the bytes are not a port I/O instruction (rewritten since the
// exit, or unreadable).
std::optional<IoInstructionForm> DecodeIoInstruction(std::span<const std::byte> bytes,
                                                     bool long_mode);

}  // namespace loader::vsm
