// Fuzz target: a VTL0 guest writing and reading the synthetic MSRs of two
// VPs (review finding 1: overlay pages aimed anywhere). Each action is 10
// bytes: op, msr selector, 8-byte value. op % 4: 0 write, 1 read, 2 the
// hypervisor posts a message to the VP's SINT (selector % 16), 3 it
// signals an event flag. Overlay GPAs are steered into a small RAM so
// they often land on real pages. Invariants: no crash or sanitizer
// report, and the RAM itself (what another VTL would see) never changes:
// every overlay write lands in overlay memory.
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>

#include "base/fuzz_target.h"
#include "hyperv/synthetic_msrs.h"
#include "kvm/guest_ram.h"
#include "vsm/vtl_view.h"

namespace {

constexpr uint64_t kRamBytes = 0x10000;
constexpr uint32_t kMsrs[] = {0x40000000, 0x40000001, 0x40000002, 0x40000020, 0x40000021,
                              0x40000022, 0x40000023, 0x40000073, 0x40000080, 0x40000081,
                              0x40000082, 0x40000083, 0x40000084, 0x40000090, 0x40000092,
                              0x4000009F, 0x40000118, 0x400000FF};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static kvm::GuestRam ram = kvm::GuestRam::Create(kRamBytes).value();
  static auto raw = mem::GuestMemory::Create(mem::Gpa{0}, ram.bytes()).value();
  static bool filled = [] { return raw.Fill(mem::Gpa{0}, kRamBytes, std::byte{0xA5}).ok(); }();
  (void)filled;
  // A fresh view (and overlays) per input; the RAM is shared and checked.
  auto view = loader::vsm::VtlView::Create(0, ram, loader::vsm::OverlayPagesFor(2)).value();
  const loader::hyperv::HvConfig config{.vp_count = 2, .tsc_hz = 1'000'000'000, .apic_hz = 1'000'000'000};
  auto partition = std::make_shared<loader::hyperv::PartitionMsrs>();
  std::array<std::unique_ptr<loader::hyperv::SyntheticMsrs>, 2> vps;
  for (uint32_t vp = 0; vp < 2; ++vp)
    vps[vp] = std::make_unique<loader::hyperv::SyntheticMsrs>(vp, config, *view,
                                                          [] { return uint64_t{0}; }, partition);
  for (size_t at = 0; at + 10 <= size; at += 10) {
    const uint8_t op = data[at];
    const uint8_t selector = data[at + 1];
    uint64_t value = 0;
    std::memcpy(&value, data + at + 2, sizeof value);
    loader::hyperv::SyntheticMsrs& msrs = *vps[selector >> 7];
    const uint32_t msr = kMsrs[selector % std::size(kMsrs)];
    // GPAs mostly inside RAM (low 16 bits), sometimes anywhere.
    if ((op & 0x80) == 0) value &= 0xFFFF | 0xFFF;
    switch (op % 4) {
      case 0:
        (void)msrs.Write(msr, value);
        (void)msrs.TakeDueVectors();
        break;
      case 1:
        (void)msrs.Read(msr);
        break;
      case 2: {
        std::array<std::byte, hv::kMessageBytes> message{};
        message[0] = std::byte{1};
        (void)msrs.synic().Post(selector % 16, message);
        break;
      }
      case 3:
        (void)msrs.synic().Signal(selector % 16, static_cast<uint32_t>(value % 2048));
        break;
    }
  }
  for (uint64_t offset = 0; offset < kRamBytes; offset += 8)
    if (raw.ReadObj<uint64_t>(mem::Gpa{offset}).value() != 0xA5A5A5A5A5A5A5A5u) __builtin_trap();
  return 0;
}
