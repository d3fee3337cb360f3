#include "devices/ioapic.h"

#include <doctest/doctest.h>

#include <array>
#include <cstddef>
#include <vector>

namespace {

using devices::DeliveryMode;
using devices::DestinationMode;
using devices::InterruptMessage;
using devices::IoApic;
using devices::IoResult;
using devices::TriggerMode;

class RecordingSink final : public devices::InterruptSink {
 public:
  void Deliver(const InterruptMessage& message) override { messages.push_back(message); }
  std::vector<InterruptMessage> messages;
};

std::array<std::byte, 4> Dword(uint32_t value) {
  return {std::byte(value & 0xFF), std::byte((value >> 8) & 0xFF),
          std::byte((value >> 16) & 0xFF), std::byte(value >> 24)};
}

uint32_t FromDword(const std::array<std::byte, 4>& bytes) {
  return uint32_t(bytes[0]) | uint32_t(bytes[1]) << 8 | uint32_t(bytes[2]) << 16 |
         uint32_t(bytes[3]) << 24;
}

// What Linux's io_apic_write/io_apic_read do: IOREGSEL, then IOWIN.
void WriteReg(IoApic& ioapic, uint8_t index, uint32_t value) {
  REQUIRE(ioapic.MmioWrite(IoApic::kIoRegSel, Dword(index)) == IoResult::kOk);
  REQUIRE(ioapic.MmioWrite(IoApic::kIoWin, Dword(value)) == IoResult::kOk);
}

uint32_t ReadReg(IoApic& ioapic, uint8_t index) {
  REQUIRE(ioapic.MmioWrite(IoApic::kIoRegSel, Dword(index)) == IoResult::kOk);
  std::array<std::byte, 4> bytes{};
  REQUIRE(ioapic.MmioRead(IoApic::kIoWin, bytes) == IoResult::kOk);
  return FromDword(bytes);
}

// Linux's ioapic_write_entry: high half first, then low.
void WriteEntry(IoApic& ioapic, uint32_t pin, uint64_t entry) {
  const auto low = static_cast<uint8_t>(0x10 + 2 * pin);
  WriteReg(ioapic, static_cast<uint8_t>(low + 1), static_cast<uint32_t>(entry >> 32));
  WriteReg(ioapic, low, static_cast<uint32_t>(entry));
}

void WriteEoi(IoApic& ioapic, uint32_t vector) {
  REQUIRE(ioapic.MmioWrite(IoApic::kEoi, Dword(vector)) == IoResult::kOk);
}

constexpr uint64_t kLevel = uint64_t{1} << 15;
constexpr uint64_t kMask = uint64_t{1} << 16;
constexpr uint64_t kRemoteIrr = uint64_t{1} << 14;
constexpr uint64_t kLogical = uint64_t{1} << 11;
constexpr uint64_t Dest(uint8_t apic_id) { return uint64_t{apic_id} << 56; }

}  // namespace

