#include "hv/synthetic_msrs.h"

#include <doctest/doctest.h>

#include <vector>

#include "hv/hypercall_page.h"

namespace {

using namespace loader::hv;

struct Fixture {
  // 64 KiB of guest RAM at GPA 0x100000.
  std::vector<std::byte> ram = std::vector<std::byte>(0x10000, std::byte{0xAB});
  mem::GuestMemory memory =
      mem::GuestMemory::Create(mem::Gpa{0x100000}, ram).value();
  uint64_t now = 0;
  HvConfig config{.vp_count = 2, .tsc_hz = 3'000'000'000, .apic_hz = 1'000'000'000};
  SyntheticMsrs msrs{1, config, memory, [this] { return now; }};
};

}  // namespace

TEST_CASE("synthetic MSRs: read-only ones, reset values, unknown ones #GP") {
  Fixture f;
  CHECK(f.msrs.Read(kMsrVpIndex).value() == 1);
  CHECK_FALSE(f.msrs.Write(kMsrVpIndex, 0));
  CHECK(f.msrs.Read(kMsrSversion).value() == 1);
  CHECK_FALSE(f.msrs.Write(kMsrSversion, 2));
  CHECK(f.msrs.Read(kMsrTscFrequency).value() == 3'000'000'000);
  CHECK(f.msrs.Read(kMsrApicFrequency).value() == 1'000'000'000);
  CHECK_FALSE(f.msrs.Write(kMsrTscFrequency, 1));
  for (uint32_t i = kMsrSint0; i <= kMsrSint15; ++i) CHECK(f.msrs.Read(i).value() == kSintReset);
  CHECK(f.msrs.Write(kMsrSint0 + 2, 0xF3).ok());
  CHECK(f.msrs.Read(kMsrSint0 + 2).value() == 0xF3);
  CHECK(f.msrs.Read(kMsrScontrol).value() == 0);
  CHECK(f.msrs.Read(kMsrSimp).value() == 0);
  CHECK(f.msrs.Read(kMsrSiefp).value() == 0);
  CHECK(f.msrs.Write(kMsrEom, 0).ok());
  CHECK(f.msrs.Write(kMsrVpAssistPage, 0x101001).ok());
  CHECK(f.msrs.Read(kMsrVpAssistPage).value() == 0x101001);
  CHECK_FALSE(f.msrs.Read(0x40000003));
  CHECK_FALSE(f.msrs.Write(0x400001FF, 0));
  CHECK_FALSE(f.msrs.Read(0x40000070));  // APIC MSRs: hint 3 not offered
}

TEST_CASE("synthetic MSRs: frequency MSRs only when advertised") {
  std::vector<std::byte> ram(0x1000);
  auto memory = mem::GuestMemory::Create(mem::Gpa{0}, ram).value();
  SyntheticMsrs msrs(0, HvConfig{.vp_count = 1, .tsc_hz = 0, .apic_hz = 0}, memory,
                     [] { return uint64_t{0}; });
  CHECK_FALSE(msrs.Read(kMsrTscFrequency));
  CHECK_FALSE(msrs.Read(kMsrApicFrequency));
}

TEST_CASE("synthetic MSRs: TIME_REF_COUNT follows the partition clock") {
  Fixture f;
  f.now = 12345;
  CHECK(f.msrs.Read(kMsrTimeRefCount).value() == 12345);
  f.now = 99999;
  CHECK(f.msrs.Read(kMsrTimeRefCount).value() == 99999);
  CHECK_FALSE(f.msrs.Write(kMsrTimeRefCount, 0));
}

TEST_CASE("synthetic MSRs: HYPERCALL writes the page, needs a guest OS ID, locks") {
  Fixture f;
  const uint64_t gpa = 0x104000;
  // No guest OS ID yet: the enable bit does not stick, memory untouched.
  CHECK(f.msrs.Write(kMsrHypercall, gpa | kHypercallEnable).ok());
  CHECK(f.msrs.Read(kMsrHypercall).value() == gpa);
  CHECK_FALSE(f.msrs.hypercall_page_enabled());
  CHECK(f.ram[0x4000] == std::byte{0xAB});

  CHECK(f.msrs.Write(kMsrGuestOsId, 0x8100ull << 48).ok());
  CHECK(f.msrs.Read(kMsrGuestOsId).value() == 0x8100ull << 48);
  CHECK(f.msrs.Write(kMsrHypercall, gpa | kHypercallEnable).ok());
  CHECK(f.msrs.Read(kMsrHypercall).value() == (gpa | kHypercallEnable));
  CHECK(f.msrs.hypercall_page_enabled());
  const auto page = HypercallPage();
  for (size_t i = 0; i < kPageSize; ++i) REQUIRE(f.ram[0x4000 + i] == page[i]);

  CHECK_FALSE(f.msrs.Write(kMsrHypercall, gpa | 0x4 | kHypercallEnable));  // reserved bit
  CHECK_FALSE(f.msrs.Write(kMsrHypercall, 0x900000 | kHypercallEnable));   // outside RAM
  CHECK(f.msrs.Read(kMsrHypercall).value() == (gpa | kHypercallEnable));

  // Clearing the guest OS ID disables the page.
  CHECK(f.msrs.Write(kMsrGuestOsId, 0).ok());
  CHECK_FALSE(f.msrs.hypercall_page_enabled());
  CHECK(f.msrs.Write(kMsrGuestOsId, 1).ok());

  CHECK(f.msrs.Write(kMsrHypercall, gpa | kHypercallEnable | kHypercallLocked).ok());
  CHECK_FALSE(f.msrs.Write(kMsrHypercall, 0));
  CHECK(f.msrs.Read(kMsrHypercall).value() == (gpa | kHypercallEnable | kHypercallLocked));
}

TEST_CASE("synthetic MSRs: REFERENCE_TSC enable writes an invalid (sequence 0) page") {
  Fixture f;
  CHECK(f.msrs.Write(kMsrReferenceTsc, 0x102000 | 1).ok());
  for (size_t i = 0; i < 24; ++i) CHECK(f.ram[0x2000 + i] == std::byte{0});
  CHECK(f.msrs.Read(kMsrReferenceTsc).value() == (0x102000 | 1));
  CHECK_FALSE(f.msrs.Write(kMsrReferenceTsc, 0x102002));
}
