#include "vtl0/ram_layout.h"

#include <doctest/doctest.h>

using loader::vtl0::RamRange;

namespace {

bool Same(const std::vector<RamRange>& got, const std::vector<RamRange>& want) {
  if (got.size() != want.size()) return false;
  for (size_t i = 0; i < got.size(); ++i)
    if (got[i].gpa != want[i].gpa || got[i].size_bytes != want[i].size_bytes) return false;
  return true;
}

}  // namespace

TEST_CASE("VTL0 RAM: guest RAM without the legacy hole and VTL2's ranges") {
  const std::vector<loader::RequiredRange> vtl2 = {{0x1000000, 0x2000000}, {0x20000, 0x10000}};
  CHECK(Same(loader::vtl0::Vtl0Ram(0x10000000, vtl2), {{0, 0x20000},
                                                         {0x30000, 0xA0000 - 0x30000},
                                                         {0x100000, 0x1000000 - 0x100000},
                                                         {0x3000000, 0x10000000 - 0x3000000}}));
  // VTL2's range running past the end of RAM, and RAM ending in the hole.
  CHECK(Same(loader::vtl0::Vtl0Ram(0x2000000, {{{0x1000000, 0x8000000}}}),
             {{0, 0xA0000}, {0x100000, 0xF00000}}));
  CHECK(Same(loader::vtl0::Vtl0Ram(0xC0000, {}), {{0, 0xA0000}}));
  // Nothing left.
  CHECK(loader::vtl0::Vtl0Ram(0x100000, {{{0, 0xA0000}}}).empty());
}
