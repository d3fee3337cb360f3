#include "hyperv/cpuid_leaves.h"

#include "kvm/cpuid_entry.h"

#include <doctest/doctest.h>

#include <cstring>
#include <string>
#include <vector>

#include "vp_cpuid.h"

namespace {

using namespace loader::hyperv;

kvm_cpuid_entry2 Leaf(uint32_t function, uint32_t eax, uint32_t ebx, uint32_t ecx, uint32_t edx) {
  return kvm::MakeCpuidEntry(function, 0, eax, ebx, ecx, edx);
}

const kvm_cpuid_entry2* Find(const std::vector<kvm_cpuid_entry2>& leaves, uint32_t function) {
  for (const auto& leaf : leaves)
    if (leaf.function == function) return &leaf;
  return nullptr;
}

// What KVM_GET_SUPPORTED_CPUID looks like: KVM's signature in the
// hypervisor range.
const std::vector<kvm_cpuid_entry2> kHost = {
    Leaf(0, 0x1F, 0, 0, 0),
    Leaf(1, 0x000806F8, 0x07100800, 0x7FFAFBFF, 0xBFEBFBFF),
    Leaf(0x40000000, 0x40000001, 0x4B4D564B, 0x564B4D56, 0x0000004D),  // "KVMKVMKVM"
    Leaf(0x40000001, 0x01007AFB, 0, 0, 0),
    Leaf(0x40000100, 0x40000101, 0x4B4D564B, 0x564B4D56, 0x0000004D),
};

}  // namespace

TEST_CASE("hv cpuid: signature, interface, limits") {
  const HvConfig config{.vp_count = 4, .tsc_hz = 0, .apic_hz = 0};
  const auto leaves = HvLeaves(config);
  const auto* vendor = Find(leaves, 0x40000000);
  REQUIRE(vendor != nullptr);
  CHECK(vendor->eax == 0x40000005);
  // "Microsoft Hv" in EBX, ECX, EDX.
  char name[13] = {};
  std::memcpy(name, &vendor->ebx, 4);
  std::memcpy(name + 4, &vendor->ecx, 4);
  std::memcpy(name + 8, &vendor->edx, 4);
  CHECK(std::string(name) == "Microsoft Hv");
  const auto* interface = Find(leaves, 0x40000001);
  REQUIRE(interface != nullptr);
  std::memcpy(name, &interface->eax, 4);
  name[4] = 0;
  CHECK(std::string(name) == "Hv#1");
  const auto* limits = Find(leaves, 0x40000005);
  REQUIRE(limits != nullptr);
  CHECK(limits->eax == 4);
  CHECK(limits->ebx == 4);
  CHECK(Find(leaves, 0x40000002) != nullptr);
}

TEST_CASE("hv cpuid: VTL2 privileges, never CpuManagement or Isolation") {
  const auto plain = HvLeaves(HvConfig{.vp_count = 1, .tsc_hz = 0, .apic_hz = 0});
  const auto* features = Find(plain, 0x40000003);
  REQUIRE(features != nullptr);
  for (int bit : {1, 2, 5, 6, 9}) CHECK((features->eax >> bit & 1) == 1);
  CHECK((features->eax >> 11 & 1) == 0);
  for (int bit : {4, 5, 16, 17, 21}) CHECK((features->ebx >> bit & 1) == 1);
  CHECK((features->ebx >> 12 & 1) == 0);
  CHECK((features->ebx >> 22 & 1) == 0);
  CHECK((features->edx >> 8 & 1) == 0);

  const auto freq =
      HvLeaves(HvConfig{.vp_count = 1, .tsc_hz = 2'000'000'000, .apic_hz = 1'000'000'000});
  const auto* with_freq = Find(freq, 0x40000003);
  REQUIRE(with_freq != nullptr);
  CHECK((with_freq->eax >> 11 & 1) == 1);
  CHECK((with_freq->edx >> 8 & 1) == 1);

  const auto* hints = Find(plain, 0x40000004);
  REQUIRE(hints != nullptr);
  CHECK(hints->eax == ((1u << 9) | (1u << 3)));  // deprecate AutoEOI; APIC MSRs (lazy EOI)
  CHECK(hints->ebx == 0xFFFFFFFF);
  CHECK((features->eax >> 4 & 1) == 1);  // AccessApicMsrs, which hint 3 needs
}

TEST_CASE("hv cpuid: the APIC MSRs and their hint are VTL2's only") {
  const auto vtl0 = HvLeaves(HvConfig{.vp_count = 1, .tsc_hz = 0, .apic_hz = 0, .vtl = 0});
  CHECK((Find(vtl0, 0x40000003)->eax >> 4 & 1) == 0);
  CHECK(Find(vtl0, 0x40000004)->eax == (1u << 9));
}

TEST_CASE("hv cpuid: KVM's leaves replaced, hypervisor bit set, per VP through VpCpuid") {
  const auto merged = WithHvLeaves(kHost, HvConfig{.vp_count = 2, .tsc_hz = 0, .apic_hz = 0});
  for (const auto& leaf : merged) {
    CHECK(leaf.ebx != 0x4B4D564B);  // no "KVMK" anywhere
    CHECK(leaf.function != 0x40000100);
  }
  const auto* leaf1 = Find(merged, 1);
  REQUIRE(leaf1 != nullptr);
  CHECK((leaf1->ecx >> 31) == 1);
  CHECK(Find(merged, 0x40000000)->ebx == kVendorEbx);

  const auto vp1 = loader::VpCpuid(merged, 1, 2);
  CHECK(Find(vp1, 0x40000000)->eax == 0x40000005);
  CHECK(Find(vp1, 0x40000003) != nullptr);
  CHECK((Find(vp1, 1)->ecx >> 31) == 1);
  CHECK((Find(vp1, 1)->ebx >> 24) == 1);
}

TEST_CASE("hv cpuid: --isolation vbs is VTL2's to see (B.22, leaf 0x4000000C), never VTL0's") {
  HvConfig config{.vp_count = 2, .tsc_hz = 0, .apic_hz = 0};
  const auto plain = HvLeaves(config);
  CHECK((Find(plain, 0x40000003)->ebx & (1u << 22)) == 0);
  CHECK(Find(plain, 0x4000000C) == nullptr);
  config.isolated_vbs = true;
  const auto vtl2 = HvLeaves(config);
  CHECK(Find(vtl2, 0x40000000)->eax == 0x4000000C);
  CHECK((Find(vtl2, 0x40000003)->ebx & (1u << 22)) != 0);
  const auto* isolation = Find(vtl2, 0x4000000C);
  REQUIRE(isolation != nullptr);
  CHECK((isolation->ebx & 0xF) == 1);   // VBS
  CHECK((isolation->ebx & (1u << 5)) == 0);  // no shared-GPA boundary
  CHECK(isolation->eax == 0);           // VTL2 is the paravisor
  for (uint32_t leaf = 0x40000006; leaf < 0x4000000C; ++leaf) {
    const auto* between = Find(vtl2, leaf);
    REQUIRE(between != nullptr);
    CHECK((between->eax | between->ebx | between->ecx | between->edx) == 0);
  }
  config.vtl = 0;
  const auto vtl0 = HvLeaves(config);
  CHECK(Find(vtl0, 0x40000000)->eax == 0x40000005);
  CHECK((Find(vtl0, 0x40000003)->ebx & (1u << 22)) == 0);
  CHECK(Find(vtl0, 0x4000000C) == nullptr);
}
