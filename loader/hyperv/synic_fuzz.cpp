// Fuzz target: a SynIC driven by a guest that programs its registers
// (SIMP/SIEFP anywhere, inside or outside RAM), frees message slots at
// will and EOMs, while the hypervisor posts messages and signals events.
// Each action is 4 bytes: op, a, b, c.
//   op % 6: 0 write a SynIC register (SCONTROL, SIMP, SIEFP, SINTx) with a
//           value built from a/b/c; 1 post a message of type b+1 to SINT
//           a; 2 signal flag b|c<<8 of SINT a; 3 EOM; 4 the guest frees
//           slot a; 5 the guest scribbles byte c over SIMP/SIEFP byte a|b<<8.
// Invariants: no crash or sanitizer report; statuses are the documented
// ones; an interrupt is only ever due for an unmasked, non-polling SINT.
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include <memory>

#include "base/fuzz_target.h"
#include "hyperv/synic.h"
#include "kvm/guest_ram.h"
#include "vsm/vtl_view.h"

namespace {

constexpr uint64_t kRamBase = 0x100000;
constexpr uint64_t kRamBytes = 0x104000;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // One RAM and view for every input (memfds are not free); the pages the
  // fuzzer uses are cleared first.
  static kvm::GuestRam ram = kvm::GuestRam::Create(kRamBytes).value();
  static std::unique_ptr<loader::vsm::VtlView> view =
      loader::vsm::VtlView::Create(0, ram, loader::vsm::OverlayPagesFor(1)).value();
  mem::GuestMemory* memory = &view->memory();
  loader::vsm::OverlayPage& simp = view->overlay(loader::vsm::SimpOverlay(0));
  loader::vsm::OverlayPage& siefp = view->overlay(loader::vsm::SiefpOverlay(0));
  (void)simp.Place(std::nullopt);
  (void)siefp.Place(std::nullopt);
  (void)simp.contents().Fill(mem::Gpa{0}, 4096, std::byte{0});
  (void)siefp.contents().Fill(mem::Gpa{0}, 4096, std::byte{0});
  (void)memory->Fill(mem::Gpa{kRamBase}, kRamBytes - kRamBase, std::byte{0});
  loader::hyperv::Synic synic(simp, siefp);
  for (size_t at = 0; at + 4 <= size; at += 4) {
    const uint8_t op = data[at], a = data[at + 1], b = data[at + 2], c = data[at + 3];
    switch (op % 6) {
      case 0: {
        const uint32_t msr = a % 4 == 0   ? 0x40000080
                             : a % 4 == 1 ? 0x40000082
                             : a % 4 == 2 ? 0x40000083
                                          : 0x40000090 + (a >> 2) % 16;
        // Pages in RAM (mostly) or anywhere; flag and vector bits from c.
        const uint64_t page = (b & 0x80) != 0 ? uint64_t{b} << 24 : kRamBase + (b % 4) * 0x1000;
        const uint64_t value = msr >= 0x40000090 ? (uint64_t{c} | (uint64_t{b} & 7) << 16) : page | (c & 1);
        (void)synic.WriteRegister(msr, value);
        break;
      }
      case 1: {
        std::array<std::byte, hv::kMessageBytes> message{};
        const uint32_t type = uint32_t{b} + 1;
        std::memcpy(message.data(), &type, sizeof type);
        message[4] = std::byte{c};
        const uint32_t sint = a % 20u;  // 16-19: out of range, refused
        const auto outcome = synic.Post(sint, message);
        if (outcome.status != hv::Status::kSuccess &&
            outcome.status != hv::Status::kInvalidParameter &&
            outcome.status != hv::Status::kInvalidSynicState &&
            outcome.status != hv::Status::kInsufficientBuffers)
          __builtin_trap();
        if (outcome.vector && (sint >= 16 || hv::SintMasked(synic.sint(sint)) ||
                               hv::SintPolling(synic.sint(sint))))
          __builtin_trap();
        break;
      }
      case 2: {
        const uint32_t sint = a % 20u;
        const auto outcome = synic.Signal(sint, uint32_t{b} | uint32_t{c} << 8);
        if (outcome.vector && (sint >= 16 || hv::SintMasked(synic.sint(sint)) ||
                               hv::SintPolling(synic.sint(sint))))
          __builtin_trap();
        break;
      }
      case 3:
        (void)synic.EndOfMessage();
        break;
      case 4:
        (void)memory->StoreRelease32(mem::Gpa{kRamBase + (a % 4) * 0x1000 + (b % 16) * 256}, 0);
        break;
      case 5:
        (void)memory->WriteObj(mem::Gpa{kRamBase + (size_t{a} | size_t{b} << 8) % 0x4000}, c);
        break;
    }
  }
  return 0;
}
