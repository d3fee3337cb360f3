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

}  // namespace loader
