#include "vfio/bar_registers.h"

#include <doctest/doctest.h>

#include <array>
#include <cstddef>
#include <cstdint>

#include "base/le_bytes.h"

namespace {

TEST_CASE("hcl vfio BarRegisters: 32-bit accesses at BAR offsets, 64-bit as low then high") {
  alignas(8) std::array<std::byte, 0x2000> bar{};
  hcl::vfio::BarRegisters registers(bar);
  CHECK(registers.bar_bytes() == 0x2000);
  REQUIRE(base::StoreLe(std::span(bar), 0, uint64_t{0x0000'0020'FF01'003F}));  // a CAP value
  CHECK(registers.Read32(0) == 0xFF01'003F);
  CHECK(registers.Read32(4) == 0x0000'0020);
  CHECK(registers.Read64(0) == 0x0000'0020'FF01'003F);
  registers.Write32(0x1000, 0x1234'5678);  // SQ0 tail doorbell
  uint32_t doorbell = 0;
  REQUIRE(base::LoadLe(std::span<const std::byte>(bar), 0x1000, doorbell));
  CHECK(doorbell == 0x1234'5678);
}

TEST_CASE("hcl vfio BarRegisters: offsets outside the BAR or unaligned never touch memory") {
  alignas(8) std::array<std::byte, 0x40> memory{};
  // The BAR is the middle 16 bytes; the guard bytes around it must stay 0.
  hcl::vfio::BarRegisters registers(std::span<std::byte>(memory).subspan(0x10, 0x10));
  CHECK(registers.Read32(0x10) == 0xFFFFFFFF);
  CHECK(registers.Read32(0x0E) == 0xFFFFFFFF);
  CHECK(registers.Read32(2) == 0xFFFFFFFF);
  CHECK(registers.Read64(0x0C) == 0xFFFFFFFF'00000000);  // low in the BAR (zero), high outside
  CHECK(registers.Read64(~uint64_t{0}) == ~uint64_t{0});
  registers.Write32(0x10, 0xAAAAAAAA);
  registers.Write32(~uint64_t{0} - 1, 0xAAAAAAAA);
  registers.Write32(1, 0xAAAAAAAA);
  for (std::byte b : memory) CHECK(b == std::byte{0});
}

TEST_CASE("hcl vfio ManaBar: 64-bit registers and doorbells are one 8-byte access; outside, nothing") {
  alignas(8) std::array<std::byte, 0x60> memory{};
  // The BAR is 0x40 bytes in the middle; the guard bytes must stay 0.
  hcl::vfio::ManaBar bar(std::span<std::byte>(memory).subspan(0x10, 0x40));
  CHECK(bar.bar_bytes() == 0x40);
  bar.Write64(0x08, 0x1122'3344'5566'7788);  // a doorbell: SQ id | tail << 32
  CHECK(bar.Read64(0x08) == 0x1122'3344'5566'7788);
  CHECK(bar.Read32(0x08) == 0x5566'7788);
  CHECK(bar.Read32(0x0C) == 0x1122'3344);
  bar.Write32(0x20, 0xCAFE'F00D);
  CHECK(bar.Read64(0x20) == 0xCAFE'F00D);
  // Unaligned, straddling the end, past it: all-ones, and no store lands.
  CHECK(bar.Read64(0x04) == ~uint64_t{0});
  CHECK(bar.Read64(0x3C) == ~uint64_t{0});
  CHECK(bar.Read64(0x40) == ~uint64_t{0});
  CHECK(bar.Read32(~uint64_t{0} - 1) == 0xFFFFFFFF);
  bar.Write64(0x3C, ~uint64_t{0});
  bar.Write64(0x40, ~uint64_t{0});
  bar.Write64(~uint64_t{0} - 3, ~uint64_t{0});
  bar.Write32(0x40, 0xFFFFFFFF);
  for (size_t i = 0; i < 0x10; ++i) CHECK(memory[i] == std::byte{0});
  for (size_t i = 0x50; i < memory.size(); ++i) CHECK(memory[i] == std::byte{0});
}

}  // namespace
