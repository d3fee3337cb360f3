#include "vm.h"

#include <linux/kvm.h>

#include <cstdint>
#include <vector>

#include "base/checked.h"
#include "base/page.h"
#include "os/ioctl.h"
#include "kvm_abi.h"

namespace kvm {

base::Result<Vm> Vm::Create(const KvmSystem& system) {
  const size_t mmap_size = TRY(system.VcpuMmapSize());
  // api.rst 4.2 KVM_CREATE_VM: machine type 0 is the default on x86.
  const int fd = TRY(os::Ioctl(system.fd(), KVM_CREATE_VM, 0UL, "KVM_CREATE_VM"));
  return Vm(os::UniqueFd(fd), mmap_size);
}

base::Result<uint32_t> Vm::DefaultTscKhz() const {
  const int khz = TRY(os::Ioctl(fd_, KVM_GET_TSC_KHZ, 0UL, "KVM_GET_TSC_KHZ (VM)"));
  if (khz <= 0) return base::Error::Format("KVM_GET_TSC_KHZ (VM) returned %d", khz);
  return static_cast<uint32_t>(khz);
}

base::Result<void> Vm::SetDefaultTscKhz(uint32_t khz) {
  TRY(os::Ioctl(fd_, KVM_SET_TSC_KHZ, static_cast<unsigned long>(khz), "KVM_SET_TSC_KHZ (VM)"));
  return base::Ok();
}

base::Result<void> Vm::MapRam(uint32_t slot, mem::Gpa gpa, const GuestRam& ram,
                              uint64_t ram_offset, uint64_t size_bytes, bool read_only) {
  if (!base::IsAligned(mem::ToU64(gpa), base::kPageSize) ||
      !base::IsAligned(ram_offset, base::kPageSize) ||
      !base::IsAligned(size_bytes, base::kPageSize) || size_bytes == 0)
    return base::Error("memory slot: address, offset and size must be page-aligned");
  if (!base::RangeFits(ram_offset, size_bytes, ram.size_bytes()))
    return base::Error("memory slot: range lies outside guest RAM");
  if (!base::CheckedAdd(mem::ToU64(gpa), size_bytes))
    return base::Error("memory slot: guest range wraps");
  kvm_userspace_memory_region region{};
  region.slot = slot;
  region.flags = read_only ? KVM_MEM_READONLY : 0;
  region.guest_phys_addr = mem::ToU64(gpa);
  region.memory_size = size_bytes;
  region.userspace_addr = reinterpret_cast<uintptr_t>(ram.bytes().data()) + ram_offset;
  TRY(os::Ioctl(fd_, KVM_SET_USER_MEMORY_REGION, &region, "KVM_SET_USER_MEMORY_REGION"));
  return base::Ok();
}

base::Result<void> Vm::TrapMsrs(std::span<const MsrRange> ranges) {
  return TrapMsrsFor(ranges, KVM_MSR_EXIT_REASON_FILTER);
}

base::Result<void> Vm::TrapMsrsAndUnknown(std::span<const MsrRange> ranges) {
  return TrapMsrsFor(ranges, KVM_MSR_EXIT_REASON_FILTER | KVM_MSR_EXIT_REASON_UNKNOWN);
}

base::Result<void> Vm::UnmapSlot(uint32_t slot) {
  kvm_userspace_memory_region region{};
  region.slot = slot;
  TRY(os::Ioctl(fd_, KVM_SET_USER_MEMORY_REGION, &region, "KVM_SET_USER_MEMORY_REGION(remove)"));
  return base::Ok();
}

base::Result<void> Vm::CreateSplitIrqchip(uint32_t ioapic_pins) {
  kvm_enable_cap cap{};
  cap.cap = KVM_CAP_SPLIT_IRQCHIP;
  cap.args[0] = ioapic_pins;
  TRY(os::Ioctl(fd_, KVM_ENABLE_CAP, &cap, "KVM_ENABLE_CAP(SPLIT_IRQCHIP)"));
  return base::Ok();
}

base::Result<void> Vm::SignalMsi(uint32_t apic_id, uint8_t vector) {
  if (apic_id > 0xFF) return base::Error::Format("MSI to APIC ID %u: xAPIC IDs are 8 bits", apic_id);
  kvm_msi msi{};
  msi.address_lo = 0xFEE00000u | (apic_id << 12);  // SDM vol. 3A §11.11.1: RH=0, DM=0 (physical)
  msi.data = vector;                               // §11.11.2: fixed, edge
  // api.rst 4.71: > 0 delivered, 0 blocked (e.g. the LAPIC is disabled).
  const int delivered = TRY(os::Ioctl(fd_, KVM_SIGNAL_MSI, &msi, "KVM_SIGNAL_MSI"));
  if (delivered == 0)
    return base::Error::Format("MSI vector 0x%x to APIC %u was not delivered", vector, apic_id);
  return base::Ok();
}

base::Result<void> Vm::SignalMsiMessage(uint64_t address, uint32_t data) {
  kvm_msi msi{};
  msi.address_lo = static_cast<uint32_t>(address);
  msi.address_hi = static_cast<uint32_t>(address >> 32);
  msi.data = data;
  // 0 means the interrupt was blocked (a disabled LAPIC, a bad address):
  // the guest's own doing, as on hardware; not an error of the device.
  TRY(os::Ioctl(fd_, KVM_SIGNAL_MSI, &msi, "KVM_SIGNAL_MSI"));
  return base::Ok();
}

base::Result<void> Vm::TrapMsrsFor(std::span<const MsrRange> ranges, uint32_t reasons) {
  if (ranges.size() > KVM_MSR_FILTER_MAX_RANGES)
    return base::Error::Format("at most %d trapped MSR ranges", KVM_MSR_FILTER_MAX_RANGES);
  kvm_enable_cap cap{};
  cap.cap = KVM_CAP_X86_USER_SPACE_MSR;
  cap.args[0] = reasons;
  TRY(os::Ioctl(fd_, KVM_ENABLE_CAP, &cap, "KVM_ENABLE_CAP(X86_USER_SPACE_MSR)"));

  // api.rst 4.126: a set bitmap bit allows the access, a clear bit denies
  // it; a denied access exits with reason FILTER because of the cap above.
  // All-zero bitmaps deny the whole range. The kernel copies them, so they
  // only need to live across the ioctl.
  std::vector<std::vector<uint8_t>> bitmaps;
  bitmaps.reserve(ranges.size());
  kvm_msr_filter filter{};
  filter.flags = KVM_MSR_FILTER_DEFAULT_ALLOW;
  for (size_t i = 0; i < ranges.size(); ++i) {
    const uint32_t count = ranges[i].count;
    if (count == 0 || count > KVM_MSR_FILTER_MAX_BITMAP_SIZE * 8)
      return base::Error::Format("trapped MSR range of %u MSRs", count);
    bitmaps.emplace_back((count + 7) / 8, uint8_t{0});
    filter.ranges[i].flags = KVM_MSR_FILTER_READ | KVM_MSR_FILTER_WRITE;
    filter.ranges[i].nmsrs = count;
    filter.ranges[i].base = ranges[i].first;
    filter.ranges[i].bitmap = bitmaps.back().data();
  }
  TRY(os::Ioctl(fd_, KVM_X86_SET_MSR_FILTER, &filter, "KVM_X86_SET_MSR_FILTER"));
  return base::Ok();
}

base::Result<void> Vm::CreateIrqchip() {
  TRY(os::Ioctl(fd_, KVM_CREATE_IRQCHIP, 0UL, "KVM_CREATE_IRQCHIP"));
  return base::Ok();
}

base::Result<void> Vm::CreatePit() {
  kvm_pit_config config{};
  config.flags = KVM_PIT_SPEAKER_DUMMY;
  TRY(os::Ioctl(fd_, KVM_CREATE_PIT2, &config, "KVM_CREATE_PIT2"));
  return base::Ok();
}

base::Result<void> Vm::SetIrqLine(uint32_t gsi, bool level) {
  kvm_irq_level line{};
  line.irq = gsi;
  line.level = level ? 1 : 0;
  TRY(os::Ioctl(fd_, KVM_IRQ_LINE, &line, "KVM_IRQ_LINE"));
  return base::Ok();
}

}  // namespace kvm
