#include "parameter_areas.h"

#include <doctest/doctest.h>

#include <vector>

#include "base/le_bytes_result.h"

using igvm::wire::MemoryMapEntry;

namespace {
uint64_t U64(const std::vector<std::byte>& b, size_t at) {
  return *base::LoadLeOrError<uint64_t>(b, at);
}
uint32_t U32(const std::vector<std::byte>& b, size_t at) {
  return *base::LoadLeOrError<uint32_t>(b, at);
}
uint16_t U16(const std::vector<std::byte>& b, size_t at) {
  return *base::LoadLeOrError<uint16_t>(b, at);
}
}  // namespace

TEST_CASE("VP count and environment info are little-endian u32s") {
  std::vector<std::byte> area(8, std::byte{0xAA});
  REQUIRE(loader::WriteVpCount(area, 3).ok());
  CHECK(U32(area, 0) == 3);
  CHECK(area[4] == std::byte{0xAA});  // nothing past the value
  CHECK_FALSE(loader::WriteVpCount(area, 0).ok());
  CHECK_FALSE(loader::WriteVpCount(std::span(area).first(3), 1).ok());
  REQUIRE(loader::WriteEnvironmentInfo(area, 0).ok());
  CHECK(U32(area, 0) == 0);
}

TEST_CASE("memory map: sorted entries then a zero-page terminator") {
  const std::vector<MemoryMapEntry> entries{{0, 0x1000, 0, 0, 0}, {0x1000, 0x2000, 3, 0, 0},
                                            {0x3000, 0xD000, 0, 0, 0}};
  std::vector<std::byte> area(4096, std::byte{0xAA});
  REQUIRE(loader::WriteMemoryMap(area, entries).ok());
  CHECK(U64(area, 24) == 0x1000);
  CHECK(U64(area, 32) == 0x2000);
  CHECK(U16(area, 40) == 3);
  CHECK(U32(area, 44) == 0);  // reserved
  CHECK(U64(area, 72 + 8) == 0);  // terminator: number_of_pages 0
  CHECK(area[96] == std::byte{0xAA});

  // Exactly room for 3 entries + terminator; one byte less fails.
  CHECK(loader::WriteMemoryMap(std::span(area).first(96), entries).ok());
  CHECK_FALSE(loader::WriteMemoryMap(std::span(area).first(95), entries).ok());

  const std::vector<MemoryMapEntry> unsorted{{0x10, 1, 0, 0, 0}, {0x0, 1, 0, 0, 0}};
  CHECK_FALSE(loader::WriteMemoryMap(area, unsorted).ok());
  const std::vector<MemoryMapEntry> overlapping{{0, 0x10, 0, 0, 0}, {0x8, 1, 0, 0, 0}};
  CHECK_FALSE(loader::WriteMemoryMap(area, overlapping).ok());
  const std::vector<MemoryMapEntry> empty_entry{{0, 0, 0, 0, 0}};
  CHECK_FALSE(loader::WriteMemoryMap(area, empty_entry).ok());
  const std::vector<MemoryMapEntry> wrapping{{~uint64_t{0}, 2, 0, 0, 0}};
  CHECK_FALSE(loader::WriteMemoryMap(area, wrapping).ok());
}

TEST_CASE("command line is NUL-terminated printable ASCII that fits") {
  std::vector<std::byte> area(8, std::byte{0xAA});
  REQUIRE(loader::WriteCommandLine(area, "quiet").ok());
  CHECK(area[4] == std::byte{'t'});
  CHECK(area[5] == std::byte{0});
  REQUIRE(loader::WriteCommandLine(area, "").ok());
  CHECK(area[0] == std::byte{0});
  CHECK(loader::WriteCommandLine(area, "1234567").ok());
  CHECK_FALSE(loader::WriteCommandLine(area, "12345678").ok());  // no room for NUL
  CHECK_FALSE(loader::WriteCommandLine(area, std::string_view("a\0b", 3)).ok());
  CHECK_FALSE(loader::WriteCommandLine(area, "a\nb").ok());
}
