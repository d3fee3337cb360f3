#include "mem/guest_memory.h"

#include <doctest/doctest.h>

#include <array>
#include <vector>

namespace {

struct Header {
  uint32_t type;
  uint32_t length;
};

}  // namespace

TEST_CASE("guest memory reads back what was written, at the guest address") {
  std::vector<std::byte> ram(0x2000);
  auto memory = mem::GuestMemory::Create(mem::Gpa{0x10000}, ram);
  REQUIRE(memory.ok());

  REQUIRE(memory->WriteObj(mem::Gpa{0x10ff8}, Header{7, 0x1234}).ok());
  auto header = memory->ReadObj<Header>(mem::Gpa{0x10ff8});
  REQUIRE(header.ok());
  CHECK(header->type == 7);
  CHECK(header->length == 0x1234);
  // The bytes landed at offset 0xff8 of the host mapping.
  CHECK(ram[0xff8] == std::byte{7});
}

TEST_CASE("guest memory refuses ranges outside RAM, including wrapping ones") {
  std::vector<std::byte> ram(0x1000);
  auto memory = mem::GuestMemory::Create(mem::Gpa{0x1000}, ram);
  REQUIRE(memory.ok());
  std::array<std::byte, 16> buffer{};

  CHECK_FALSE(memory->Read(mem::Gpa{0xfff}, buffer).ok());         // starts below
  CHECK_FALSE(memory->Read(mem::Gpa{0x1ff8}, buffer).ok());        // ends past
  CHECK(memory->Read(mem::Gpa{0x1ff0}, buffer).ok());              // exactly fits
  CHECK_FALSE(memory->Read(mem::Gpa{~uint64_t{0} - 4}, buffer).ok());  // wraps
  CHECK_FALSE(memory->Fill(mem::Gpa{0x1000}, ~uint64_t{0}, std::byte{0}).ok());

  auto failure = memory->ReadObj<Header>(mem::Gpa{0x2000});
  REQUIRE_FALSE(failure.ok());
  CHECK(failure.error().message() == "guest range 0x2000+0x8 is outside guest RAM");
}

TEST_CASE("guest memory refuses a mapping that wraps the address space") {
  std::vector<std::byte> ram(0x1000);
  CHECK_FALSE(mem::GuestMemory::Create(mem::Gpa{~uint64_t{0} - 0x10}, ram).ok());
}
