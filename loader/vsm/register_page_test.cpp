#include "vsm/register_page.h"

#include <doctest/doctest.h>

#include <cstring>

namespace {

kvm_regs SampleRegs() {
  kvm_regs regs{};
  regs.rax = 0xA;
  regs.rcx = 0xC;
  regs.rsp = 0x7FFF0000;
  regs.r15 = 0xF15;
  regs.rip = 0xFFFFFFFF81001234;
  regs.rflags = 0x246;
  return regs;
}

}  // namespace

TEST_CASE("register page: shows VTL0's registers in Hyper-V's layout") {
  kvm_regs regs = SampleRegs();
  kvm_sregs sregs{};
  sregs.cr0 = 0x80050033;
  sregs.cr3 = 0x1234000;
  sregs.cr4 = 0x3406F0;
  sregs.efer = 0xD01;
  sregs.ss.selector = 0x18;
  sregs.cs.selector = 0x10;
  sregs.cs.base = 0;
  sregs.cs.limit = 0xFFFFFFFF;
  sregs.cs.type = 0xB;
  sregs.cs.s = 1;
  sregs.cs.present = 1;
  sregs.cs.l = 1;
  sregs.cs.g = 1;
  const hv::VpRegisterPage page = loader::vsm::ShowRegisters(regs, sregs);
  // The raw bytes at the offsets hvhdk.h gives (version 1, valid, clean).
  std::array<std::byte, sizeof page> bytes{};
  std::memcpy(bytes.data(), &page, sizeof page);
  auto u64_at = [&](size_t offset) {
    uint64_t v = 0;
    std::memcpy(&v, bytes.data() + offset, 8);
    return v;
  };
  CHECK(std::to_integer<int>(bytes[0]) == 1);  // version
  CHECK(std::to_integer<int>(bytes[2]) == 1);  // is_valid
  const uint64_t dirty = u64_at(0) >> 32;
  CHECK(dirty == 0);
  CHECK(u64_at(8) == 0xA);                     // RAX
  CHECK(u64_at(16) == 0xC);                    // RCX
  CHECK(u64_at(8 + 4 * 8) == 0x7FFF0000);      // RSP
  CHECK(u64_at(8 + 15 * 8) == 0xF15);          // R15
  CHECK(u64_at(136) == regs.rip);
  CHECK(u64_at(144) == 0x246);
  CHECK(page.segments[hv::register_page_segment::kCs].selector == 0x10);
  CHECK(page.segments[hv::register_page_segment::kCs].attributes ==
        (0xB | 1 << 4 | 1 << 7 | 1 << 13 | 1 << 15));
  CHECK(page.segments[hv::register_page_segment::kSs].selector == 0x18);
  CHECK(u64_at(352) == 0x80050033);  // CR0
  CHECK(u64_at(360) == 0x1234000);   // CR3
  CHECK(u64_at(368) == 0x3406F0);    // CR4
  CHECK(u64_at(384) == 0xD01);       // EFER
}

TEST_CASE("register page: only the dirty classes go back") {
  const kvm_regs before = SampleRegs();
  hv::VpRegisterPage page = loader::vsm::ShowRegisters(before, kvm_sregs{});
  page.rip += 2;
  page.gprs[0] = 0x99;
  page.rflags = 0;

  kvm_regs regs = before;
  CHECK_FALSE(loader::vsm::TakeDirtyRegisters(page, regs));  // nothing marked
  CHECK(regs.rip == before.rip);

  page.dirty = hv::register_class::kIp;
  CHECK(loader::vsm::TakeDirtyRegisters(page, regs));
  CHECK(regs.rip == before.rip + 2);
  CHECK(regs.rax == 0xA);  // GENERAL not marked

  page.dirty |= hv::register_class::kGeneral | hv::register_class::kFlags;
  CHECK(loader::vsm::TakeDirtyRegisters(page, regs));
  CHECK(regs.rax == 0x99);
  CHECK(regs.rsp == before.rsp);
  CHECK(regs.rflags == 2);  // bit 1 stays set
}

TEST_CASE("register page: a page that is not valid or not version 1 changes nothing") {
  const kvm_regs before = SampleRegs();
  hv::VpRegisterPage page = loader::vsm::ShowRegisters(before, kvm_sregs{});
  page.rip = 0;
  page.dirty = ~0u;
  kvm_regs regs = before;
  page.is_valid = 0;
  CHECK_FALSE(loader::vsm::TakeDirtyRegisters(page, regs));
  page.is_valid = 1;
  page.version = 2;
  CHECK_FALSE(loader::vsm::TakeDirtyRegisters(page, regs));
  CHECK(regs.rip == before.rip);
}
