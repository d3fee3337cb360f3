// The guest-state format: round trips, crash safety, and every way a host
// could hand back bytes it changed.
#include "vtpm/guest_state.h"

#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "base/le_bytes.h"
#include "vtpm/testing/memory_block_io.h"

namespace {

using hcl::vtpm::GuestStateStore;
using hcl::vtpm::PlatformKey;
using hcl::vtpm::testing::MemoryBlockIo;

constexpr size_t kDevice = 1 << 20;

PlatformKey Key(uint8_t seed) {
  PlatformKey key{};
  for (size_t i = 0; i < key.size(); ++i) key[i] = static_cast<uint8_t>(seed + i);
  return key;
}

std::vector<std::byte> Blob(size_t bytes, uint8_t seed) {
  std::vector<std::byte> blob(bytes);
  for (size_t i = 0; i < bytes; ++i) blob[i] = std::byte(static_cast<uint8_t>(seed + i * 31));
  return blob;
}

std::vector<std::byte> LoadPermall(MemoryBlockIo& io, const PlatformKey& key) {
  auto store = GuestStateStore::Open(io, key);
  REQUIRE_MESSAGE(store.ok(), store.error().message());
  auto loaded = (**store).Load("permall");
  REQUIRE(loaded.ok());
  REQUIRE(loaded->has_value());
  return **loaded;
}

TEST_CASE("guest state: a blank device is a new state; what is stored reads back after reopening") {
  MemoryBlockIo io(kDevice);
  {
    auto store = GuestStateStore::Open(io, Key(1));
    REQUIRE(store.ok());
    CHECK((**store).was_new());
    CHECK_FALSE((**store).Load("permall")->has_value());
    REQUIRE((**store).Store("permall", Blob(170000, 7)).ok());
    REQUIRE((**store).Store("permall", Blob(170001, 8)).ok());
    CHECK(io.flushes == 2);
    CHECK((**store).sequence() == 2);
  }
  CHECK(LoadPermall(io, Key(1)) == Blob(170001, 8));
  // The plaintext is nowhere on the device.
  const auto blob = Blob(64, 8);
  CHECK(std::search(io.bytes().begin(), io.bytes().end(), blob.begin(), blob.end()) ==
        io.bytes().end());
  // libtpms names only.
  auto store = GuestStateStore::Open(io, Key(1));
  CHECK_FALSE((**store).Store("nvchip", Blob(1, 1)).ok());
}

TEST_CASE("guest state: power lost mid-write leaves the previous state readable") {
  for (size_t budget : {size_t{0}, size_t{10}, size_t{64}, size_t{5000}, size_t{100000}}) {
    CAPTURE(budget);
    MemoryBlockIo io(kDevice);
    {
      auto store = GuestStateStore::Open(io, Key(1));
      REQUIRE((**store).Store("permall", Blob(100000, 1)).ok());
      REQUIRE((**store).Store("permall", Blob(100000, 2)).ok());
      io.write_budget = budget;
      CHECK_FALSE((**store).Store("permall", Blob(100000, 3)).ok());
      // The failed store did not change what the TPM reads either.
      CHECK(**(**store).Load("permall") == Blob(100000, 2));
      // Nor does a failed delete.
      CHECK_FALSE((**store).Delete("permall").ok());
      CHECK(**(**store).Load("permall") == Blob(100000, 2));
    }
    io.write_budget = SIZE_MAX;
    CHECK(LoadPermall(io, Key(1)) == Blob(100000, 2));
  }
}

TEST_CASE("guest state: another platform key (another image, another host secret) cannot open it") {
  MemoryBlockIo io(kDevice);
  REQUIRE((**GuestStateStore::Open(io, Key(1))).Store("permall", Blob(1000, 1)).ok());
  auto other = GuestStateStore::Open(io, Key(2));
  REQUIRE_FALSE(other.ok());
  CHECK(other.error().message().find("integrity check") != std::string::npos);
}

TEST_CASE("guest state: any flipped byte, a truncated device, or a lying header is refused") {
  MemoryBlockIo io(kDevice);
  {
    auto store = GuestStateStore::Open(io, Key(1));
    REQUIRE((**store).Store("permall", Blob(3000, 1)).ok());  // slot A, sequence 1
  }
  const std::vector<std::byte> good = io.bytes();
  const size_t slot_a = 0;  // the one written slot (A); B stays blank
  for (size_t offset : {size_t{0}, size_t{9}, size_t{17}, size_t{25}, size_t{29}, size_t{40},
                        size_t{64}, size_t{70}, size_t{100}, size_t{64 + 40 + 2999}}) {
    CAPTURE(offset);
    io.bytes() = good;
    io.bytes()[slot_a + offset] ^= std::byte{0x40};
    CHECK_FALSE(GuestStateStore::Open(io, Key(1)).ok());
  }
  // Too small for two slots (the loader's file, truncated).
  MemoryBlockIo small(kDevice / 4);
  CHECK_FALSE(GuestStateStore::Open(small, Key(1)).ok());
  // A body length past the slot, with a valid MAC (a writer with the key
  // but a bug): refused before reading it.
  io.bytes() = good;
  (void)base::StoreLe<uint32_t>(std::span(io.bytes()).subspan(slot_a), 24, 0xFFFFFFF0);
  CHECK_FALSE(GuestStateStore::Open(io, Key(1)).ok());
}

TEST_CASE("guest state: a sealed slot whose items lie is refused item by item") {
  MemoryBlockIo io(kDevice);
  {
    auto store = GuestStateStore::Open(io, Key(1));
    REQUIRE((**store).Store("permall", Blob(500, 1)).ok());
  }
  const size_t slot_a = 0;  // slot A
  const std::vector<std::byte> good = io.bytes();
  auto reseal = [&] {
    uint32_t body = 0;
    (void)base::LoadLe(std::span<const std::byte>(io.bytes()).subspan(slot_a), 24, body);
    GuestStateStore::SealSlotForTesting(
        Key(1), std::span(io.bytes()).subspan(slot_a, GuestStateStore::kSlotHeaderBytes + body));
  };
  SUBCASE("the item's ID changed: its associated data no longer matches") {
    (void)base::StoreLe<uint32_t>(std::span(io.bytes()).subspan(slot_a + 64), 0, 2);
    reseal();
    CHECK_FALSE(GuestStateStore::Open(io, Key(1)).ok());
  }
  SUBCASE("the item claims more bytes than the body holds") {
    (void)base::StoreLe<uint32_t>(std::span(io.bytes()).subspan(slot_a + 64), 8, 501);
    reseal();
    CHECK_FALSE(GuestStateStore::Open(io, Key(1)).ok());
  }
  SUBCASE("the header counts two items") {
    (void)base::StoreLe<uint32_t>(std::span(io.bytes()).subspan(slot_a), 28, 2);
    reseal();
    CHECK_FALSE(GuestStateStore::Open(io, Key(1)).ok());
  }
  SUBCASE("unchanged and resealed: still good (the test's sealing is the writer's)") {
    reseal();
    CHECK(GuestStateStore::Open(io, Key(1)).ok());
  }
  (void)good;
}

}  // namespace
