// MakeCpuidEntry: one kvm_cpuid_entry2 (KVM api.rst, KVM_SET_CPUID2) from
// its leaf, subleaf and register values; the flags stay 0, as for leaves
// without a significant index.
#pragma once

#include <linux/kvm.h>

#include <cstdint>

namespace kvm {

inline kvm_cpuid_entry2 MakeCpuidEntry(uint32_t function, uint32_t index, uint32_t eax,
                                       uint32_t ebx, uint32_t ecx, uint32_t edx) {
  kvm_cpuid_entry2 entry{};
  entry.function = function;
  entry.index = index;
  entry.eax = eax;
  entry.ebx = ebx;
  entry.ecx = ecx;
  entry.edx = edx;
  return entry;
}

}  // namespace kvm
