// PciStorage: one VTL's PCI bus with an NVMe controller over host files,
// as hcl-loader builds it from --disk (VTL2: the device the paravisor
// drives) or --disk-vtl0 (VTL0: the same controller given straight to the
// guest, the reference the paravisor path is compared with).
//
// Layout: bus 0 behind the 0xCF8 mechanism (pci::Bus), the NVMe function
// at device 1 with one namespace per disk (and, with a guest state, a
// second NVMe function at device 2 with that file as its one namespace and
// model "HCL Guest State": devices/guest_state_file.h), its BARs placed in `window`
// the way firmware would before the OS runs (memory decoding and bus
// mastering on; the OS may move them within the window). MSI-X messages go
// to that VTL's VM (KVM_SIGNAL_MSI), DMA through GuestDma's policy.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "base/result.h"
#include "devices/file_disk.h"
#include "devices/guest_dma.h"
#include "devices/nvme_function.h"
#include "kvm/vm.h"
#include "pci/bus.h"

namespace loader::devices {

struct DiskSpec {
  std::string path;
  bool read_only = false;
};

// "PATH" or "PATH,ro" (hcl-loader --disk).
base::Result<DiskSpec> ParseDiskSpec(const std::string& text);

struct PciWindow {
  uint64_t base = 0;
  uint64_t bytes = 0;
};
// VTL2's PCI window: 128 MiB from 0xF0000000, above any RAM (memory_layout.h
// kMaxLowRamBytes) and VTL0's window (vtl0/acpi_tables.h kVtl0PciWindow),
// below the IOAPIC at 0xFEC00000.
inline constexpr PciWindow kVtl2PciWindow{0xF0000000, 0x08000000};

class PciStorage {
 public:
  // Called after an MSI went to local APIC `apic_id`: VTL2's interrupts
  // must reach a VP running VTL0 at once (TLFS "Secure Interrupts"), not at
  // its next tick.
  using MsiDelivered = std::function<void(uint32_t apic_id)>;

  // `memory` and `vm` (and what `visible` refers to) must outlive the
  // result. `visible`: GuestDma's policy (null: all of RAM).
  static base::Result<std::unique_ptr<PciStorage>> Create(const std::vector<DiskSpec>& disks,
                                                          PciWindow window, uint32_t vp_count,
                                                          mem::GuestMemory& memory, kvm::Vm& vm,
                                                          GuestDma::Visibility visible,
                                                          MsiDelivered delivered = nullptr,
                                                          const DiskSpec* guest_state = nullptr);

  pci::Bus& bus() { return *bus_; }
  // Makes completed writes durable (called at exit).
  void Sync();

 private:
  class VmMsiSink final : public pci::MsiSink {
   public:
    VmMsiSink(kvm::Vm& vm, MsiDelivered delivered) : vm_(vm), delivered_(std::move(delivered)) {}
    void Deliver(const pci::MsiMessage& message) override;

   private:
    kvm::Vm& vm_;
    MsiDelivered delivered_;
  };

  PciStorage(mem::GuestMemory& memory, kvm::Vm& vm, GuestDma::Visibility visible,
             MsiDelivered delivered)
      : dma_(memory, std::move(visible)), msi_(vm, std::move(delivered)) {}

  GuestDma dma_;
  VmMsiSink msi_;
  std::vector<std::unique_ptr<FileDisk>> disks_;
  std::unique_ptr<NvmeFunction> nvme_;
  std::unique_ptr<NvmeFunction> guest_state_;
  std::unique_ptr<pci::Bus> bus_;
};

}  // namespace loader::devices
