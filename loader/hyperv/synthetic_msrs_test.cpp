#include "hyperv/synthetic_msrs.h"

#include "base/fixed_point.h"
#include "base/le_bytes.h"

#include <doctest/doctest.h>

#include <memory>
#include <vector>

#include "hyperv/hypercall_page.h"
#include "kvm/guest_ram.h"

namespace {

using namespace loader::hyperv;
using loader::vsm::VtlView;

struct Fixture {
  // 1 MiB + 64 KiB of guest RAM at GPA 0, the top 64 KiB filled with 0xAB
  // (`raw`: the RAM itself), seen by VTL0 through `view`.
  kvm::GuestRam ram = kvm::GuestRam::Create(0x110000).value();
  std::unique_ptr<VtlView> view = VtlView::Create(0, ram, loader::vsm::OverlayPagesFor(2)).value();
  mem::GuestMemory raw = [this] {
    auto memory = mem::GuestMemory::Create(mem::Gpa{0}, ram.bytes()).value();
    CHECK(memory.Fill(mem::Gpa{0x100000}, 0x10000, std::byte{0xAB}).ok());
    return memory;
  }();
  uint64_t now = 0;
  HvConfig config{.vp_count = 2, .tsc_hz = 3'000'000'000, .apic_hz = 1'000'000'000};
  SyntheticMsrs msrs{1, config, *view, [this] { return now; }};

