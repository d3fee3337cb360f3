// VtlPciBus: one VTL's PCI bus and the devices hcl-loader puts on it: an
// NVMe controller over host files from --disk (VTL2: the device the
// paravisor drives) or --disk-vtl0 (VTL0: the same controller given
// straight to the guest, the reference the paravisor path is compared
// with), and a MANA NIC from --nic / --nic-vtl0 likewise.
//
// Layout: bus 0 behind the 0xCF8 mechanism (pci::Bus), the NVMe function
// at device 1 with one namespace per disk (and, with a guest state, a
// second NVMe function at device 2 with that file as its one namespace and
// model "HCL Guest State": devices/guest_state_file.h), the MANA function
// at device 3 with its host back end (net/backend.h); BARs placed in `window`
// the way firmware would before the OS runs (memory decoding and bus
// mastering on; the OS may move them within the window). MSI-X messages go
// to that VTL's VM (KVM_SIGNAL_MSI), DMA through GuestDma's policy.
#pragma once

#include <array>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "base/result.h"
#include "devices/file_disk.h"
#include "devices/guest_dma.h"
#include "devices/mana_function.h"
#include "devices/nvme_function.h"
#include "kvm/vm.h"
#include "net/backend.h"
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

// The NICs' MAC addresses: Microsoft's Hyper-V prefix 00:15:5D, then "MA"
// and the VTL (2: the paravisor's NIC, whose vport MAC netvsp gives VTL0;
// 0: the NIC given straight to VTL0).
inline constexpr std::array<uint8_t, 6> kVtl2NicMac{0x00, 0x15, 0x5D, 0x4D, 0x41, 0x02};
inline constexpr std::array<uint8_t, 6> kVtl0NicMac{0x00, 0x15, 0x5D, 0x4D, 0x41, 0x00};

struct VtlPciDevices {
  std::vector<DiskSpec> disks;
  const DiskSpec* guest_state = nullptr;
  const net::NicSpec* nic = nullptr;
  std::array<uint8_t, 6> nic_mac{};
};

class VtlPciBus {
 public:
  // Called after an MSI went to local APIC `apic_id`: VTL2's interrupts
  // must reach a VP running VTL0 at once (TLFS "Secure Interrupts"), not at
  // its next tick.
  using MsiDelivered = std::function<void(uint32_t apic_id)>;

  // `memory` and `vm` (and what `visible` refers to) must outlive the
  // result. `visible`: GuestDma's policy (null: all of RAM).
  static base::Result<std::unique_ptr<VtlPciBus>> Create(const VtlPciDevices& devices,
                                                         PciWindow window, uint32_t vp_count,
                                                         mem::GuestMemory& memory, kvm::Vm& vm,
                                                         GuestDma::Visibility visible,
                                                         MsiDelivered delivered = nullptr);

  pci::Bus& bus() { return *bus_; }
  // Makes completed writes durable (called at exit).
  void Sync();
  // The NIC, if any (its counters for the exit report).
  const ManaFunction* nic() const { return nic_.get(); }
  const net::Backend* nic_backend() const { return backend_.get(); }

 private:
  class VmMsiSink final : public pci::MsiSink {
   public:
    VmMsiSink(kvm::Vm& vm, MsiDelivered delivered) : vm_(vm), delivered_(std::move(delivered)) {}
    void Deliver(const pci::MsiMessage& message) override;

   private:
    kvm::Vm& vm_;
    MsiDelivered delivered_;
  };

  VtlPciBus(mem::GuestMemory& memory, kvm::Vm& vm, GuestDma::Visibility visible,
             MsiDelivered delivered)
      : dma_(memory, std::move(visible)), msi_(vm, std::move(delivered)) {}

  GuestDma dma_;
  VmMsiSink msi_;
  std::vector<std::unique_ptr<FileDisk>> disks_;
  std::unique_ptr<NvmeFunction> nvme_;
  std::unique_ptr<NvmeFunction> guest_state_;
  std::unique_ptr<ManaFunction> nic_;
  // Declared after the NIC: its thread (which calls into the NIC) stops
  // before the NIC goes.
  std::unique_ptr<net::Backend> backend_;
  std::unique_ptr<pci::Bus> bus_;
};

}  // namespace loader::devices
