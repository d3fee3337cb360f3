#include "hyperv/synic.h"

#include <doctest/doctest.h>

#include <array>
#include <cstring>
#include <memory>
#include <vector>

#include "kvm/guest_ram.h"
#include "vsm/vtl_view.h"

namespace {

using loader::hyperv::Synic;
using loader::vsm::VtlView;

constexpr uint64_t kRamBytes = 0x110000;
constexpr uint64_t kSimp = 0x101000;
constexpr uint64_t kSiefp = 0x102000;

struct Fixture {
  // Guest RAM at GPA 0 and VTL0's view of it, where the SIMP and SIEFP
  // overlays show.
  kvm::GuestRam ram = kvm::GuestRam::Create(kRamBytes).value();
  std::unique_ptr<VtlView> view =
      VtlView::Create(0, ram, loader::vsm::OverlayPagesFor(1)).value();
  mem::GuestMemory& memory = view->memory();
  mem::GuestMemory raw = mem::GuestMemory::Create(mem::Gpa{0}, ram.bytes()).value();
  Synic synic{view->overlay(loader::vsm::SimpOverlay(0)),
              view->overlay(loader::vsm::SiefpOverlay(0))};

  void Enable() {
    CHECK(synic.WriteRegister(0x40000080, 1).ok());           // SCONTROL
    CHECK(synic.WriteRegister(0x40000083, kSimp | 1).ok());   // SIMP
    CHECK(synic.WriteRegister(0x40000082, kSiefp | 1).ok());  // SIEFP
    CHECK(synic.WriteRegister(0x40000090 + 2, 0xF3).ok());    // SINT2: vector 0xF3, unmasked
  }
  static Synic::Message Message(uint32_t type, uint8_t fill) {
    Synic::Message m{};
    std::memcpy(m.data(), &type, 4);
    m[4] = std::byte{8};
    for (size_t i = 16; i < 24; ++i) m[i] = std::byte{fill};
    return m;
  }
  uint32_t SlotType(uint32_t sint) {
    return memory.ReadObj<uint32_t>(mem::Gpa{kSimp + 256 * sint}).value();
  }
  uint8_t SlotFlags(uint32_t sint) {
    return memory.ReadObj<uint8_t>(mem::Gpa{kSimp + 256 * sint + 5}).value();
  }
};

}  // namespace

TEST_CASE("SynIC: a post needs SCONTROL and SIMP enabled") {
  Fixture f;
  const auto message = Fixture::Message(1, 0x11);
  CHECK(f.synic.Post(2, message).status == hv::Status::kInvalidSynicState);
  CHECK(f.synic.Signal(2, 5).status == hv::Status::kInvalidSynicState);
  CHECK(f.synic.Post(16, message).status == hv::Status::kInvalidParameter);
}

TEST_CASE("SynIC: a message lands in its slot, type last, and raises the SINT vector") {
  Fixture f;
  f.Enable();
  const auto outcome = f.synic.Post(2, Fixture::Message(1, 0x11));
  CHECK(outcome.status == hv::Status::kSuccess);
  REQUIRE(outcome.vector.has_value());
  CHECK(*outcome.vector == 0xF3);
  CHECK(f.SlotType(2) == 1);
  CHECK(f.memory.ReadObj<uint8_t>(mem::Gpa{kSimp + 512 + 16}).value() == 0x11);
  // SINT0 is still masked (reset value): the message lands, no interrupt.
  const auto masked = f.synic.Post(0, Fixture::Message(0x80010000, 0x22));
  CHECK(masked.status == hv::Status::kSuccess);
  CHECK_FALSE(masked.vector.has_value());
  CHECK(f.SlotType(0) == 0x80010000);
}

TEST_CASE("SynIC: a busy slot queues, sets message_pending, and EOM delivers the next") {
  Fixture f;
  f.Enable();
  CHECK(f.synic.Post(2, Fixture::Message(1, 0x11)).vector.has_value());
  const auto second = f.synic.Post(2, Fixture::Message(2, 0x22));
  CHECK(second.status == hv::Status::kSuccess);
  CHECK_FALSE(second.vector.has_value());
  CHECK((f.SlotFlags(2) & 1) == 1);  // message_pending in the occupant
  // EOM with the slot still taken delivers nothing.
  CHECK(f.synic.EndOfMessage().empty());
  // The guest frees the slot, then EOMs.
  CHECK(f.memory.StoreRelease32(mem::Gpa{kSimp + 512}, 0).ok());
  const auto due = f.synic.EndOfMessage();
  REQUIRE(due.size() == 1);
  CHECK(due[0] == 0xF3);
  CHECK(f.SlotType(2) == 2);
  CHECK(f.memory.ReadObj<uint8_t>(mem::Gpa{kSimp + 512 + 16}).value() == 0x22);
}

