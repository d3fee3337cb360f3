// Vm: one KVM virtual machine: memory slots, the MSR filter that sends
// chosen MSRs to user space, and optionally the in-kernel irqchip
// (api.rst §4, "vm ioctls").
//
// Several Vm objects may map the same GuestRam (one VM per VTL); each
// keeps its own slots. Hyper-V emulation stays in user space: no
// KVM_CAP_HYPERV_* is enabled here (hyperv-vmbus.md §1.4).
#pragma once

#include <cstdint>
#include <span>

#include "base/result.h"
#include "kvm/vcpu_state.h"
#include "guest_ram.h"
#include "mem/guest_memory.h"
#include "system.h"
#include "os/unique_fd.h"

namespace kvm {

// An MSR range [first, first + count) that exits to user space.
struct MsrRange {
  uint32_t first;
  uint32_t count;
};

class Vm final : public MsiTarget {
 public:
  static base::Result<Vm> Create(const KvmSystem& system);

  // KVM_SET_USER_MEMORY_REGION: guest [gpa, gpa + size_bytes) is RAM at
  // ram offset `ram_offset`; `read_only`: stores exit as MMIO
  // (KVM_MEM_READONLY, api.rst 4.35, with KVM_CAP_READONLY_MEM). Page-aligned; the range must lie in `ram`,
  // which must outlive the VM.
  base::Result<void> MapRam(uint32_t slot, mem::Gpa gpa, const GuestRam& ram,
                            uint64_t ram_offset, uint64_t size_bytes, bool read_only = false);

  // KVM_CAP_X86_USER_SPACE_MSR with reason FILTER only (api.rst 7.21),
  // then KVM_X86_SET_MSR_FILTER (api.rst 4.126) allowing everything except
  // `ranges`, whose reads and writes exit as KVM_EXIT_X86_RDMSR/WRMSR.
  base::Result<void> TrapMsrs(std::span<const MsrRange> ranges);
  // As TrapMsrs, and also MSRs KVM does not implement exit to user space
  // (KVM_MSR_EXIT_REASON_UNKNOWN) instead of raising #GP in the kernel.
  base::Result<void> TrapMsrsAndUnknown(std::span<const MsrRange> ranges);
  // The TSC rate KVM gives vCPUs created from now on (KVM_GET_TSC_KHZ and
  // KVM_SET_TSC_KHZ as VM ioctls, api.rst 4.55-4.56; KVM_CAP_VM_TSC_CONTROL).
  // Only hcl-loader run --test-tsc-skew-ppm sets it.
  base::Result<uint32_t> DefaultTscKhz() const;
  base::Result<void> SetDefaultTscKhz(uint32_t khz);
  // KVM_SET_USER_MEMORY_REGION with size 0: slot `slot` is gone (api.rst
  // 4.35); accesses there exit as MMIO.
  base::Result<void> UnmapSlot(uint32_t slot);
  // KVM_CAP_SPLIT_IRQCHIP (api.rst 7.15): local APICs in the kernel, the
  // IOAPIC and PIC emulated in user space; `ioapic_pins` routes reserved.
  // Must precede every vCPU. Interrupts then arrive by SignalMsi.
  base::Result<void> CreateSplitIrqchip(uint32_t ioapic_pins);
  // KVM_SIGNAL_MSI (api.rst 4.71): a message-signalled interrupt, here a
  // fixed interrupt `vector` to the local APIC `apic_id` (physical
  // destination; Intel SDM vol. 3A §11.11.1 address/data layout).
  base::Result<void> SignalMsi(uint32_t apic_id, uint8_t vector) override;
  // KVM_SIGNAL_MSI with a device's message as the guest programmed it
  // (an MSI-X table entry): KVM decodes destination, mode and vector.
  base::Result<void> SignalMsiMessage(uint64_t address, uint32_t data);

  // KVM_CREATE_IRQCHIP: in-kernel local APICs, IOAPIC and PIC (api.rst
  // 4.24). Optional; without it HLT exits to user space.
  base::Result<void> CreateIrqchip();

  // KVM_CREATE_PIT2 (api.rst 4.61): an in-kernel i8254 on ports 0x40-0x43,
  // its channel 0 wired to IRQ 0, with KVM_PIT_SPEAKER_DUMMY so port 0x61
  // (the channel 2 gate Linux's PIT calibration polls) is answered in the
  // kernel too. Needs CreateIrqchip first.
  base::Result<void> CreatePit();

  // KVM_IRQ_LINE (api.rst 4.25): drives GSI `gsi` of the in-kernel
  // irqchip to `level`. KVM's default routing sends GSI 0-15 to both the
  // PIC and the IOAPIC pin of the same number.
  base::Result<void> SetIrqLine(uint32_t gsi, bool level);

  const os::UniqueFd& fd() const { return fd_; }
  size_t vcpu_mmap_size() const { return vcpu_mmap_size_; }

 private:
  base::Result<void> TrapMsrsFor(std::span<const MsrRange> ranges, uint32_t reasons);
  Vm(os::UniqueFd fd, size_t vcpu_mmap_size) : fd_(std::move(fd)), vcpu_mmap_size_(vcpu_mmap_size) {}

  os::UniqueFd fd_;
  size_t vcpu_mmap_size_;
};

}  // namespace kvm
