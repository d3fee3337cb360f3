// The KVM ioctl ABI as the loader uses it (Linux Documentation/virt/kvm/api.rst).
//
// Most structures come from <linux/kvm.h>. The ones ending in a flexible
// array do not: Debian 12's linux-libc-dev (6.1) declares those arrays with
// __DECLARE_FLEX_ARRAY, which puts them beside an empty struct. An empty
// struct is one byte in C++, so under g++ sizeof(kvm_cpuid2) is 12 instead
// of 8, the entries move, and every _IOW/_IOWR number built from the type
// encodes the wrong size (the kernel then answers EINVAL or ENOTTY). Here
// each such structure is a fixed header plus a separate entry array, and the
// ioctl numbers are built from the header, whose size is what the kernel
// encodes (the array is not part of sizeof in C).
//
// Not here: anything for in-kernel Hyper-V emulation; the loader keeps
// Hyper-V in user space (ENVIRONMENT.md, hyperv-vmbus.md §1.4).
#pragma once

#include <linux/kvm.h>
#include <sys/ioctl.h>

#include <array>
#include <cstddef>
#include <cstdint>

namespace kvm::abi {

// api.rst 4.46 KVM_SET_CPUID2 / 4.5 KVM_GET_SUPPORTED_CPUID:
//   struct kvm_cpuid2 { __u32 nent; __u32 padding; struct kvm_cpuid_entry2 entries[0]; };
struct Cpuid2Header {
  uint32_t nent;
  uint32_t padding;
};
static_assert(sizeof(Cpuid2Header) == 8);
static_assert(sizeof(kvm_cpuid_entry2) == 40);
static_assert(offsetof(kvm_cpuid_entry2, eax) == 12);

// Room for every leaf a current KVM reports (a few dozen today; the
// kernel's own limit, KVM_MAX_CPUID_ENTRIES, is 256).
inline constexpr uint32_t kMaxCpuidEntries = 256;
struct CpuidBuffer {
  Cpuid2Header header;
  std::array<kvm_cpuid_entry2, kMaxCpuidEntries> entries;
};
static_assert(offsetof(CpuidBuffer, entries) == 8);

// api.rst 4.18 KVM_GET_MSRS / KVM_SET_MSRS:
//   struct kvm_msrs { __u32 nmsrs; __u32 pad; struct kvm_msr_entry entries[0]; };
struct MsrsHeader {
  uint32_t nmsrs;
  uint32_t pad;
};
static_assert(sizeof(MsrsHeader) == 8);
static_assert(sizeof(kvm_msr_entry) == 16);
static_assert(offsetof(kvm_msr_entry, data) == 8);

inline constexpr uint32_t kMaxMsrEntries = 16;
struct MsrBuffer {
  MsrsHeader header;
  std::array<kvm_msr_entry, kMaxMsrEntries> entries;
};
static_assert(offsetof(MsrBuffer, entries) == 8);

inline constexpr unsigned long kGetSupportedCpuid = _IOWR(KVMIO, 0x05, Cpuid2Header);
inline constexpr unsigned long kSetCpuid2 = _IOW(KVMIO, 0x90, Cpuid2Header);
inline constexpr unsigned long kGetMsrs = _IOWR(KVMIO, 0x88, MsrsHeader);
inline constexpr unsigned long kSetMsrs = _IOW(KVMIO, 0x89, MsrsHeader);

// Fixed-size structures whose <linux/kvm.h> form is correct under C++:
// pinned here so a header change cannot slip by.
static_assert(sizeof(kvm_userspace_memory_region) == 32);
static_assert(sizeof(kvm_regs) == 144);
static_assert(sizeof(kvm_segment) == 24);
static_assert(sizeof(kvm_sregs) == 312);
static_assert(sizeof(kvm_enable_cap) == 104);
static_assert(sizeof(kvm_pit_config) == 64);  // { u32 flags; u32 pad[15]; }
static_assert(sizeof(kvm_irq_level) == 8);
static_assert(sizeof(kvm_mp_state) == 4);
static_assert(sizeof(kvm_lapic_state) == 1024);
static_assert(sizeof(kvm_vcpu_events) == 64);
static_assert(sizeof(kvm_msi) == 32);
// { u32 flags; u32 nmsrs; u32 base; u8 *bitmap; }: the pointer is 8-aligned.
static_assert(sizeof(kvm_msr_filter_range) == 24);
static_assert(offsetof(kvm_msr_filter_range, bitmap) == 16);
static_assert(sizeof(kvm_msr_filter) == 8 + 24 * KVM_MSR_FILTER_MAX_RANGES);
// kvm_run: the exit union starts at 32 and is 256 bytes (api.rst 5).
static_assert(offsetof(kvm_run, io) == 32);
static_assert(offsetof(kvm_run, msr) == 32);
static_assert(offsetof(kvm_run, kvm_valid_regs) == 288);

}  // namespace kvm::abi
