// Emulate: runs one intercepted instruction against an X86Cpu.
//
// The caller hands over the instruction bytes from the intercept message
// (Hyper-V gives up to 16); the emulator decodes them, translates the
// memory operand through the guest's page tables, performs the access on
// RAM, the MMIO device or the I/O port, updates registers and RFLAGS, and
// advances RIP. It never reads past the bytes it is given.
//
// Outcomes:
//   - Executed: done. `rip_advanced` is false when a REP string instruction
//     stopped after kMaxRepIterations with RCX still non-zero; the guest
//     re-executes it, as after an interrupt (SDM Vol 2 REP: "the
//     instruction can be interrupted and resumed").
//   - InjectException: the guest takes #UD (unsupported or invalid
//     instruction), #GP/#SS (non-canonical address, over-long instruction)
//     or #PF (with error code and CR2). Registers reflect completed
//     iterations of a string instruction, as on hardware.
//   - Error: the caller must deal with it: truncated instruction bytes, a
//     failing ReadPhys/MMIO/port callback, 5-level paging.
//
// Not here: segment limit and type checks, alignment checks, I/O permission
// checks (done by hardware before the intercept), RFLAGS.TF single-step,
// instructions outside README.md's list.
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

// Bounds one Emulate call for a guest-chosen RCX (STYLE.md §3.4).
inline constexpr uint64_t kMaxRepIterations = 4096;

struct Executed {
  bool rip_advanced = true;
};

struct InjectException {
  ExceptionVector vector = ExceptionVector::kUd;
  std::optional<uint32_t> error_code;
  uint64_t cr2 = 0;    // #PF only: the faulting linear address
  std::string reason;  // for the log, e.g. "unsupported instruction: 0f 0b"
};

using Completion = std::variant<Executed, InjectException>;

// The mode the vCPU runs in (SDM Vol 3 §2.2: long mode is EFER.LMA, 64-bit
// code is CS.L in long mode; otherwise CS.D chooses 32 or 16 bits).
CpuMode ModeOf(const X86Cpu& cpu);

base::Result<Completion> Emulate(X86Cpu& cpu, std::span<const std::byte> instruction_bytes);

}  // namespace x86emu
