// The Hyper-V CPUID leaves a VTL2 guest of hcl-loader sees (TLFS
// "Feature and Interface Discovery"; hyperv-vmbus.md §1.1).
//
//   0x40000000  EAX max leaf 0x40000005, EBX:ECX:EDX "Microsoft Hv"
//   0x40000001  EAX "Hv#1": the Microsoft hypervisor interface
//   0x40000002  build information (printed by guests, never checked)
//   0x40000003  partition privileges A (EAX) / B (EBX), features D (EDX)
//   0x40000004  implementation recommendations (hints)
//   0x40000005  implementation limits: max VPs / LPs
//   CPUID.1:ECX[31], the hypervisor-present bit.
//
// KVM_GET_SUPPORTED_CPUID reports KVM's own signature leaves
// ("KVMKVMKVM" at 0x40000000, paravirt features at 0x40000001); a guest
// that saw both would pick one, so every leaf of the hypervisor range
// 0x40000000-0x4FFFFFFF from `supported` is dropped and replaced.
//
// Privileges for VTL2 (TLFS "Partition Privilege Flags"):
//   A: 1 AccessPartitionReferenceCounter (TIME_REF_COUNT), 2 AccessSynicRegs,
//      4 AccessApicMsrs (EOI, ICR, TPR; VTL2 only), 5 AccessHypercallMsrs (HYPERCALL + GUEST_OS_ID), 6 AccessVpIndex,
//      9 AccessPartitionReferenceTsc, 11 AccessFrequencyMsrs (only with
//      frequencies), 15 AccessTscInvariantControls (Linux's
//      ms_hyperv_init_platform marks the TSC unstable without it);
//   B: 4 PostMessages, 5 SignalEvents, 16 AccessVsm, 17 AccessVpRegisters,
//      21 StartVirtualProcessor (VTL2 only; VTL0 gets 4 and 5). Never 12 CpuManagement (Linux would think
//      it is the root partition). 22 Isolation only for VTL2 of an isolated
//      partition (--isolation vbs), which then also sees leaf 0x4000000C:
//      EBX[3:0] isolation type 1 (VBS), no shared-GPA boundary; EAX bit 0
//      (paravisor present) stays clear, VTL2 being the paravisor. VTL0 is
//      told nothing: the paravisor hides the isolation from its guest (the
//      guest's RAM stays private; hcl bounces its I/O).
//   D: 8 frequency MSRs available (with A.11).
// Hints: 9 deprecate AutoEOI (KVM's in-kernel LAPIC has no auto-EOI);
// spin-wait count 0xFFFFFFFF (never notify long spin waits); for VTL2
// also 3, "use the APIC MSRs", which is what makes Linux (hv_apic_init)
// end interrupts through the VP assist page's APIC assist word (TLFS
// "Lazy EOI"): where the hypervisor marked an interrupt as needing no EOI
// the guest clears the mark instead of writing the EOI register, and an
// exit per interrupt goes. KVM implements the mark (its PV EOI, bound to
// the assist page when hcl-loader gives KVM VTL2's VP_ASSIST_PAGE).
#pragma once

#include <linux/kvm.h>

#include <cstdint>
#include <span>
#include <vector>

namespace loader::hyperv {

// What the partition offers; shared by the CPUID leaves and the MSRs.
struct HvConfig {
  uint32_t vp_count = 1;
  // Nonzero: the frequency MSRs TSC_FREQUENCY / APIC_FREQUENCY exist
  // (A.11, D.8) and read these values in Hz.
  uint64_t tsc_hz = 0;
  uint64_t apic_hz = 0;
  // The VTL these leaves are for: 2 (the paravisor) or 0 (its guest, which
  // lacks the B.16/17/21 VSM privileges).
  uint8_t vtl = 2;
  // The partition is VBS-isolated (--isolation vbs): VTL2 sees it.
  bool isolated_vbs = false;

  bool frequency_msrs() const { return tsc_hz != 0 && apic_hz != 0; }
};

inline constexpr uint32_t kLeafVendor = 0x40000000;
inline constexpr uint32_t kLeafInterface = 0x40000001;
inline constexpr uint32_t kLeafVersion = 0x40000002;
inline constexpr uint32_t kLeafFeatures = 0x40000003;
inline constexpr uint32_t kLeafHints = 0x40000004;
inline constexpr uint32_t kLeafLimits = 0x40000005;
inline constexpr uint32_t kLeafIsolation = 0x4000000C;
inline constexpr uint32_t kMaxLeaf = kLeafLimits;
// TLFS "Isolation Configuration" (0x4000000C) EBX[3:0].
inline constexpr uint32_t kIsolationTypeVbs = 1;

// "Microsoft Hv" split over EBX, ECX, EDX; "Hv#1".
inline constexpr uint32_t kVendorEbx = 0x7263694D;  // "Micr"
inline constexpr uint32_t kVendorEcx = 0x666F736F;  // "osof"
inline constexpr uint32_t kVendorEdx = 0x76482074;  // "t Hv"
inline constexpr uint32_t kInterfaceHv1 = 0x31237648;

// Privilege / feature bits (TLFS "Partition Privilege Flags",
// "Feature Identification").
inline constexpr uint32_t kPrivAccessPartitionReferenceCounter = 1u << 1;
inline constexpr uint32_t kPrivAccessSynicRegs = 1u << 2;
inline constexpr uint32_t kPrivAccessApicMsrs = 1u << 4;
inline constexpr uint32_t kPrivAccessHypercallMsrs = 1u << 5;
inline constexpr uint32_t kPrivAccessVpIndex = 1u << 6;
inline constexpr uint32_t kPrivAccessPartitionReferenceTsc = 1u << 9;
inline constexpr uint32_t kPrivAccessFrequencyMsrs = 1u << 11;
inline constexpr uint32_t kPrivAccessTscInvariantControls = 1u << 15;
inline constexpr uint32_t kPrivPostMessages = 1u << 4;        // B
inline constexpr uint32_t kPrivSignalEvents = 1u << 5;        // B
inline constexpr uint32_t kPrivCpuManagement = 1u << 12;      // B, never
inline constexpr uint32_t kPrivAccessVsm = 1u << 16;          // B
inline constexpr uint32_t kPrivAccessVpRegisters = 1u << 17;  // B
inline constexpr uint32_t kPrivStartVirtualProcessor = 1u << 21;  // B
inline constexpr uint32_t kPrivIsolation = 1u << 22;          // B, isolated VTL2 only
inline constexpr uint32_t kFeatureFrequencyMsrsAvailable = 1u << 8;  // D
inline constexpr uint32_t kHintApicMsrs = 1u << 3;
inline constexpr uint32_t kHintDeprecateAutoEoi = 1u << 9;
inline constexpr uint32_t kSpinWaitNever = 0xFFFFFFFF;

inline constexpr uint32_t kHypervisorPresent = 1u << 31;  // CPUID.1:ECX[31]

// The six leaves 0x40000000-0x40000005 for `config`.
std::vector<kvm_cpuid_entry2> HvLeaves(const HvConfig& config);

// `supported` without any leaf of 0x40000000-0x4FFFFFFF, with HvLeaves
// appended and CPUID.1:ECX[31] set. Feed the result to VpCpuid per VP.
std::vector<kvm_cpuid_entry2> WithHvLeaves(std::span<const kvm_cpuid_entry2> supported,
                                           const HvConfig& config);

}  // namespace loader::hyperv
