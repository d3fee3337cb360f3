#include "devices/ioapic.h"

#include <optional>

#include "base/le_bytes.h"

namespace devices {
namespace {

// DS §3.2.4, IOREDTBL[23:0] bit layout.
constexpr uint64_t kVectorMask = 0xFF;                  // bits 7:0
constexpr unsigned kDeliveryModeShift = 8;              // bits 10:8
constexpr uint64_t kDestinationModeBit = uint64_t{1} << 11;
constexpr uint64_t kDeliveryStatusBit = uint64_t{1} << 12;  // RO; always 0 (idle) here
constexpr uint64_t kPolarityBit = uint64_t{1} << 13;
constexpr uint64_t kRemoteIrrBit = uint64_t{1} << 14;       // RO
constexpr uint64_t kTriggerModeBit = uint64_t{1} << 15;
constexpr uint64_t kMaskBit = uint64_t{1} << 16;
constexpr unsigned kDestinationShift = 56;              // bits 63:56
// Writable bits of each half. Bits 55:17 are reserved (DS §3.2.4) and
// read back as 0; so do the read-only delivery status and remote IRR.
constexpr uint32_t kLowWritable = 0x000000FF | 0x00000700 | 0x00000800 | 0x00002000 |
                                  0x00008000 | 0x00010000;
constexpr uint32_t kHighWritable = 0xFF000000;
static_assert((kLowWritable & (kDeliveryStatusBit | kRemoteIrrBit)) == 0);
static_assert((kLowWritable & (kVectorMask | kDestinationModeBit | kPolarityBit |
                               kTriggerModeBit | kMaskBit)) ==
              (kVectorMask | kDestinationModeBit | kPolarityBit | kTriggerModeBit | kMaskBit));

// DS §3.2.1: IOAPICID bits 27:24; §3.2.3: IOAPICARB bits 27:24.
constexpr unsigned kIdShift = 24;
constexpr uint8_t kIdMask = 0x0F;

constexpr uint32_t kAllOnes = 0xFFFF'FFFF;

constexpr bool Masked(uint64_t entry) { return (entry & kMaskBit) != 0; }
constexpr uint8_t Vector(uint64_t entry) { return static_cast<uint8_t>(entry & kVectorMask); }
constexpr uint8_t RawDeliveryMode(uint64_t entry) {
  return static_cast<uint8_t>((entry >> kDeliveryModeShift) & 7);
}

// DS §3.2.4 "Delivery Mode": 011 and 110 are reserved.
constexpr std::optional<DeliveryMode> DecodeDeliveryMode(uint64_t entry) {
  switch (RawDeliveryMode(entry)) {
    case 0: return DeliveryMode::kFixed;
    case 1: return DeliveryMode::kLowestPriority;
    case 2: return DeliveryMode::kSmi;
    case 4: return DeliveryMode::kNmi;
    case 5: return DeliveryMode::kInit;
    case 7: return DeliveryMode::kExtInt;
    default: return std::nullopt;
  }
}

// Whether the pin follows level-triggered rules (remote IRR, re-delivery
// on EOI). DS §3.2.4 "Delivery Mode": SMI, NMI, INIT and ExtINT are always
// edge-triggered whatever the trigger-mode bit says; only Fixed and Lowest
// Priority honour a level trigger.
constexpr bool LevelTriggered(uint64_t entry) {
  const uint8_t mode = RawDeliveryMode(entry);
  return (entry & kTriggerModeBit) != 0 && (mode == 0 || mode == 1);
}

}  // namespace

IoApic::IoApic(uint8_t id, InterruptSink& sink)
    : sink_(sink), id_(static_cast<uint8_t>(id & kIdMask)) {
  // Entries come out of reset masked (DS §3.2.4, bit 16; Linux masks every
  // pin before it programs any).
  for (Pin& pin : pins_) pin.entry = kMaskBit;
}

IoResult IoApic::MmioRead(uint64_t offset, std::span<std::byte> data) {
  for (std::byte& b : data) b = std::byte{0xFF};
  // The EOI register is write-only.
  if (offset != kIoRegSel && offset != kIoWin) return IoResult::kBadRegister;
  // DS §3.1: IOREGSEL and IOWIN are 32-bit registers; Linux's io_apic_read/
  // io_apic_write use readl/writel only.
  if (data.size() != 4) return IoResult::kBadSize;
  uint32_t value = kAllOnes;
  {
    std::lock_guard lock(mutex_);
    value = offset == kIoRegSel ? register_select_ : ReadRegisterLocked(register_select_);
  }
  (void)base::StoreLe<uint32_t>(data, 0, value);
  return IoResult::kOk;
}

IoResult IoApic::MmioWrite(uint64_t offset, std::span<const std::byte> data) {
  if (offset != kIoRegSel && offset != kIoWin && offset != kEoi) return IoResult::kBadRegister;
  if (data.size() != 4) return IoResult::kBadSize;
  uint32_t value = 0;
  if (!base::LoadLe<uint32_t>(data, 0, value)) return IoResult::kBadSize;
  Pending pending;
  {
    std::lock_guard lock(mutex_);
    switch (offset) {
      case kIoRegSel:
        // DS §3.1.1: bits 7:0 select the register; bits 31:8 are reserved.
        register_select_ = static_cast<uint8_t>(value & 0xFF);
        break;
      case kIoWin:
        WriteRegisterLocked(register_select_, value, pending);
        break;
      case kEoi:
        // Version-0x20 EOI register: bits 7:0 are the vector; the rest is
        // reserved. Linux 6.1 __eoi_ioapic_pin() writes the vector here.
        EoiLocked(static_cast<uint8_t>(value & 0xFF), pending);
        break;
      default:
        break;
    }
  }
  Flush(pending);
  return IoResult::kOk;
}

void IoApic::SetIrq(uint32_t pin, bool asserted) {
  if (pin >= kPinCount) return;
  Pending pending;
  {
    std::lock_guard lock(mutex_);
    Pin& state = pins_[pin];
    const bool rising = asserted && !state.asserted;
    state.asserted = asserted;
    if (LevelTriggered(state.entry)) {
      // Level: deliver while asserted, unless the last delivery is still
      // awaiting its EOI (remote IRR set; DS §3.2.4 bit 14).
      if (asserted) ServiceLocked(pin, pending);
    } else if (rising) {
      // Edge: one delivery per rising edge. An edge arriving while the
      // pin is masked is lost (DS §3.2.4 bit 16: "Edge-sensitive interrupts
      // signaled on a masked interrupt pin are ignored").
      ServiceLocked(pin, pending);
    }
  }
  Flush(pending);
}

void IoApic::EndOfInterrupt(uint8_t vector) {
  Pending pending;
  {
    std::lock_guard lock(mutex_);
    EoiLocked(vector, pending);
  }
  Flush(pending);
}

uint64_t IoApic::redirection_entry(uint32_t pin) {
  if (pin >= kPinCount) return ~uint64_t{0};
  std::lock_guard lock(mutex_);
  const Pin& state = pins_[pin];
  return state.entry | (state.remote_irr ? kRemoteIrrBit : 0);
}

uint32_t IoApic::ReadRegisterLocked(uint8_t index) const {
  switch (index) {
    case kRegId:
      return uint32_t{id_} << kIdShift;
    case kRegVersion:
      // DS §3.2.2: bits 7:0 version, bits 23:16 maximum redirection entry
      // (pins - 1); bit 15 (PRQ) is 0.
      return uint32_t{kVersion} | ((kPinCount - 1) << 16);
    case kRegArbitration:
      // DS §3.2.3: the arbitration ID is loaded from the I/O APIC ID
      // whenever that is written, so it mirrors it here.
      return uint32_t{id_} << kIdShift;
    default:
      break;
  }
  if (index < kRegRedirectionBase) return kAllOnes;  // no such register
  const uint32_t pin = (index - kRegRedirectionBase) / 2u;
  if (pin >= kPinCount) return kAllOnes;
  const Pin& state = pins_[pin];
  const uint64_t entry = state.entry | (state.remote_irr ? kRemoteIrrBit : 0);
  const bool high = (index & 1) != 0;
  return static_cast<uint32_t>(high ? entry >> 32 : entry & kAllOnes);
}

void IoApic::WriteRegisterLocked(uint8_t index, uint32_t value, Pending& pending) {
  switch (index) {
    case kRegId:
      // DS §3.2.1: bits 27:24 are the ID; the rest is reserved.
      id_ = static_cast<uint8_t>((value >> kIdShift) & kIdMask);
      return;
    case kRegVersion:
    case kRegArbitration:
      return;  // read-only (DS §3.2.2, §3.2.3)
    default:
      break;
  }
  if (index < kRegRedirectionBase) return;  // no such register: dropped
  const uint32_t pin = (index - kRegRedirectionBase) / 2u;
  if (pin >= kPinCount) return;
  Pin& state = pins_[pin];
  if ((index & 1) != 0) {
    // High half: destination (bits 63:56). Takes effect on the next
    // delivery; nothing to deliver now.
    state.entry = (state.entry & 0xFFFF'FFFFull) | (uint64_t{value & kHighWritable} << 32);
    return;
  }
  state.entry = (state.entry & ~uint64_t{kAllOnes}) | (value & kLowWritable);
  if (!LevelTriggered(state.entry)) {
    // Remote IRR is "undefined for edge triggered interrupts" (DS §3.2.4
    // bit 14); clearing it on a switch to edge is what pre-0x20 EOI
    // emulation in Linux (__eoi_ioapic_pin: flip to edge and back) and
    // KVM rely on.
    state.remote_irr = false;
    return;
  }
  // Unmasking (or reprogramming) an asserted level pin delivers it now.
  // DS §3.2.4 bit 16 says level changes on a masked pin are ignored; like
  // KVM and QEMU we remember the input level anyway, so a device that
  // raised its line while the guest had the pin masked is not lost.
  ServiceLocked(pin, pending);
}

void IoApic::EoiLocked(uint8_t vector, Pending& pending) {
  for (uint32_t pin = 0; pin < kPinCount; ++pin) {
    Pin& state = pins_[pin];
    if (!state.remote_irr || Vector(state.entry) != vector) continue;
    // DS §3.2.4 bit 14: remote IRR "is set to 0 when an EOI message with a
    // matching interrupt vector is received". A pin still asserted fires again.
    state.remote_irr = false;
    if (state.asserted) ServiceLocked(pin, pending);
  }
}

void IoApic::ServiceLocked(uint32_t pin, Pending& pending) {
  Pin& state = pins_[pin];
  if (Masked(state.entry)) return;
  const std::optional<DeliveryMode> mode = DecodeDeliveryMode(state.entry);
  if (!mode) return;  // reserved delivery mode: nothing is sent
  const bool level = LevelTriggered(state.entry);
  if (level) {
    if (!state.asserted || state.remote_irr) return;
    // DS §3.2.4 bit 14: "set to 1 when local APIC(s) accept the level
    // interrupt sent by the IOAPIC".
    state.remote_irr = true;
  }
  if (pending.count >= pending.messages.size()) return;  // at most one per pin per call
  pending.messages[pending.count++] = InterruptMessage{
      .destination = static_cast<uint32_t>(state.entry >> kDestinationShift),
      .vector = Vector(state.entry),
      .destination_mode = (state.entry & kDestinationModeBit) != 0 ? DestinationMode::kLogical
                                                                   : DestinationMode::kPhysical,
      .delivery_mode = *mode,
      .trigger_mode = level ? TriggerMode::kLevel : TriggerMode::kEdge,
  };
}

void IoApic::Flush(const Pending& pending) {
  for (size_t i = 0; i < pending.count; ++i) sink_.Deliver(pending.messages[i]);
}

}  // namespace devices
