#include "x86emu/page_walk.h"

#include <doctest/doctest.h>

#include <cstdint>

#include "x86emu/testing/fake_cpu.h"

namespace x86emu {
namespace {

using testing::FakeCpu;
using testing::kPteNx;
using testing::kPteP;
using testing::kPtePs;
using testing::kPteU;
using testing::kPteW;

Translation Walk(FakeCpu& cpu, uint64_t gva, Access access, uint8_t cpl = 0) {
  PagingState state = PagingState::FromCpu(cpu);
  state.cpl = cpl;
  auto translation = TranslateGva(cpu, state, Gva{gva}, access);
  REQUIRE(translation.ok());
  return translation.value();
}

uint64_t GpaOf(const Translation& translation) {
  REQUIRE(std::holds_alternative<Gpa>(translation));
  return mem::ToU64(std::get<Gpa>(translation));
}

uint32_t FaultOf(const Translation& translation) {
  REQUIRE(std::holds_alternative<PageFault>(translation));
  return std::get<PageFault>(translation).error_code;
}

TEST_CASE("x86emu page walk: 4 KiB, 2 MiB and 1 GiB pages") {
  FakeCpu cpu;
  cpu.EnterLongMode();
  cpu.MapPage(0xffff'8000'0000'3000ull, 0x7654'3000);
  cpu.MapPage(0x0000'0040'0020'0000ull, 0x8000'0000, kPteP | kPteW | kPtePs, 1);
  cpu.MapPage(0x0000'0080'4000'0000ull, 0x1'4000'0000, kPteP | kPteW | kPtePs, 2);
  CHECK(GpaOf(Walk(cpu, 0xffff'8000'0000'3abcull, Access::kRead)) == 0x7654'3abc);
  CHECK(GpaOf(Walk(cpu, 0x0000'0040'002f'f123ull, Access::kWrite)) == 0x800f'f123);
  CHECK(GpaOf(Walk(cpu, 0x0000'0080'7fff'fff8ull, Access::kRead)) == 0x1'7fff'fff8);
  CHECK(FaultOf(Walk(cpu, 0xffff'8000'0000'4000ull, Access::kRead)) == 0);
  CHECK(FaultOf(Walk(cpu, 0xffff'8000'0000'4000ull, Access::kWrite, 3)) == (kPfWrite | kPfUser));
}

TEST_CASE("x86emu page walk: write, user, NX and SMAP checks") {
  FakeCpu cpu;
  cpu.EnterLongMode();
  cpu.MapPage(0x1000, 0x10'1000, kPteP);                   // supervisor, read-only
  cpu.MapPage(0x2000, 0x10'2000, kPteP | kPteW | kPteU);   // user data
  cpu.MapPage(0x3000, 0x10'3000, kPteP | kPteW | kPteNx);  // no-execute

  CHECK(FaultOf(Walk(cpu, 0x1000, Access::kWrite)) == (kPfPresent | kPfWrite));
  CHECK(FaultOf(Walk(cpu, 0x1000, Access::kRead, 3)) == (kPfPresent | kPfUser));
  CHECK(GpaOf(Walk(cpu, 0x2000, Access::kWrite, 3)) == 0x10'2000);
  CHECK(FaultOf(Walk(cpu, 0x3000, Access::kExecute)) == (kPfPresent | kPfFetch));
  CHECK(GpaOf(Walk(cpu, 0x3000, Access::kWrite)) == 0x10'3000);

  // CR0.WP=0: the kernel may write read-only pages (SDM Vol 3 §4.6.1).
  cpu.cr.cr0 &= ~kCr0Wp;
  CHECK(GpaOf(Walk(cpu, 0x1000, Access::kWrite)) == 0x10'1000);

  // SMAP: a supervisor data access to a user page faults unless RFLAGS.AC.
  cpu.cr.cr4 |= kCr4Smap;
  CHECK(FaultOf(Walk(cpu, 0x2000, Access::kRead)) == kPfPresent);
  cpu.rflags_value |= kFlagAc;
  CHECK(GpaOf(Walk(cpu, 0x2000, Access::kRead)) == 0x10'2000);

  // NX without EFER.NXE is a reserved bit.
  cpu.cr.efer &= ~kEferNxe;
  CHECK(FaultOf(Walk(cpu, 0x3000, Access::kRead)) == (kPfPresent | kPfReserved));
}

TEST_CASE("x86emu page walk: reserved bits in large pages and the PML4") {
  FakeCpu cpu;
  cpu.EnterLongMode();
  // A 2 MiB page whose address has bit 13 set.
  cpu.MapPage(0x20'0000, 0x40'2000, kPteP | kPtePs, 1);
  CHECK(FaultOf(Walk(cpu, 0x20'0000, Access::kRead)) == (kPfPresent | kPfReserved));
  // PS in a PML4E.
  cpu.WriteRamLe(cpu.cr.cr3 + 8 * 2, 0x50'0000 | kPteP | kPtePs);
  CHECK(FaultOf(Walk(cpu, 0x0000'0100'0000'0000ull, Access::kRead)) ==
        (kPfPresent | kPfReserved));
}

TEST_CASE("x86emu page walk: PAE, 32-bit paging with PSE, paging off") {
  FakeCpu cpu;
  cpu.cr.cr0 = kCr0Pe | kCr0Pg | kCr0Wp;
  cpu.cr.cr4 = kCr4Pae;
  cpu.cr.cr3 = 0x1000;
  // PDPTE 3 -> PD at 0x2000; PDE 1 -> PT at 0x3000; PTE 5 -> 0xabcd000.
  cpu.WriteRamLe(0x1000 + 3 * 8, 0x2000 | kPteP);
  cpu.WriteRamLe(0x2000 + 1 * 8, 0x3000 | kPteP | kPteW);
  cpu.WriteRamLe(0x3000 + 5 * 8, 0xabcd000 | kPteP | kPteW);
  CHECK(GpaOf(Walk(cpu, 0xc020'5123, Access::kWrite)) == 0xabcd123);
  CHECK(FaultOf(Walk(cpu, 0x8000'0000, Access::kRead)) == 0);  // PDPTE 2 absent

  // 32-bit paging: a 4 MiB page at PDE 0x300, and a 4 KiB one at PDE 1.
  cpu.cr.cr4 = kCr4Pse;
  cpu.cr.cr3 = 0x5000;
  cpu.WriteRamLe(0x5000 + 0x300 * 4, 0x0840'0000 | kPteP | kPteW | kPtePs, 4);
  cpu.WriteRamLe(0x5000 + 1 * 4, 0x6000 | kPteP | kPteW, 4);
  cpu.WriteRamLe(0x6000 + 2 * 4, 0xfee0'0000 | kPteP | kPteW, 4);
  CHECK(GpaOf(Walk(cpu, 0xc012'3456, Access::kRead)) == 0x0852'3456);
  CHECK(GpaOf(Walk(cpu, 0x0040'2010, Access::kWrite)) == 0xfee0'0010);

  cpu.cr.cr0 = kCr0Pe;
  CHECK(GpaOf(Walk(cpu, 0x1234'5678, Access::kWrite)) == 0x1234'5678);
}

TEST_CASE("x86emu page walk: 5-level paging is an error, not a fault") {
  FakeCpu cpu;
  cpu.EnterLongMode();
  cpu.cr.cr4 |= kCr4La57;
  auto translation = TranslateGva(cpu, PagingState::FromCpu(cpu), Gva{0x1000}, Access::kRead);
  CHECK_FALSE(translation.ok());
}

}  // namespace
}  // namespace x86emu
