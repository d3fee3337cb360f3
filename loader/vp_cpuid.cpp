#include "vp_cpuid.h"

namespace loader {
namespace {

constexpr uint32_t kHtt = 1u << 28;  // CPUID.1:EDX[28], SDM vol. 2A Table 3-11

// SDM vol. 2A, CPUID leaf 0BH: ECX[15:8] level type.
constexpr uint32_t kLevelInvalid = 0;
constexpr uint32_t kLevelSmt = 1;
constexpr uint32_t kLevelCore = 2;

}  // namespace

uint32_t CoreIdBits(uint32_t vp_count) {
  uint32_t bits = 0;
  while ((uint64_t{1} << bits) < vp_count) ++bits;
  return bits;
}

std::vector<kvm_cpuid_entry2> VpCpuid(std::span<const kvm_cpuid_entry2> supported, uint32_t apic_id,
                                      uint32_t vp_count) {
  const uint32_t core_bits = CoreIdBits(vp_count);
  std::vector<kvm_cpuid_entry2> out;
  bool have_b = false;
  bool have_1f = false;
  for (const kvm_cpuid_entry2& in : supported) {
    if (in.function == 0xB) {
      have_b = true;
      continue;  // rebuilt below
    }
    if (in.function == 0x1F) {
      have_1f = true;
      continue;
    }
    kvm_cpuid_entry2 entry = in;
    switch (entry.function) {
      case 1:
        entry.ebx = (entry.ebx & 0x0000FFFFu) | (apic_id << 24);
        if (vp_count > 1) {
          entry.ebx |= (uint32_t{1} << core_bits) << 16;
          entry.edx |= kHtt;
        } else {
          entry.ebx |= 1u << 16;
          entry.edx &= ~kHtt;
        }
        break;
      case 4:
        // EAX[4:0] cache type 0: no more caches; leave those alone.
        if ((entry.eax & 0x1F) != 0)
          entry.eax = (entry.eax & 0x03FFFFFFu) | (((uint32_t{1} << core_bits) - 1) << 26);
        break;
      case 0x80000008:
        entry.ecx = (entry.ecx & ~0xF0FFu) | (core_bits << 12) | (vp_count - 1);
        break;
      case 0x8000001E:
        entry.eax = apic_id;
        entry.ebx = apic_id & 0xFF;  // [15:8] threads per core - 1 = 0
        entry.ecx = 0;               // node 0, one node per processor
        break;
      default:
        break;
    }
    out.push_back(entry);
  }
  for (const uint32_t function : {0xBu, 0x1Fu}) {
    if ((function == 0xB && !have_b) || (function == 0x1F && !have_1f)) continue;
    const uint32_t levels[3][3] = {
        // EAX: shift to the next level's ID; EBX: processors at this level;
        // ECX: level type << 8 | level number.
        {0, 1, (kLevelSmt << 8) | 0},
        {core_bits, vp_count, (kLevelCore << 8) | 1},
        {0, 0, (kLevelInvalid << 8) | 2},
    };
    for (uint32_t index = 0; index < 3; ++index) {
      kvm_cpuid_entry2 entry{};
      entry.function = function;
      entry.index = index;
      entry.flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX;
      entry.eax = levels[index][0];
      entry.ebx = levels[index][1];
      entry.ecx = levels[index][2];
      entry.edx = apic_id;
      out.push_back(entry);
    }
  }
  return out;
}

uint64_t OfferedXsaveComponents(std::span<const kvm_cpuid_entry2> cpuid) {
  constexpr uint32_t kXsave = 1u << 26;  // CPUID.1:ECX.XSAVE
  bool xsave = false;
  uint64_t components = 0;
  for (const kvm_cpuid_entry2& entry : cpuid) {
    if (entry.function == 1) xsave = (entry.ecx & kXsave) != 0;
    if (entry.function == 0xD && entry.index == 0)
      components = (uint64_t{entry.edx} << 32) | entry.eax;
  }
  return xsave ? components : 0;
}

}  // namespace loader
