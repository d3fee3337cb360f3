// Fuzz target: decode and execute arbitrary instruction bytes against a
// FakeCpu. Input: one mode byte, 16 register-seed bytes, then the
// instruction bytes (all of the rest, so truncation and >15-byte inputs are
// exercised too).
//   mode bits 0-1: 64-bit paged / 32-bit flat / 16-bit / 64-bit at CPL 3
//   mode bit 2: RFLAGS.DF;  bit 3: CR0.WP off;  bit 4: SMAP on
// Invariants: no crash or sanitizer report; a guest exception or an error
// leaves RIP alone; a retired instruction advances RIP by at most 15.
#include <array>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "base/fuzz_target.h"
#include "x86emu/emulator.h"
#include "x86emu/testing/fake_cpu.h"

namespace {

constexpr uint64_t kMmioGva = 0xffff'c900'0010'0000ull;
constexpr uint64_t kRamGva = 0xffff'8880'0020'0000ull;
constexpr uint64_t kUserGva = 0x0000'7fff'f000'0000ull;

constexpr std::array<uint64_t, 16> kSeeds = {
    0, 1, 2, 0x3f8, kMmioGva, kMmioGva + 0xff8, kRamGva, kRamGva + 0xffc,
    kUserGva, 0xffff'ffff'ffff'ffffull, 0x8000'0000'0000'0000ull, 0xfe00'0000,
    0x7fff'ffff, 0x1000, kMmioGva - 4, 5000,
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  constexpr size_t kHeader = 17;
  if (size < kHeader) return 0;
  const uint8_t mode = data[0];

  x86emu::testing::FakeCpu cpu;
  switch (mode & 3) {
    case 0:
    case 3:
      cpu.EnterLongMode();
      cpu.MapPage(kMmioGva, cpu.mmio_base, x86emu::testing::kPteP | x86emu::testing::kPteW);
      cpu.MapPage(kMmioGva - 0x1000, 0x20'0000);
      cpu.MapPage(kRamGva, 0x21'0000);
      cpu.MapPage(kRamGva + 0x1000, 0x22'0000, x86emu::testing::kPteP);
      cpu.MapPage(kUserGva, 0x23'0000,
                  x86emu::testing::kPteP | x86emu::testing::kPteW | x86emu::testing::kPteU);
      cpu.MapPage(0x4000'0000, 0x4000'0000,
                  x86emu::testing::kPteP | x86emu::testing::kPtePs, 2);  // 1 GiB
      if ((mode & 3) == 3) cpu.segments[static_cast<size_t>(x86emu::Segment::kSs)].attributes = 0xc0f3;
      break;
    case 1:
      cpu.cr.cr0 = x86emu::kCr0Pe;
      cpu.segments[static_cast<size_t>(x86emu::Segment::kCs)].attributes = 0xc09b;
      break;
    case 2:
      break;
  }
  if ((mode & 4) != 0) cpu.rflags_value |= x86emu::kFlagDf;
  if ((mode & 8) != 0) cpu.cr.cr0 &= ~x86emu::kCr0Wp;
  if ((mode & 16) != 0) cpu.cr.cr4 |= x86emu::kCr4Smap;
  cpu.segments[static_cast<size_t>(x86emu::Segment::kFs)].base = kMmioGva;
  for (size_t i = 0; i < x86emu::kGprCount; ++i) {
    const uint8_t seed = data[1 + i];
    cpu.gprs[i] = kSeeds[seed & 15] + (seed >> 4);
  }
  // Outside 64-bit mode RIP is a 32-bit EIP.
  cpu.rip_value = (mode & 3) == 1 || (mode & 3) == 2 ? 0x7000 : kRamGva + 0x100;

  std::vector<std::byte> bytes;
  for (size_t i = kHeader; i < size; ++i) bytes.push_back(static_cast<std::byte>(data[i]));
  const uint64_t rip = cpu.rip_value;
  auto completion = x86emu::Emulate(cpu, bytes);
  if (!completion.ok() || std::holds_alternative<x86emu::InjectException>(*completion)) {
    if (cpu.rip_value != rip) __builtin_trap();
    return 0;
  }
  const auto executed = std::get<x86emu::Executed>(*completion);
  const uint64_t advanced = cpu.rip_value - rip;
  if (executed.rip_advanced ? (advanced == 0 || advanced > 15 || advanced > bytes.size())
                            : advanced != 0)
    __builtin_trap();
  return 0;
}
