// Per-VP CPUID: the leaves that name a VP and the machine's topology.
//
// KVM_GET_SUPPORTED_CPUID describes what the host can offer, with the
// host's own topology and zero or host APIC IDs in it; KVM hands the guest
// whatever KVM_SET_CPUID2 gave it and does not fill in the initial APIC ID
// (a VMMs' job: QEMU's cpu_x86_cpuid does it per vCPU). The in-kernel
// LAPIC's ID is the vCPU id (KVM_CREATE_VCPU), which the MADT lists
// (acpi_madt.h), so each VP's CPUID must say the same:
//   - leaf 1 EBX[31:24], the initial APIC ID (SDM vol. 2A, CPUID, Table
//     3-8), EBX[23:16] the addressable logical processor IDs per package
//     and EDX[28] HTT when there are several (SDM vol. 3A §9.4.3);
//   - leaves 0xB and 0x1F, extended topology (SDM vol. 3A §9.4.4, Table
//     3-8): EDX the x2APIC ID; one package of vp_count cores of one thread
//     each: level 0 SMT (shift 0, 1 processor), level 1 Core (shift
//     ceil(log2(vp_count)), vp_count processors), level 2 invalid;
//   - leaf 4 EAX[31:26], the addressable core IDs per package - 1 (Intel);
//   - AMD: 0x80000008 ECX[7:0] NC (cores - 1) and [15:12] ApicIdCoreIdSize
//     (AMD APM vol. 3, E.4.7), 0x8000001E EAX the extended APIC ID, EBX
//     core ID with one thread per core, ECX node 0 (E.4.16).
// Leaves absent from `supported` stay absent.
#pragma once

#include <linux/kvm.h>

#include <cstdint>
#include <span>
#include <vector>

namespace loader {

// `supported` with VP `apic_id`'s identity, of a machine of `vp_count` VPs
// (1..256, APIC IDs 0..vp_count-1).
std::vector<kvm_cpuid_entry2> VpCpuid(std::span<const kvm_cpuid_entry2> supported, uint32_t apic_id,
                                      uint32_t vp_count);

// ceil(log2(vp_count)): the APIC ID bits the cores of one package take.
uint32_t CoreIdBits(uint32_t vp_count);

// The XSAVE state components `cpuid` offers (leaf 0xD sub-leaf 0, EDX:EAX:
// SDM vol. 1 §13.2), or 0 when it offers no XSAVE (leaf 1 ECX[26]).
//
// hcl-loader sets each vCPU's XCR0 to this before the guest runs
// (KVM_SET_XCRS), because in the carrier KVM never sees the guest's XSETBV:
// QEMU 7.2's TCG runs XSETBV in a nested guest without its SVM intercept,
// so KVM's copy of XCR0 keeps its reset value (x87 only). KVM then reports
// CPUID.(EAX=0DH,ECX=0):EBX, the save area the enabled components need,
// for x87 alone (576 bytes where x87, SSE and AVX need 832), and loads
// that XCR0 at every guest entry: Linux 6.1 finds the sizes inconsistent
// and turns XSAVE off ("XSAVE consistency problem"), Linux 5.10 sizes its
// buffers from the short EBX and kills init with a bad signal frame. With
// XCR0 holding every offered component, EBX is right for the XCR0 every
// Linux enables (all of them), and KVM keeps that XCR0. On a host whose
// KVM sees XSETBV it is only a reset value the guest overwrites.
uint64_t OfferedXsaveComponents(std::span<const kvm_cpuid_entry2> cpuid);

}  // namespace loader
