#include "vsm/vtl0_protections.h"

#include <doctest/doctest.h>

#include <array>

using loader::vsm::Vtl0Protections;

namespace {
bool operator==(const Vtl0Protections::Slot& a, const Vtl0Protections::Slot& b) {
  return a.gpa == b.gpa && a.size_bytes == b.size_bytes && a.read_only == b.read_only;
}
}  // namespace

TEST_CASE("VTL0 protections: unprotected RAM is one slot per range") {
  Vtl0Protections p({{0, 0x10000}, {0x100000, 0x100000}});
  const auto slots = p.Layout();
  REQUIRE(slots.size() == 2);
  CHECK(slots[0] == Vtl0Protections::Slot{0, 0x10000, false});
  CHECK(slots[1] == Vtl0Protections::Slot{0x100000, 0x100000, false});
  CHECK(p.Flags(0x100) == Vtl0Protections::kAll);
}

TEST_CASE("VTL0 protections: no access leaves a hole, read-only a read-only slot") {
  Vtl0Protections p({{0x100000, 0x10000}});
  const std::array<uint64_t, 1> none{0x102};
  const std::array<uint64_t, 2> read_only{0x105, 0x106};
  CHECK(p.Apply(none, 0) == hv::Status::kSuccess);
  CHECK(p.Apply(read_only, Vtl0Protections::kRead | Vtl0Protections::kKernelExecute) ==
        hv::Status::kSuccess);
  const auto slots = p.Layout();
  REQUIRE(slots.size() == 4);
  CHECK(slots[0] == Vtl0Protections::Slot{0x100000, 0x2000, false});
  CHECK(slots[1] == Vtl0Protections::Slot{0x103000, 0x2000, false});
  CHECK(slots[2] == Vtl0Protections::Slot{0x105000, 0x2000, true});  // two pages merged
  CHECK(slots[3] == Vtl0Protections::Slot{0x107000, 0x9000, false});
  CHECK(p.Flags(0x102) == 0);
  // Giving everything back restores one slot.
  const std::array<uint64_t, 3> all{0x102, 0x105, 0x106};
  CHECK(p.Apply(all, Vtl0Protections::kAll) == hv::Status::kSuccess);
  CHECK(p.Layout().size() == 1);
}

TEST_CASE("VTL0 protections: pages outside VTL0 RAM and bad flags are refused, nothing changes") {
  Vtl0Protections p({{0x100000, 0x10000}});
  const std::array<uint64_t, 2> mixed{0x101, 0x1000};  // 0x1000000: not VTL0 RAM (VTL2's)
  CHECK(p.Apply(mixed, 0) == hv::Status::kInvalidParameter);
  CHECK(p.Flags(0x101) == Vtl0Protections::kAll);
  const std::array<uint64_t, 1> one{0x101};
  CHECK(p.Apply(one, 0x10) == hv::Status::kInvalidParameter);
  const std::array<uint64_t, 1> huge{~uint64_t{0}};
  CHECK(p.Apply(huge, 0) == hv::Status::kInvalidParameter);
}

TEST_CASE("VTL0 protections: the number of protected pages is bounded") {
  Vtl0Protections p({{0, 0x10000000}});
  std::vector<uint64_t> gpns;
  for (uint64_t i = 0; i <= Vtl0Protections::kMaxProtectedPages; ++i) gpns.push_back(i * 2);
  CHECK(p.Apply(gpns, 0) == hv::Status::kInsufficientMemory);
  CHECK(p.Layout().size() == 1);
}
