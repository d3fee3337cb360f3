#include "devices/vtl_pci_bus.h"

#include <algorithm>
#include <cstdio>

#include "base/checked.h"
#include "tpm/platform.h"

namespace loader::devices {
namespace {

// NVMe queue pairs: one per VP (as Linux's nvme driver and hcl's both
// want), at least 2 so that a 1-VP guest still has a spare, at most 16.
uint16_t QueuePairsFor(uint32_t vp_count) {
  return static_cast<uint16_t>(std::clamp<uint32_t>(vp_count, 2, 16));
}

}  // namespace

base::Result<DiskSpec> ParseDiskSpec(const std::string& text) {
  DiskSpec spec;
  spec.path = text;
  const size_t comma = text.rfind(',');
  if (comma != std::string::npos) {
    const std::string flags = text.substr(comma + 1);
    if (flags != "ro") return base::Error("disk '" + text + "': the only flag is ',ro'");
    spec.path = text.substr(0, comma);
    spec.read_only = true;
  }
  if (spec.path.empty()) return base::Error("disk '" + text + "': no path");
  return spec;
}

void VtlPciBus::VmMsiSink::Deliver(const pci::MsiMessage& message) {
  if (auto sent = vm_.SignalMsiMessage(message.address, message.data); !sent)
    std::fprintf(stderr, "hcl-loader: nvme: MSI-X %#llx/%#x: %s\n",
                 static_cast<unsigned long long>(message.address), message.data,
                 sent.error().message().c_str());
  // SDM vol. 3A §11.11.1: destination ID in address bits 19:12.
  if (delivered_) delivered_(static_cast<uint32_t>(message.address >> 12) & 0xFF);
}

base::Result<std::unique_ptr<VtlPciBus>> VtlPciBus::Create(const VtlPciDevices& devices,
                                                         PciWindow window, uint32_t vp_count,
                                                         mem::GuestMemory& memory, kvm::Vm& vm,
                                                         GuestDma::Visibility visible,
                                                         MsiDelivered delivered) {
  const std::vector<DiskSpec>& disks = devices.disks;
  const DiskSpec* guest_state = devices.guest_state;
  auto storage = std::unique_ptr<VtlPciBus>(
      new VtlPciBus(memory, vm, std::move(visible), std::move(delivered)));
  storage->bus_ = TRY(pci::Bus::Create());
  uint64_t next = window.base;
  // Firmware's part: BARs placed in the window, each aligned to its size,
  // decoding and bus mastering on.
  const auto place = [&](pci::Function& function, uint8_t device) -> base::Result<void> {
    pci::ConfigSpace& config = function.config();
    for (unsigned bar : {0u, 4u}) {  // every function here: registers at 0, MSI-X at 4
      const uint64_t size = config.bar_size(bar);
      const auto placed = base::AlignUp<uint64_t>(next, size);
      if (!placed || !base::RangeFits<uint64_t>(*placed - window.base, size, window.bytes))
        return base::Error::Format("%s: BARs do not fit the PCI window", function.name());
      TRY(config.AssignBar(bar, *placed));
      next = *placed + size;
    }
    config.SetCommand(pci::kCommandMemorySpace | pci::kCommandBusMaster);
    function.ConfigWritten();
    return storage->bus_->Attach(device, function);
  };
  const auto open = [&](const DiskSpec& spec) -> base::Result<block::Device*> {
    FileDiskOptions disk_options;
    disk_options.path = spec.path;
    disk_options.read_only = spec.read_only;
    storage->disks_.push_back(TRY(FileDisk::Open(disk_options, storage->dma_.Window())));
    return storage->disks_.back().get();
  };
  if (!disks.empty()) {
    NvmeFunctionOptions options;
    options.io_queue_pairs = QueuePairsFor(vp_count);
    for (const DiskSpec& spec : disks) options.namespaces.push_back(TRY(open(spec)));
    options.serial = storage->disks_.front()->geometry().serial;
    storage->nvme_ = TRY(NvmeFunction::Create(options, storage->dma_, storage->msi_));
    TRY(place(*storage->nvme_, 1));
  }
  if (guest_state != nullptr) {
    NvmeFunctionOptions options;
    options.io_queue_pairs = 1;
    options.namespaces.push_back(TRY(open(*guest_state)));
    options.serial = storage->disks_.back()->geometry().serial;
    options.model = tpm::kGuestStateModel;
    storage->guest_state_ = TRY(NvmeFunction::Create(options, storage->dma_, storage->msi_));
    TRY(place(*storage->guest_state_, 2));
  }
  if (devices.nic != nullptr) {
    storage->backend_ = TRY(net::CreateBackend(*devices.nic));
    mana::Config config;
    config.mac = devices.nic_mac;
    // One queue pair per VP, as Linux's mana driver wants (§2: it makes
    // one EQ per queue), and a vector for each plus the HWC's.
    config.queue_pairs = static_cast<uint16_t>(std::clamp<uint32_t>(vp_count, 1, 16));
    config.msix_vectors = static_cast<uint16_t>(config.queue_pairs + 1);
    storage->nic_ = TRY(ManaFunction::Create(config, storage->dma_, storage->msi_,
                                             *storage->backend_));
    TRY(place(*storage->nic_, 3));
  }
  return storage;
}

void VtlPciBus::Sync() {
  for (auto& disk : disks_)
    if (auto synced = disk->Sync(); !synced)
      std::fprintf(stderr, "hcl-loader: disk sync: %s\n", synced.error().message().c_str());
}

}  // namespace loader::devices