TEST_CASE("SynIC: a message delivered from the queue carries message_pending while more wait") {
  // As Linux's VMBus offers arrive: one offer lands, a second offer and
  // ALLOFFERS_DELIVERED queue behind it. Each EOM must bring the next one
  // with message_pending set while the queue is not empty, or the last
  // message would wait forever (and every later post would deliver the
  // one before it).
  Fixture f;
  f.Enable();
  CHECK(f.synic.Post(2, Fixture::Message(1, 0x11)).vector.has_value());
  CHECK_FALSE(f.synic.Post(2, Fixture::Message(2, 0x22)).vector.has_value());
  CHECK_FALSE(f.synic.Post(2, Fixture::Message(3, 0x33)).vector.has_value());
  for (uint32_t expected = 2; expected <= 3; ++expected) {
    // The guest frees the slot; EOM only if message_pending was set.
    const bool pending = (f.SlotFlags(2) & 1) == 1;
    REQUIRE(pending);
    CHECK(f.memory.StoreRelease32(mem::Gpa{kSimp + 512}, 0).ok());
    CHECK(f.synic.EndOfMessage().size() == 1);
    CHECK(f.SlotType(2) == expected);
  }
  // The last one has nothing behind it.
  CHECK((f.SlotFlags(2) & 1) == 0);
  CHECK(f.memory.StoreRelease32(mem::Gpa{kSimp + 512}, 0).ok());
  CHECK(f.synic.Post(2, Fixture::Message(4, 0x44)).vector.has_value());
  CHECK(f.SlotType(2) == 4);
}

TEST_CASE("SynIC: the queue holds 16; more is HV_STATUS_INSUFFICIENT_BUFFERS") {
  Fixture f;
  f.Enable();
  CHECK(f.synic.Post(2, Fixture::Message(1, 0)).status == hv::Status::kSuccess);  // in the slot
  for (size_t i = 0; i < Synic::kQueueDepth; ++i)
    CHECK(f.synic.Post(2, Fixture::Message(1, 0)).status == hv::Status::kSuccess);
  CHECK(f.synic.Post(2, Fixture::Message(1, 0)).status == hv::Status::kInsufficientBuffers);
}

TEST_CASE("SynIC: event flags: atomic OR, interrupt only when newly set") {
  Fixture f;
  f.Enable();
  const auto first = f.synic.Signal(2, 37);
  CHECK(first.status == hv::Status::kSuccess);
  CHECK(first.vector == std::optional<uint8_t>(0xF3));
  CHECK(f.memory.ReadObj<uint32_t>(mem::Gpa{kSiefp + 512 + 4}).value() == (1u << 5));
  CHECK_FALSE(f.synic.Signal(2, 37).vector.has_value());  // already set
  CHECK(f.synic.Signal(2, 2048).status == hv::Status::kInvalidParameter);
}

TEST_CASE("SynIC: a SIMP outside RAM still takes messages, in its overlay only") {
  Fixture f;
  f.Enable();
  CHECK(f.synic.WriteRegister(0x40000083, 0x7FFFF000 | 1).ok());
  const auto outcome = f.synic.Post(2, Fixture::Message(1, 0));
  CHECK(outcome.status == hv::Status::kSuccess);
  CHECK(outcome.vector.has_value());
  CHECK(f.synic.WriteRegister(0x40000082, 0x7FFFF000 | 1).ok());
  CHECK(f.synic.Signal(2, 1).status == hv::Status::kSuccess);
  // The pages where the SIMP and SIEFP were show RAM again.
  CHECK(f.memory.ReadObj<uint32_t>(mem::Gpa{kSimp + 512}).value() == 0);
}

TEST_CASE("SynIC: the SIMP and SIEFP are overlays: the RAM beneath is never written") {
  Fixture f;
  // The guest's own data in the pages it then names as SIMP and SIEFP.
  CHECK(f.raw.Fill(mem::Gpa{kSimp}, 0x2000, std::byte{0x5A}).ok());
  f.Enable();
  CHECK(f.synic.Post(2, Fixture::Message(1, 0x11)).status == hv::Status::kSuccess);
  CHECK(f.synic.Signal(2, 37).status == hv::Status::kSuccess);
  // The VTL sees the overlays (message in slot 2, flag 37 set)...
  CHECK(f.SlotType(2) == 1);
  CHECK(f.memory.ReadObj<uint32_t>(mem::Gpa{kSiefp + 512 + 4}).value() == (1u << 5));
  // ...and its own stores there land in the overlay too.
  CHECK(f.memory.StoreRelease32(mem::Gpa{kSimp + 512}, 0).ok());
  // The RAM underneath is untouched, and shows again once disabled.
  for (uint64_t offset = 0; offset < 0x2000; offset += 4)
    REQUIRE(f.raw.ReadObj<uint32_t>(mem::Gpa{kSimp + offset}).value() == 0x5A5A5A5Au);
  CHECK(f.synic.WriteRegister(0x40000083, kSimp).ok());
  CHECK(f.synic.WriteRegister(0x40000082, kSiefp).ok());
  CHECK(f.memory.ReadObj<uint32_t>(mem::Gpa{kSimp + 512}).value() == 0x5A5A5A5Au);
  CHECK(f.memory.ReadObj<uint32_t>(mem::Gpa{kSiefp + 512 + 4}).value() == 0x5A5A5A5Au);
  // Re-enabled elsewhere, the overlay keeps its contents (hypervisor memory).
  CHECK(f.synic.WriteRegister(0x40000083, 0x104000 | 1).ok());
  CHECK(f.memory.ReadObj<uint8_t>(mem::Gpa{0x104000 + 512 + 16}).value() == 0x11);
}
