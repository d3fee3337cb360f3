#include "hv/synic.h"

#include <doctest/doctest.h>

#include <array>
#include <cstring>
#include <vector>

namespace {

using loader::hv::Synic;

constexpr uint64_t kRamBase = 0x100000;
constexpr uint64_t kSimp = 0x101000;
constexpr uint64_t kSiefp = 0x102000;

struct Fixture {
  std::vector<std::byte> ram = std::vector<std::byte>(0x4000);
  mem::GuestMemory memory = mem::GuestMemory::Create(mem::Gpa{kRamBase}, ram).value();
  Synic synic{memory};

  void Enable() {
    synic.WriteRegister(0x40000080, 1);             // SCONTROL
    synic.WriteRegister(0x40000083, kSimp | 1);     // SIMP
    synic.WriteRegister(0x40000082, kSiefp | 1);    // SIEFP
    synic.WriteRegister(0x40000090 + 2, 0xF3);      // SINT2: vector 0xF3, unmasked
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

TEST_CASE("SynIC: a SIMP outside RAM fails the post, never the loader") {
  Fixture f;
  f.Enable();
  f.synic.WriteRegister(0x40000083, 0x7FFFF000 | 1);
  const auto outcome = f.synic.Post(2, Fixture::Message(1, 0));
  CHECK(outcome.status == hv::Status::kSuccess);  // queued: nowhere to deliver
  CHECK_FALSE(outcome.vector.has_value());
  f.synic.WriteRegister(0x40000082, 0x7FFFF000 | 1);
  CHECK(f.synic.Signal(2, 1).status == hv::Status::kInvalidSynicState);
}