  std::byte Seen(uint64_t gpa) { return view->memory().ReadObj<std::byte>(mem::Gpa{gpa}).value(); }
  std::byte Ram(uint64_t gpa) { return raw.ReadObj<std::byte>(mem::Gpa{gpa}).value(); }
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
  auto ram = kvm::GuestRam::Create(0x1000).value();
  auto view = VtlView::Create(0, ram, loader::vsm::OverlayPagesFor(1)).value();
  SyntheticMsrs msrs(0, HvConfig{.vp_count = 1, .tsc_hz = 0, .apic_hz = 0}, *view,
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

TEST_CASE("synthetic MSRs: HYPERCALL places the page, needs a guest OS ID, locks") {
  Fixture f;
  const uint64_t gpa = 0x104000;
  // No guest OS ID yet: the enable bit does not stick, memory untouched.
  CHECK(f.msrs.Write(kMsrHypercall, gpa | kHypercallEnable).ok());
  CHECK(f.msrs.Read(kMsrHypercall).value() == gpa);
  CHECK_FALSE(f.msrs.hypercall_page_enabled());
  CHECK(f.Seen(gpa) == std::byte{0xAB});

  CHECK(f.msrs.Write(kMsrGuestOsId, 0x8100ull << 48).ok());
  CHECK(f.msrs.Read(kMsrGuestOsId).value() == 0x8100ull << 48);
  CHECK(f.msrs.Write(kMsrHypercall, gpa | kHypercallEnable).ok());
  CHECK(f.msrs.Read(kMsrHypercall).value() == (gpa | kHypercallEnable));
  CHECK(f.msrs.hypercall_page_enabled());
  // VTL0 sees the code page at the GPA; the RAM beneath is untouched.
  const auto page = HypercallPage();
  for (size_t i = 0; i < base::kPageSize; ++i) {
    REQUIRE(f.Seen(gpa + i) == page[i]);
    REQUIRE(f.Ram(gpa + i) == std::byte{0xAB});
  }

  CHECK_FALSE(f.msrs.Write(kMsrHypercall, gpa | 0x4 | kHypercallEnable));  // reserved bit
  CHECK(f.msrs.Read(kMsrHypercall).value() == (gpa | kHypercallEnable));
  // Outside RAM: accepted (an overlay shows nowhere there), RAM untouched.
  CHECK(f.msrs.Write(kMsrHypercall, 0x900000 | kHypercallEnable).ok());
  CHECK(f.Seen(gpa) == std::byte{0xAB});
  CHECK(f.msrs.Write(kMsrHypercall, gpa | kHypercallEnable).ok());

  // Clearing the guest OS ID disables the page: the RAM shows again.
  CHECK(f.msrs.Write(kMsrGuestOsId, 0).ok());
  CHECK_FALSE(f.msrs.hypercall_page_enabled());
  CHECK(f.Seen(gpa) == std::byte{0xAB});
  CHECK(f.msrs.Write(kMsrGuestOsId, 1).ok());

  CHECK(f.msrs.Write(kMsrHypercall, gpa | kHypercallEnable | kHypercallLocked).ok());
  CHECK_FALSE(f.msrs.Write(kMsrHypercall, 0));
  CHECK(f.msrs.Read(kMsrHypercall).value() == (gpa | kHypercallEnable | kHypercallLocked));
}

TEST_CASE("the reference TSC page turns the guest's TSC into 100 ns reference time") {
  // TLFS "Reference TSC Page": time = ((tsc * scale) >> 64) + offset.
  constexpr uint64_t kHz = 2'500'000'000;  // 2.5 GHz: 250 ticks per 100 ns
  const uint64_t tsc_now = 123'456'789'000;
  const uint64_t reference_now = 42'000'000;  // 4.2 s
  const auto header = ReferenceTscHeader(kHz, tsc_now, reference_now);
  uint32_t sequence = 0;
  uint64_t scale = 0, offset = 0;
  REQUIRE(base::LoadLe(std::span<const std::byte>(header), 0, sequence));
  REQUIRE(base::LoadLe(std::span<const std::byte>(header), 8, scale));
  REQUIRE(base::LoadLe(std::span<const std::byte>(header), 16, offset));
  CHECK(sequence != 0);
  CHECK(sequence != 0xFFFFFFFFu);
  const auto time_at = [&](uint64_t tsc) {
    return base::MulHigh64(tsc, scale) + offset;
  };
  CHECK(time_at(tsc_now) == reference_now);
  // One second of TSC later, 10^7 units later (to within one unit of the
  // fixed-point rounding).
  const uint64_t later = time_at(tsc_now + kHz);
  CHECK(later >= reference_now + 10'000'000 - 1);
  CHECK(later <= reference_now + 10'000'000);
}

TEST_CASE("synthetic MSRs: REFERENCE_TSC with the guest's TSC known places a valid page") {
  Fixture f;
  f.msrs.SetGuestTsc([] { return std::optional<uint64_t>(1'000'000); });
  CHECK(f.msrs.Write(kMsrReferenceTsc, 0x102000 | 1).ok());
  CHECK(f.Seen(0x102000) != std::byte{0});  // TscSequence: valid
  CHECK(f.Ram(0x102000) == std::byte{0xAB});  // an overlay: RAM untouched
}

TEST_CASE("synthetic MSRs: REFERENCE_TSC enable writes an invalid (sequence 0) page") {
  Fixture f;
  CHECK(f.msrs.Write(kMsrReferenceTsc, 0x102000 | 1).ok());
  for (size_t i = 0; i < 24; ++i) {
    CHECK(f.Seen(0x102000 + i) == std::byte{0});
    CHECK(f.Ram(0x102000 + i) == std::byte{0xAB});
  }
  CHECK(f.msrs.Read(kMsrReferenceTsc).value() == (0x102000 | 1));
  CHECK_FALSE(f.msrs.Write(kMsrReferenceTsc, 0x102002));
}

TEST_CASE("synthetic MSRs: a VTL aiming its overlays at another VTL's pages writes nothing there") {
  // Finding 1 of the December 2026 security review: VTL0 pointed
  // HYPERCALL, REFERENCE_TSC, SIMP and SIEFP at VTL2's pages and the loader
  // wrote hypercall code, zeros and messages into VTL2. VTL2's view of the
  // same RAM must not change, whatever VTL0 names.
  Fixture f;
  auto vtl2 = VtlView::Create(2, f.ram, loader::vsm::OverlayPagesFor(2)).value();
  const uint64_t target = 0x100000;  // "VTL2's" page
  CHECK(f.msrs.Write(kMsrGuestOsId, 1).ok());
  CHECK(f.msrs.Write(kMsrHypercall, target | kHypercallEnable).ok());
  CHECK(f.msrs.Write(kMsrReferenceTsc, target | 1).ok());
  CHECK(f.msrs.Write(kMsrScontrol, 1).ok());
  CHECK(f.msrs.Write(kMsrSimp, (target + 0x1000) | 1).ok());
  CHECK(f.msrs.Write(kMsrSiefp, (target + 0x2000) | 1).ok());
  CHECK(f.msrs.Write(kMsrSint0 + 2, 0xF3).ok());
  std::array<std::byte, hv::kMessageBytes> message{};
  message[0] = std::byte{1};
  CHECK(f.msrs.synic().Post(2, message).status == hv::Status::kSuccess);
  CHECK(f.msrs.synic().Signal(2, 3).status == hv::Status::kSuccess);
  for (uint64_t offset = 0; offset < 0x3000; ++offset) {
    REQUIRE(vtl2->memory().ReadObj<std::byte>(mem::Gpa{target + offset}).value() ==
            std::byte{0xAB});
    REQUIRE(f.Ram(target + offset) == std::byte{0xAB});
  }
}
