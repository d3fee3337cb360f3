#include "paravisor/vtl0_memory.h"

#include <doctest/doctest.h>

#include <vector>

namespace {

base::Result<void> Succeed() { return base::Ok(); }

}  // namespace

TEST_CASE("Vtl0Memory: RAM membership and protections gate every access") {
  std::vector<std::byte> low(0x4000), high(0x2000);
  hcl::Vtl0Memory memory;
  memory.Add(mem::GuestMemory::Create(mem::Gpa{0}, low).value());
  memory.Add(mem::GuestMemory::Create(mem::Gpa{0x10000}, high).value());
  std::array<std::byte, 16> buffer{};
  CHECK(memory.Read(mem::Gpa{0x3FF0}, buffer).ok());
  CHECK_FALSE(memory.Read(mem::Gpa{0x3FF8}, buffer).ok());  // runs past the range
  CHECK_FALSE(memory.Read(mem::Gpa{0x8000}, buffer).ok());  // hole ("VTL2's")
  CHECK(memory.end() == 0x12000);

  const uint64_t before = memory.generation();
  // The hypercall fails: nothing recorded.
  CHECK_FALSE(memory.ChangeProtection(2, 1, 0, [] { return base::Result<void>(base::Error("no")); }).ok());
  CHECK(memory.Flags(2) == hcl::Vtl0Memory::kAll);
  CHECK(memory.generation() == before);
  // Read-only page 2, no-access page 3.
  CHECK(memory.ChangeProtection(2, 1, hcl::Vtl0Memory::kRead, Succeed).ok());
  CHECK(memory.ChangeProtection(3, 1, 0, Succeed).ok());
  CHECK(memory.generation() == before + 2);
  CHECK(memory.Read(mem::Gpa{0x2000}, buffer).ok());
  CHECK_FALSE(memory.Write(mem::Gpa{0x2000}, buffer).ok());
  CHECK_FALSE(memory.Read(mem::Gpa{0x3000}, buffer).ok());
  CHECK_FALSE(memory.Read(mem::Gpa{0x2FF8}, buffer).ok());  // straddles into page 3
  CHECK(memory.Write(mem::Gpa{0x1FF0}, buffer).ok());
  // Back to all access.
  CHECK(memory.ChangeProtection(3, 1, hcl::Vtl0Memory::kAll, Succeed).ok());
  CHECK(memory.Read(mem::Gpa{0x3000}, buffer).ok());
  // Only VTL0 RAM can be protected; flags are HV_MAP_GPA_* only.
  CHECK_FALSE(memory.ChangeProtection(8, 1, 0, Succeed).ok());
  CHECK_FALSE(memory.ChangeProtection(~uint64_t{0}, 2, 0, Succeed).ok());
  CHECK_FALSE(memory.ChangeProtection(1, 1, 0x10, Succeed).ok());
}