TEST_CASE("ioapic: VER reads version 0x20 with 23 as the maximum redirection entry") {
  RecordingSink sink;
  IoApic ioapic(2, sink);
  CHECK(ReadReg(ioapic, 1) == 0x0017'0020u);
  // Read-only: a write changes nothing.
  WriteReg(ioapic, 1, 0);
  CHECK(ReadReg(ioapic, 1) == 0x0017'0020u);
}

TEST_CASE("ioapic: ID and ARB registers, IOREGSEL read-back") {
  RecordingSink sink;
  IoApic ioapic(2, sink);
  CHECK(ReadReg(ioapic, 0) == 0x0200'0000u);
  CHECK(ReadReg(ioapic, 2) == 0x0200'0000u);
  WriteReg(ioapic, 0, 0xFFFF'FFFFu);  // reserved bits dropped
  CHECK(ReadReg(ioapic, 0) == 0x0F00'0000u);
  CHECK(ReadReg(ioapic, 2) == 0x0F00'0000u);  // ARB follows the ID
  WriteReg(ioapic, 2, 0);                     // read-only
  CHECK(ReadReg(ioapic, 2) == 0x0F00'0000u);

  REQUIRE(ioapic.MmioWrite(IoApic::kIoRegSel, Dword(0xABCD'1234u)) == IoResult::kOk);
  std::array<std::byte, 4> bytes{};
  REQUIRE(ioapic.MmioRead(IoApic::kIoRegSel, bytes) == IoResult::kOk);
  CHECK(FromDword(bytes) == 0x34u);  // bits 31:8 reserved
}

TEST_CASE("ioapic: redirection entries reset masked and read back without RO/reserved bits") {
  RecordingSink sink;
  IoApic ioapic(0, sink);
  for (uint32_t pin = 0; pin < IoApic::kPinCount; ++pin) {
    CHECK(ReadReg(ioapic, static_cast<uint8_t>(0x10 + 2 * pin)) == 0x0001'0000u);
    CHECK(ReadReg(ioapic, static_cast<uint8_t>(0x11 + 2 * pin)) == 0u);
  }
  // Every bit set: vector, mode, dest mode, polarity, trigger, mask stay;
  // delivery status (12), remote IRR (14) and reserved 55:17 read 0.
  WriteReg(ioapic, 0x10 + 2 * 5, 0xFFFF'FFFFu);
  WriteReg(ioapic, 0x11 + 2 * 5, 0xFFFF'FFFFu);
  CHECK(ReadReg(ioapic, 0x10 + 2 * 5) == 0x0001'AFFFu);
  CHECK(ReadReg(ioapic, 0x11 + 2 * 5) == 0xFF00'0000u);
  CHECK(ioapic.redirection_entry(5) == 0xFF00'0000'0001'AFFFull);
  CHECK(sink.messages.empty());
  // Registers past pin 23 and unassigned indices read all-ones; writes vanish.
  WriteReg(ioapic, 0x40, 0x1234);
  CHECK(ReadReg(ioapic, 0x40) == 0xFFFF'FFFFu);
  CHECK(ReadReg(ioapic, 0x03) == 0xFFFF'FFFFu);
  CHECK(ReadReg(ioapic, 0xFF) == 0xFFFF'FFFFu);
  CHECK(ioapic.redirection_entry(24) == ~uint64_t{0});
}

TEST_CASE("ioapic: MMIO rejects other offsets and sizes; reads fill all-ones") {
  RecordingSink sink;
  IoApic ioapic(0, sink);
  std::array<std::byte, 4> dword{};
  CHECK(ioapic.MmioRead(0x04, dword) == IoResult::kBadRegister);
  CHECK(FromDword(dword) == 0xFFFF'FFFFu);
  CHECK(ioapic.MmioRead(IoApic::kEoi, dword) == IoResult::kBadRegister);  // write-only
  CHECK(ioapic.MmioRead(0x1000, dword) == IoResult::kBadRegister);
  CHECK(ioapic.MmioRead(~uint64_t{0}, dword) == IoResult::kBadRegister);
  std::array<std::byte, 1> byte{};
  CHECK(ioapic.MmioRead(IoApic::kIoWin, byte) == IoResult::kBadSize);
  CHECK(byte[0] == std::byte{0xFF});
  std::array<std::byte, 8> qword{};
  CHECK(ioapic.MmioRead(IoApic::kIoWin, qword) == IoResult::kBadSize);
  CHECK(ioapic.MmioWrite(IoApic::kIoRegSel, qword) == IoResult::kBadSize);
  CHECK(ioapic.MmioWrite(0x20, Dword(1)) == IoResult::kBadRegister);
  CHECK(ioapic.MmioWrite(IoApic::kIoRegSel, std::span<const std::byte>{}) == IoResult::kBadSize);
  // A refused IOREGSEL write left the selection alone.
  CHECK(ReadReg(ioapic, 1) == 0x0017'0020u);
}

TEST_CASE("ioapic: edge pin delivers once per rising edge, only while unmasked") {
  RecordingSink sink;
  IoApic ioapic(0, sink);
  ioapic.SetIrq(4, true);  // masked at reset: the edge is lost
  ioapic.SetIrq(4, false);
  CHECK(sink.messages.empty());

  WriteEntry(ioapic, 4, Dest(1) | 0x34);  // fixed, physical, edge, unmasked
  CHECK(sink.messages.empty());           // unmasking an edge pin delivers nothing
  ioapic.SetIrq(4, true);
  ioapic.SetIrq(4, true);  // no new edge
  REQUIRE(sink.messages.size() == 1);
  CHECK(sink.messages[0] == InterruptMessage{.destination = 1,
                                             .vector = 0x34,
                                             .destination_mode = DestinationMode::kPhysical,
                                             .delivery_mode = DeliveryMode::kFixed,
                                             .trigger_mode = TriggerMode::kEdge});
  ioapic.SetIrq(4, false);
  ioapic.SetIrq(4, true);
  CHECK(sink.messages.size() == 2);
  // No remote IRR for edge pins; an EOI changes nothing.
  CHECK((ioapic.redirection_entry(4) & kRemoteIrr) == 0);
  WriteEoi(ioapic, 0x34);
  CHECK(sink.messages.size() == 2);

  // Masked again: edges are dropped, and not replayed on unmask.
  WriteEntry(ioapic, 4, Dest(1) | kMask | 0x34);
  ioapic.SetIrq(4, false);
  ioapic.SetIrq(4, true);
  WriteEntry(ioapic, 4, Dest(1) | 0x34);
  CHECK(sink.messages.size() == 2);
}

TEST_CASE("ioapic: level pin delivers once, sets remote IRR, and EOI re-delivers while asserted") {
  RecordingSink sink;
  IoApic ioapic(0, sink);
  WriteEntry(ioapic, 9, Dest(0x3) | kLevel | kLogical | (1u << 8) | 0x41);  // lowest priority
  ioapic.SetIrq(9, true);
  REQUIRE(sink.messages.size() == 1);
  CHECK(sink.messages[0] == InterruptMessage{.destination = 3,
                                             .vector = 0x41,
                                             .destination_mode = DestinationMode::kLogical,
                                             .delivery_mode = DeliveryMode::kLowestPriority,
                                             .trigger_mode = TriggerMode::kLevel});
  CHECK(ReadReg(ioapic, 0x10 + 2 * 9) == (0x41u | 0x100u | 0x800u | 0x8000u | 0x4000u));

  // Still asserted, remote IRR set: nothing more until EOI.
  ioapic.SetIrq(9, true);
  CHECK(sink.messages.size() == 1);
  // An EOI for another vector does not touch it.
  WriteEoi(ioapic, 0x42);
  CHECK(sink.messages.size() == 1);
  // EOI register with the vector: remote IRR clears, line still high -> again.
  WriteEoi(ioapic, 0x41);
  CHECK(sink.messages.size() == 2);
  CHECK((ioapic.redirection_entry(9) & kRemoteIrr) != 0);
  // Device deasserts, then the LAPIC EOI arrives: remote IRR clears, quiet.
  ioapic.SetIrq(9, false);
  ioapic.EndOfInterrupt(0x41);
  CHECK(sink.messages.size() == 2);
  CHECK((ioapic.redirection_entry(9) & kRemoteIrr) == 0);
  // Reasserted: delivers again.
  ioapic.SetIrq(9, true);
  CHECK(sink.messages.size() == 3);
}

TEST_CASE("ioapic: masking a level pin holds it; unmasking an asserted level pin delivers") {
  RecordingSink sink;
  IoApic ioapic(0, sink);
  WriteEntry(ioapic, 11, Dest(0) | kLevel | kMask | 0x50);
  ioapic.SetIrq(11, true);
  CHECK(sink.messages.empty());
  CHECK((ioapic.redirection_entry(11) & kRemoteIrr) == 0);
  WriteEntry(ioapic, 11, Dest(0) | kLevel | 0x50);  // unmask
  REQUIRE(sink.messages.size() == 1);
  CHECK(sink.messages[0].vector == 0x50);
  CHECK(sink.messages[0].trigger_mode == TriggerMode::kLevel);
  // Re-writing the entry while remote IRR is set does not deliver again.
  WriteEntry(ioapic, 11, Dest(1) | kLevel | 0x50);
  CHECK(sink.messages.size() == 1);
  // Masked at EOI time: remote IRR clears but nothing is sent; unmask sends.
  WriteEntry(ioapic, 11, Dest(1) | kLevel | kMask | 0x50);
  ioapic.EndOfInterrupt(0x50);
  CHECK(sink.messages.size() == 1);
  WriteEntry(ioapic, 11, Dest(1) | kLevel | 0x50);
  REQUIRE(sink.messages.size() == 2);
  CHECK(sink.messages[1].destination == 1);
  // Deasserted while masked: unmasking sends nothing.
  WriteEntry(ioapic, 11, Dest(1) | kLevel | kMask | 0x50);
  ioapic.EndOfInterrupt(0x50);
  ioapic.SetIrq(11, false);
  WriteEntry(ioapic, 11, Dest(1) | kLevel | 0x50);
  CHECK(sink.messages.size() == 2);
}

TEST_CASE("ioapic: switching a pin to edge clears remote IRR (Linux's pre-0x20 EOI trick)") {
  RecordingSink sink;
  IoApic ioapic(0, sink);
  WriteEntry(ioapic, 3, kLevel | 0x60);
  ioapic.SetIrq(3, true);
  REQUIRE(sink.messages.size() == 1);
  ioapic.SetIrq(3, false);
  WriteEntry(ioapic, 3, kMask | 0x60);  // masked, edge
  CHECK((ioapic.redirection_entry(3) & kRemoteIrr) == 0);
  WriteEntry(ioapic, 3, kLevel | 0x60);
  CHECK(sink.messages.size() == 1);
  ioapic.SetIrq(3, true);
  CHECK(sink.messages.size() == 2);
}

TEST_CASE("ioapic: one EOI re-delivers every asserted pin sharing the vector") {
  RecordingSink sink;
  IoApic ioapic(0, sink);
  WriteEntry(ioapic, 16, kLevel | 0x70);
  WriteEntry(ioapic, 17, kLevel | 0x70);
  ioapic.SetIrq(16, true);
  ioapic.SetIrq(17, true);
  CHECK(sink.messages.size() == 2);
  ioapic.EndOfInterrupt(0x70);
  CHECK(sink.messages.size() == 4);
}

TEST_CASE("ioapic: NMI/SMI/INIT/ExtINT are edge whatever the trigger bit; reserved modes send nothing") {
  RecordingSink sink;
  IoApic ioapic(0, sink);
  WriteEntry(ioapic, 2, kLevel | (4u << 8));  // NMI, trigger bit set
  ioapic.SetIrq(2, true);
  ioapic.SetIrq(2, true);
  REQUIRE(sink.messages.size() == 1);
  CHECK(sink.messages[0].delivery_mode == DeliveryMode::kNmi);
  CHECK(sink.messages[0].trigger_mode == TriggerMode::kEdge);
  CHECK((ioapic.redirection_entry(2) & kRemoteIrr) == 0);

  WriteEntry(ioapic, 6, 3u << 8 | 0x80);  // reserved delivery mode 011
  ioapic.SetIrq(6, true);
  WriteEntry(ioapic, 7, kLevel | 6u << 8 | 0x81);  // reserved 110, level
  ioapic.SetIrq(7, true);
  CHECK(sink.messages.size() == 1);
  CHECK((ioapic.redirection_entry(7) & kRemoteIrr) == 0);
}

TEST_CASE("ioapic: pins out of range are ignored") {
  RecordingSink sink;
  IoApic ioapic(0, sink);
  ioapic.SetIrq(24, true);
  ioapic.SetIrq(0xFFFF'FFFFu, true);
  ioapic.EndOfInterrupt(0);
  CHECK(sink.messages.empty());
}

namespace {

// A sink that EOIs from inside Deliver, as a synchronous LAPIC model might:
// the IoApic must not hold its lock while calling out.
class ReentrantSink final : public devices::InterruptSink {
 public:
  void Deliver(const InterruptMessage& message) override {
    ++deliveries;
    if (ioapic != nullptr && deliveries < 3) ioapic->EndOfInterrupt(message.vector);
  }
  IoApic* ioapic = nullptr;
  int deliveries = 0;
};

}  // namespace

TEST_CASE("ioapic: the sink runs outside the lock and may call back") {
  ReentrantSink sink;
  IoApic ioapic(0, sink);
  sink.ioapic = &ioapic;
  WriteEntry(ioapic, 1, kLevel | 0x90);
  ioapic.SetIrq(1, true);  // deliver -> EOI -> deliver -> EOI -> deliver
  CHECK(sink.deliveries == 3);
}
