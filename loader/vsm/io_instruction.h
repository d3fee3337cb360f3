// The form of a port I/O instruction from its bytes (SDM vol. 2: IN/OUT
// E4-E7, EC-EF; INS/OUTS 6C-6F), decoded by x86emu's decoder.
// KVM's I/O exit does not say whether the instruction was a string one,
// and a single INS/OUTS (or REP with RCX = 1) exits like IN/OUT: the
// loader reads the instruction to build the intercept message Hyper-V
// would (TLFS HV_X64_IO_PORT_INTERCEPT_MESSAGE, access_info string/rep),
// and to know its length without letting KVM finish it first.
// Sans I/O.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

#include "x86emu/cpu.h"

namespace loader::vsm {

struct IoInstructionForm {
  bool string = false;
  bool rep = false;
  bool in = false;                        // IN/INS: E4, E5, EC, ED, 6C, 6D
  uint8_t operand_bytes = 0;              // 1, 2 or 4
  std::optional<uint8_t> immediate_port;  // E4-E7 name the port in the instruction
  uint8_t length = 0;                     // prefixes, opcode and immediate
};

// nullopt: the bytes are not a port I/O instruction (rewritten since the
// exit, unreadable, or cut short).
std::optional<IoInstructionForm> DecodeIoInstruction(std::span<const std::byte> bytes,
                                                     x86emu::CpuMode mode);

// What KVM's I/O exit says (api.rst, KVM_EXIT_IO) and the port register.
struct IoExitFacts {
  uint16_t port = 0;
  uint8_t size = 0;  // bytes per element
  bool in = false;
  uint32_t count = 0;
  uint16_t dx = 0;
};

// KVM hands a non-string IN/OUT to user space with RIP still at it and
// finishes it (skips it, and for IN loads RAX) at the next KVM_RUN only if
// RIP has not changed meanwhile (x86.c kvm_fast_pio, complete_fast_pio_in
// and _out compare the linear RIP with the one at the exit). Such an exit
// can be answered later by moving RIP past the instruction, with no
// KVM_RUN to finish it first. Returns the instruction's length when the
// exit is surely one of those: `code` (the bytes at RIP) decode to a
// single IN/OUT of the exit's port, direction and size; `before` (the
// byte before RIP, if known) is not the last byte of an OUTS, which KVM's
// emulator executes wholly, leaving RIP after it; and the port is not
// 0x7E, whose OUT KVM skips before the exit (KVM_X86_QUIRK_OUT_7E_INC_RIP).
// Anything else: nullopt, and the caller lets KVM finish the exit.
std::optional<uint8_t> DeferrableIoLength(std::span<const std::byte> code,
                                          std::optional<std::byte> before, x86emu::CpuMode mode,
                                          const IoExitFacts& exit);
// The same for bytes already decoded (`form`: DecodeIoInstruction's).
std::optional<uint8_t> DeferrableIoLength(const std::optional<IoInstructionForm>& form,
                                          std::optional<std::byte> before,
                                          const IoExitFacts& exit);

}  // namespace loader::vsm
