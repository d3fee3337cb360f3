#include "memory_layout.h"

#include <doctest/doctest.h>

TEST_CASE("memory map splits RAM around the VTL2 range") {
  const loader::RequiredRange vtl2{0x1000000, 0x2000000, true};
  const auto map = loader::BuildMemoryMap(256 << 20, std::span(&vtl2, 1));
  REQUIRE(map.ok());
  REQUIRE(map->size() == 3);
  CHECK((*map)[0].starting_gpa_page_number == 0);
  CHECK((*map)[0].number_of_pages == 0x1000);
  CHECK((*map)[0].entry_type == 0);
  CHECK((*map)[1].starting_gpa_page_number == 0x1000);
  CHECK((*map)[1].number_of_pages == 0x2000);
  CHECK((*map)[1].entry_type == 3);  // VTL2_PROTECTABLE
  CHECK((*map)[2].starting_gpa_page_number == 0x3000);
  CHECK((*map)[2].number_of_pages == (256 << 8) - 0x3000);
}

TEST_CASE("memory map refuses required memory outside RAM or overlapping") {
  const loader::RequiredRange big{0x1000000, 0x2000000, true};
  CHECK_FALSE(loader::BuildMemoryMap(32 << 20, std::span(&big, 1)).ok());
  const loader::RequiredRange two[] = {{0x1000000, 0x2000000, true}, {0x2000000, 0x1000, false}};
  CHECK_FALSE(loader::BuildMemoryMap(256 << 20, two).ok());
  const loader::RequiredRange unaligned{0x1000800, 0x1000, true};
  CHECK_FALSE(loader::BuildMemoryMap(256 << 20, std::span(&unaligned, 1)).ok());
  CHECK_FALSE(loader::BuildMemoryMap(uint64_t{4} << 30, {}).ok());
  const auto whole = loader::BuildMemoryMap(1 << 20, {});
  REQUIRE(whole.ok());
  CHECK(whole->size() == 1);
}
