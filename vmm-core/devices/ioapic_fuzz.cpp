// Fuzz target: drive an IoApic with a sequence of typed actions, as guest
// MMIO accesses, device lines and LAPIC EOIs would arrive. Each action is
// 6 bytes: op, arg, then a little-endian dword.
//   op bits 0-2: 0 MMIO read, 1 MMIO write, 2 SetIrq, 3 EndOfInterrupt,
//                4 select-and-write register (IOREGSEL = arg, IOWIN = dword),
//                5 EOI register write, 6 odd-sized read, 7 odd-sized write
//   op bits 3-7: MMIO offset selector (IOREGSEL, IOWIN, EOI or arbitrary)
// Invariants: no crash or sanitizer report; a redirection entry never
// reads back reserved bits (55:17) or delivery status; every delivery
// carries a defined delivery mode and an 8-bit destination.
#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

#include "base/fuzz_target.h"
#include "devices/ioapic.h"

namespace {

class CheckingSink final : public devices::InterruptSink {
 public:
  void Deliver(const devices::InterruptMessage& message) override {
    const auto mode = static_cast<uint8_t>(message.delivery_mode);
    if (mode == 3 || mode == 6 || mode > 7) __builtin_trap();  // reserved: never sent
    if (message.destination > 0xFF) __builtin_trap();
  }
};

uint64_t Offset(uint8_t op, uint8_t arg) {
  switch (op >> 3 & 3) {
    case 0: return devices::IoApic::kIoRegSel;
    case 1: return devices::IoApic::kIoWin;
    case 2: return devices::IoApic::kEoi;
    default: return uint64_t{arg} << (op >> 5);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  CheckingSink sink;
  devices::IoApic ioapic(1, sink);
  constexpr size_t kActionBytes = 6;
  for (size_t at = 0; size - at >= kActionBytes && at < size; at += kActionBytes) {
    const uint8_t op = data[at];
    const uint8_t arg = data[at + 1];
    const uint32_t value = uint32_t{data[at + 2]} | uint32_t{data[at + 3]} << 8 |
                           uint32_t{data[at + 4]} << 16 | uint32_t{data[at + 5]} << 24;
    std::array<std::byte, 4> dword = {std::byte(data[at + 2]), std::byte(data[at + 3]),
                                      std::byte(data[at + 4]), std::byte(data[at + 5])};
    std::array<std::byte, 8> scratch{};
    switch (op & 7) {
      case 0:
        (void)ioapic.MmioRead(Offset(op, arg), dword);
        break;
      case 1:
        (void)ioapic.MmioWrite(Offset(op, arg), dword);
        break;
      case 2:
        ioapic.SetIrq(arg % 32u, (value & 1) != 0);
        break;
      case 3:
        ioapic.EndOfInterrupt(arg);
        break;
      case 4: {
        const std::array<std::byte, 4> select = {std::byte(arg), std::byte(0), std::byte(0),
                                                 std::byte(0)};
        (void)ioapic.MmioWrite(devices::IoApic::kIoRegSel, select);
        (void)ioapic.MmioWrite(devices::IoApic::kIoWin, dword);
        break;
      }
      case 5:
        (void)ioapic.MmioWrite(devices::IoApic::kEoi, dword);
        break;
      case 6:
        (void)ioapic.MmioRead(Offset(op, arg), std::span(scratch).first(arg % 9u));
        break;
      case 7:
        (void)ioapic.MmioWrite(Offset(op, arg), std::span<const std::byte>(scratch).first(arg % 9u));
        break;
    }
  }
  for (uint32_t pin = 0; pin < devices::IoApic::kPinCount; ++pin) {
    const uint64_t entry = ioapic.redirection_entry(pin);
    constexpr uint64_t kReserved = ((uint64_t{1} << 56) - 1) & ~((uint64_t{1} << 17) - 1);
    if ((entry & kReserved) != 0 || (entry & (uint64_t{1} << 12)) != 0) __builtin_trap();
  }
  return 0;
}
