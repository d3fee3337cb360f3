#include "hyperv/cpuid_leaves.h"

#include "kvm/cpuid_entry.h"

namespace loader::hyperv {
namespace {

kvm_cpuid_entry2 Leaf(uint32_t function, uint32_t eax, uint32_t ebx, uint32_t ecx, uint32_t edx) {
  return kvm::MakeCpuidEntry(function, 0, eax, ebx, ecx, edx);
}

// TLFS "Hypervisor Version Information" (0x40000002): EAX build number,
// EBX major << 16 | minor, ECX service pack, EDX branch << 24 | number.
// Guests print it; this is hcl-loader's own 1.0 build 1.
constexpr uint32_t kBuildNumber = 1;
constexpr uint32_t kVersion = (1u << 16) | 0;

bool InHypervisorRange(uint32_t function) {
  return function >= 0x40000000 && function <= 0x4FFFFFFF;
}

}  // namespace

std::vector<kvm_cpuid_entry2> HvLeaves(const HvConfig& config) {
  uint32_t a = kPrivAccessPartitionReferenceCounter | kPrivAccessSynicRegs |
               kPrivAccessHypercallMsrs | kPrivAccessVpIndex | kPrivAccessPartitionReferenceTsc |
               kPrivAccessTscInvariantControls;
  // VTL0 (a guest under the paravisor) posts messages and signals events
  // (VMBus); only VTL2 manages VTLs and other VPs' registers.
  const bool isolated = config.isolated_vbs && config.vtl == 2;
  uint32_t b = kPrivPostMessages | kPrivSignalEvents |
                     (config.vtl == 2 ? kPrivAccessVsm | kPrivAccessVpRegisters |
                                            kPrivStartVirtualProcessor
                                      : 0u);
  static_assert(((kPrivPostMessages | kPrivSignalEvents | kPrivAccessVsm | kPrivAccessVpRegisters |
                  kPrivStartVirtualProcessor) &
                 (kPrivCpuManagement | kPrivIsolation)) == 0);
  if (isolated) b |= kPrivIsolation;
  uint32_t d = 0;
  uint32_t hints = kHintDeprecateAutoEoi;
  if (config.vtl == 2) {
    a |= kPrivAccessApicMsrs;
    hints |= kHintApicMsrs;
  }
  if (config.frequency_msrs()) {
    a |= kPrivAccessFrequencyMsrs;
    d |= kFeatureFrequencyMsrsAvailable;
  }
  std::vector<kvm_cpuid_entry2> leaves = {
      Leaf(kLeafVendor, isolated ? kLeafIsolation : kMaxLeaf, kVendorEbx, kVendorEcx, kVendorEdx),
      Leaf(kLeafInterface, kInterfaceHv1, 0, 0, 0),
      Leaf(kLeafVersion, kBuildNumber, kVersion, 0, 0),
      Leaf(kLeafFeatures, a, b, 0, d),
      Leaf(kLeafHints, hints, kSpinWaitNever, 0, 0),
      Leaf(kLeafLimits, config.vp_count, config.vp_count, 0, 0),
  };
  if (isolated) {
    // The leaves between exist once the maximum is 0x4000000C: all zero
    // (no hardware features, CPU management or nested leaves offered).
    for (uint32_t leaf = kLeafLimits + 1; leaf < kLeafIsolation; ++leaf)
      leaves.push_back(Leaf(leaf, 0, 0, 0, 0));
    leaves.push_back(Leaf(kLeafIsolation, 0, kIsolationTypeVbs, 0, 0));
  }
  return leaves;
}

std::vector<kvm_cpuid_entry2> WithHvLeaves(std::span<const kvm_cpuid_entry2> supported,
                                           const HvConfig& config) {
  std::vector<kvm_cpuid_entry2> out;
  for (const kvm_cpuid_entry2& in : supported) {
    if (InHypervisorRange(in.function)) continue;  // KVM's signature leaves
    kvm_cpuid_entry2 entry = in;
    if (entry.function == 1) entry.ecx |= kHypervisorPresent;
    out.push_back(entry);
  }
  for (const kvm_cpuid_entry2& leaf : HvLeaves(config)) out.push_back(leaf);
  return out;
}

}  // namespace loader::hyperv
