// IoApic: an 82093AA-style I/O APIC (Intel 82093AA I/O Advanced
// Programmable Interrupt Controller datasheet, order 290566-001; "DS"
// below) with 24 pins, reporting version 0x20 so that Linux 6.1 EOIs
// level-triggered pins through the EOI register at 0x40 (the register that
// ICH/PCH-integrated I/O(x)APICs of version 0x20 add; Linux
// arch/x86/kernel/apic/io_apic.c, io_apic_eoi() / __eoi_ioapic_pin()).
// It is the interrupt controller the paravisor emulates for its VTL0 guest.
//
// What it does: the MMIO page's three registers (IOREGSEL, IOWIN, EOI;
// 32-bit accesses only), the ID/VER/ARB registers and the 24 redirection
// table entries, and the pin state machine: edge pins deliver on a rising
// edge while unmasked; level pins deliver while asserted unless remote IRR
// is set, which delivery sets and an EOI clears (re-delivering if the pin
// is still asserted).
//
// What it leaves to others: where an interrupt goes. A delivery is a
// message to an InterruptSink (the paravisor's LAPIC/hypervisor glue), which
// resolves destination, mode and vector validity. Delivery is immediate,
// so the read-only delivery-status bit always reads 0 (idle). Pin
// polarity is recorded but not applied: SetIrq takes the *asserted* state,
// as the wiring (MADT interrupt source overrides) sees it, like KVM and QEMU.
//
// Locking: any VP thread and any device may call any method. One mutex,
// mutex_, guards all register and pin state. Deliveries are collected under
// it and handed to the sink after it is released (STYLE.md P4: a register
// write returns an Action), so the sink may call back into the IoApic (an
// EOI, another SetIrq) without deadlock. Two racing callers may have their
// deliveries reach the sink in either order.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <span>

#include "devices/port_bus.h"

namespace devices {

// DS §3.2.4, IOREDTBL bits 10:8. Values 3 and 6 are reserved: an entry
// programmed with them delivers nothing.
enum class DeliveryMode : uint8_t {
  kFixed = 0,
  kLowestPriority = 1,
  kSmi = 2,
  kNmi = 4,
  kInit = 5,
  kExtInt = 7,
};

// DS §3.2.4, IOREDTBL bit 11.
enum class DestinationMode : uint8_t { kPhysical = 0, kLogical = 1 };

// DS §3.2.4, IOREDTBL bit 15.
enum class TriggerMode : uint8_t { kEdge = 0, kLevel = 1 };

// One interrupt message from the I/O APIC to the local APICs (DS §2.3,
// "Interrupt Delivery"). `destination` is IOREDTBL bits 63:56: an APIC ID
// (physical) or a logical destination set (logical).
struct InterruptMessage {
  uint32_t destination = 0;
  uint8_t vector = 0;
  DestinationMode destination_mode = DestinationMode::kPhysical;
  DeliveryMode delivery_mode = DeliveryMode::kFixed;
  TriggerMode trigger_mode = TriggerMode::kEdge;

  friend bool operator==(const InterruptMessage&, const InterruptMessage&) = default;
};

// Where deliveries go. Called without the IoApic's lock held; may call
// back into the IoApic. A level-triggered message expects an EOI for its
// vector later (IoApic::EndOfInterrupt or the EOI register).
class InterruptSink {
 public:
  virtual ~InterruptSink() = default;
  virtual void Deliver(const InterruptMessage& message) = 0;
};

class IoApic final {
 public:
  static constexpr uint32_t kPinCount = 24;
  static constexpr uint8_t kVersion = 0x20;
  static constexpr uint64_t kDefaultBase = 0xFEC0'0000;  // DS §3.1 (default mapping)
  static constexpr uint64_t kMmioBytes = 4096;

  // MMIO register offsets from the page base (DS §3.1 Table 2; EOI: the
  // version-0x20 I/O(x)APIC's EOI register).
  static constexpr uint64_t kIoRegSel = 0x00;
  static constexpr uint64_t kIoWin = 0x10;
  static constexpr uint64_t kEoi = 0x40;

  // Indirect register indices written to IOREGSEL (DS §3.2, Table 3).
  static constexpr uint8_t kRegId = 0x00;
  static constexpr uint8_t kRegVersion = 0x01;
  static constexpr uint8_t kRegArbitration = 0x02;
  static constexpr uint8_t kRegRedirectionBase = 0x10;  // pin n: 0x10 + 2n (low), 0x11 + 2n (high)

  // `id` is the I/O APIC ID the MADT announces (4 bits, DS §3.2.1).
  // `sink` must outlive the IoApic. Every entry starts masked (DS §3.2.4).
  IoApic(uint8_t id, InterruptSink& sink);

  IoApic(const IoApic&) = delete;
  IoApic& operator=(const IoApic&) = delete;

  // One guest access at `offset` into the 4 KiB page. Only 32-bit accesses
  // to IOREGSEL, IOWIN and (writes to) EOI succeed; anything else returns
  // an error, drops the write, and fills a read with all-ones.
  IoResult MmioRead(uint64_t offset, std::span<std::byte> data);
  IoResult MmioWrite(uint64_t offset, std::span<const std::byte> data);

  // Drives input pin `pin`; `asserted` is the logical level (polarity
  // already applied by the wiring). A pin out of range is ignored.
  void SetIrq(uint32_t pin, bool asserted);

  // The local APIC's EOI broadcast for `vector` (what the paravisor calls
  // when the guest EOIs a level-triggered interrupt in its LAPIC): the same
  // as the guest writing `vector` to the EOI register.
  void EndOfInterrupt(uint8_t vector);

  // The 64-bit redirection entry of `pin` as the guest would read it
  // (including remote IRR); all-ones for a pin out of range. For tests
  // and diagnostics.
  uint64_t redirection_entry(uint32_t pin);

 private:
  struct Pin {
    uint64_t entry = 0;  // guest-controlled; reserved and read-only bits kept clear
    bool remote_irr = false;
    bool asserted = false;
  };

  // Deliveries gathered under mutex_, made after it is released.
  struct Pending {
    std::array<InterruptMessage, kPinCount> messages{};
    size_t count = 0;
  };

  uint32_t ReadRegisterLocked(uint8_t index) const;
  void WriteRegisterLocked(uint8_t index, uint32_t value, Pending& pending);
  void EoiLocked(uint8_t vector, Pending& pending);
  // Delivers `pin` if unmasked (and, for level pins, not awaiting EOI).
  void ServiceLocked(uint32_t pin, Pending& pending);
  void Flush(const Pending& pending);

  InterruptSink& sink_;
  std::mutex mutex_;
  uint8_t id_ = 0;               // guarded by mutex_; IOAPICID bits 27:24
  uint8_t register_select_ = 0;  // guarded by mutex_; IOREGSEL bits 7:0
  std::array<Pin, kPinCount> pins_{};  // guarded by mutex_
};

}  // namespace devices
