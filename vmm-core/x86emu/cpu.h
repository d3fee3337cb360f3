// X86Cpu: what the instruction emulator needs from the vCPU it emulates for.
//
// The emulator is sans-I/O: it never touches hypercalls, KVM or guest RAM
// itself. The caller (hcl, on an intercept message; a test; a fuzzer)
// implements this interface over whatever holds the register state and the
// guest's memory. Register reads come from the intercept message or a
// get-registers call; writes are buffered by the caller and committed when
// Emulate returns.
//
// Memory is split three ways:
//   - ReadPhys/WritePhys: ordinary guest RAM (page-table entries, the RAM
//     side of a string instruction);
//   - MmioRead/MmioWrite: the emulated device, for every GPA IsMmio() claims;
//   - IoIn/IoOut: the port I/O bus.
// The simplest IsMmio is "the intercepted GPA's page"; a caller with a
// device map answers from it.
//
// Not here: instruction fetch (the caller passes the bytes from the
// intercept message), descriptor tables, MSRs other than EFER.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "base/result.h"
#include "mem/guest_memory.h"

namespace x86emu {

using mem::Gpa;

// A guest virtual (linear) address: the segment base is already added.
enum class Gva : uint64_t {};
constexpr uint64_t ToU64(Gva gva) { return static_cast<uint64_t>(gva); }

// General-purpose registers by their encoding (SDM Vol 2 §2.1.5, Table 2-2).
enum class Gpr : uint8_t {
  kRax, kRcx, kRdx, kRbx, kRsp, kRbp, kRsi, kRdi,
  kR8, kR9, kR10, kR11, kR12, kR13, kR14, kR15,
};
inline constexpr int kGprCount = 16;

// Segment registers by their encoding in the Sreg field (SDM Vol 2 §3.1.1.3).
enum class Segment : uint8_t { kEs, kCs, kSs, kDs, kFs, kGs };

// A segment register as VMX and Hyper-V report it (HV_X64_SEGMENT_REGISTER):
// attributes bits 0-3 type, 4 S, 5-6 DPL, 7 P, 12 AVL, 13 L, 14 D/B, 15 G.
struct SegmentRegister {
  uint64_t base = 0;
  uint32_t limit = 0;
  uint16_t selector = 0;
  uint16_t attributes = 0;

  constexpr uint8_t dpl() const { return static_cast<uint8_t>((attributes >> 5) & 3); }
  constexpr bool long_mode() const { return (attributes & (1u << 13)) != 0; }
  constexpr bool default_big() const { return (attributes & (1u << 14)) != 0; }
};

struct ControlRegisters {
  uint64_t cr0 = 0;
  uint64_t cr3 = 0;
  uint64_t cr4 = 0;
  uint64_t efer = 0;
};

// Architectural bits the emulator reads (SDM Vol 3 §2.5, §2.2.1).
inline constexpr uint64_t kCr0Pe = 1ull << 0;
inline constexpr uint64_t kCr0Wp = 1ull << 16;
inline constexpr uint64_t kCr0Pg = 1ull << 31;
inline constexpr uint64_t kCr4Pse = 1ull << 4;
inline constexpr uint64_t kCr4Pae = 1ull << 5;
inline constexpr uint64_t kCr4La57 = 1ull << 12;
inline constexpr uint64_t kCr4Smep = 1ull << 20;
inline constexpr uint64_t kCr4Smap = 1ull << 21;
inline constexpr uint64_t kEferLme = 1ull << 8;
inline constexpr uint64_t kEferLma = 1ull << 10;
inline constexpr uint64_t kEferNxe = 1ull << 11;

// RFLAGS bits (SDM Vol 1 §3.4.3).
inline constexpr uint64_t kFlagCf = 1ull << 0;
inline constexpr uint64_t kFlagPf = 1ull << 2;
inline constexpr uint64_t kFlagAf = 1ull << 4;
inline constexpr uint64_t kFlagZf = 1ull << 6;
inline constexpr uint64_t kFlagSf = 1ull << 7;
inline constexpr uint64_t kFlagDf = 1ull << 10;
inline constexpr uint64_t kFlagOf = 1ull << 11;
inline constexpr uint64_t kFlagAc = 1ull << 18;
inline constexpr uint64_t kArithmeticFlags =
    kFlagCf | kFlagPf | kFlagAf | kFlagZf | kFlagSf | kFlagOf;

// Exceptions the emulator asks the caller to inject (SDM Vol 3 §6.3.1).
enum class ExceptionVector : uint8_t { kUd = 6, kSs = 12, kGp = 13, kPf = 14 };

// The execution mode, from EFER.LMA, CS.L and CS.D (SDM Vol 3 §5.2.1).
enum class CpuMode : uint8_t { k16, k32, k64 };

// Guest RAM as physical addresses: what a page walk reads page-table
// entries through (page_walk.h). An error here is a failure of the caller
// (a GPA outside RAM, or one the caller may not read), not a guest
// exception: Emulate passes it up unchanged.
class PhysReader {
 public:
  virtual ~PhysReader() = default;
  virtual base::Result<void> ReadPhys(Gpa gpa, std::span<std::byte> out) = 0;
};

class X86Cpu : public PhysReader {
 public:

  virtual uint64_t gpr(Gpr reg) const = 0;
  virtual void set_gpr(Gpr reg, uint64_t value) = 0;
  virtual uint64_t rip() const = 0;
  virtual void set_rip(uint64_t value) = 0;
  virtual uint64_t rflags() const = 0;
  virtual void set_rflags(uint64_t value) = 0;
  virtual SegmentRegister segment(Segment seg) const = 0;
  virtual ControlRegisters control_registers() const = 0;

  // Guest RAM: ReadPhys (PhysReader) and WritePhys, with the same errors.
  virtual base::Result<void> WritePhys(Gpa gpa, std::span<const std::byte> in) = 0;

  // True when an access to `gpa` goes to the emulated device rather than RAM.
  virtual bool IsMmio(Gpa gpa) const = 0;
  // The device. Accesses never cross a page boundary; the emulator splits.
  virtual base::Result<void> MmioRead(Gpa gpa, std::span<std::byte> out) = 0;
  virtual base::Result<void> MmioWrite(Gpa gpa, std::span<const std::byte> in) = 0;

  // Port I/O, 1, 2 or 4 bytes at a time.
  virtual base::Result<void> IoIn(uint16_t port, std::span<std::byte> out) = 0;
  virtual base::Result<void> IoOut(uint16_t port, std::span<const std::byte> in) = 0;
};

}  // namespace x86emu
