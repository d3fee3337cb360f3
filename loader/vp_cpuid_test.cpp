#include "vp_cpuid.h"

#include "kvm/cpuid_entry.h"

#include <doctest/doctest.h>

#include <vector>

namespace {

constexpr auto& Leaf = kvm::MakeCpuidEntry;

std::vector<kvm_cpuid_entry2> Find(const std::vector<kvm_cpuid_entry2>& leaves, uint32_t function) {
  std::vector<kvm_cpuid_entry2> found;
  for (const auto& leaf : leaves)
    if (leaf.function == function) found.push_back(leaf);
  return found;
}

// A host-like table: host APIC ID 7 in leaf 1, a host topology in 0xB.
const std::vector<kvm_cpuid_entry2> kHost = {
    Leaf(0, 0, 0x1F, 0, 0, 0),
    Leaf(1, 0, 0x000A0F12, 0x07080800, 0x80200001, 0x078BFBFF),
    Leaf(4, 0, 0x1C004121, 0, 0, 0),
    Leaf(4, 1, 0, 0, 0, 0),
    Leaf(0xB, 0, 1, 2, 0x100, 7),
    Leaf(0xB, 1, 4, 8, 0x201, 7),
    Leaf(0x80000008, 0, 0x3030, 0, 0x00017007, 0),
    Leaf(0x8000001E, 0, 7, 0x103, 0x300, 0),
};

}  // namespace

TEST_CASE("CoreIdBits is ceil(log2)") {
  CHECK(loader::CoreIdBits(1) == 0);
  CHECK(loader::CoreIdBits(2) == 1);
  CHECK(loader::CoreIdBits(3) == 2);
  CHECK(loader::CoreIdBits(4) == 2);
  CHECK(loader::CoreIdBits(64) == 6);
}

TEST_CASE("VpCpuid puts the VP's APIC ID in leaf 1 and the x2APIC leaves") {
  const auto leaves = loader::VpCpuid(kHost, 3, 4);
  const auto leaf1 = Find(leaves, 1);
  REQUIRE(leaf1.size() == 1);
  CHECK((leaf1[0].ebx >> 24) == 3);
  CHECK(((leaf1[0].ebx >> 16) & 0xFF) == 4);
  CHECK((leaf1[0].ebx & 0xFFFF) == 0x0800);  // brand index, CLFLUSH size kept
  CHECK((leaf1[0].edx & (1u << 28)) != 0);   // HTT
  CHECK(leaf1[0].eax == 0x000A0F12);

  const auto leaf_b = Find(leaves, 0xB);
  REQUIRE(leaf_b.size() == 3);
  for (const auto& sub : leaf_b) {
    CHECK(sub.edx == 3);
    CHECK(sub.flags == KVM_CPUID_FLAG_SIGNIFCANT_INDEX);
  }
  CHECK(leaf_b[0].ecx == 0x100);  // SMT, level 0
  CHECK(leaf_b[0].ebx == 1);
  CHECK(leaf_b[0].eax == 0);
  CHECK(leaf_b[1].ecx == 0x201);  // Core, level 1
  CHECK(leaf_b[1].ebx == 4);
  CHECK(leaf_b[1].eax == 2);
  CHECK(leaf_b[2].ecx == 2);  // invalid ends the list
  CHECK(leaf_b[2].ebx == 0);
  CHECK(Find(leaves, 0x1F).empty());  // the host had none

  const auto leaf4 = Find(leaves, 4);
  REQUIRE(leaf4.size() == 2);
  CHECK((leaf4[0].eax >> 26) == 3);
  CHECK((leaf4[0].eax & 0x03FFFFFF) == (0x1C004121u & 0x03FFFFFF));
  CHECK(leaf4[1].eax == 0);

  const auto amd8 = Find(leaves, 0x80000008);
  REQUIRE(amd8.size() == 1);
  CHECK((amd8[0].ecx & 0xFF) == 3);
  CHECK(((amd8[0].ecx >> 12) & 0xF) == 2);
  CHECK((amd8[0].ecx & 0x30000) == 0x10000);  // other bits kept

  const auto amd1e = Find(leaves, 0x8000001E);
  REQUIRE(amd1e.size() == 1);
  CHECK(amd1e[0].eax == 3);
  CHECK(amd1e[0].ebx == 3);
  CHECK(amd1e[0].ecx == 0);
}

TEST_CASE("VpCpuid with one VP clears HTT") {
  const auto leaves = loader::VpCpuid(kHost, 0, 1);
  const auto leaf1 = Find(leaves, 1);
  REQUIRE(leaf1.size() == 1);
  CHECK((leaf1[0].ebx >> 24) == 0);
  CHECK((leaf1[0].edx & (1u << 28)) == 0);
  const auto leaf_b = Find(leaves, 0xB);
  REQUIRE(leaf_b.size() == 3);
  CHECK(leaf_b[1].eax == 0);
  CHECK(leaf_b[1].ebx == 1);
}
