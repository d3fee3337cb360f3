#include "devices/mana_function.h"

namespace loader::devices {

base::Result<std::unique_ptr<ManaFunction>> ManaFunction::Create(const mana::Config& config,
                                                                 mem::DmaMemory& dma,
                                                                 pci::MsiSink& msi,
                                                                 net::Backend& backend) {
  std::array<pci::MemoryBar, pci::kBarCount> bars{};
  bars[kRegisterBar] = {.size_bytes = mana::kBar0Bytes};
  bars[kMsixBar] = {.size_bytes = kMsixBarBytes};
  auto space = TRY(pci::ConfigSpace::Create(
      {.vendor_id = mana::kVendorId, .device_id = mana::kVfDeviceId,
       .subsystem_vendor_id = mana::kVendorId, .subsystem_id = 0x0001, .revision = 1,
       .class_code = 0x020000},
      bars,
      pci::MsixLayout{.vector_count = config.msix_vectors, .table_bar = kMsixBar,
                      .table_offset = 0, .pba_bar = kMsixBar, .pba_offset = kPbaOffset}));
  auto function = std::unique_ptr<ManaFunction>(
      new ManaFunction(std::move(space), config.msix_vectors, msi, backend));
  function->device_ = TRY(mana::Device::Create(config, dma, *function, *function));
  mana::Device* device = function->device_.get();
  TRY(backend.Start([device](std::span<const std::byte> frame) { (void)device->Receive(frame); }));
  return function;
}

void ManaFunction::ConfigWritten() {
  const bool master = config_->bus_master();
  if (bus_master_.exchange(master, std::memory_order_acq_rel) && !master) device_->Reset();
  msix_.SetControl(config_->msix_enabled(), config_->msix_function_masked());
}

void ManaFunction::Signal(uint16_t msix_vector) {
  if (!bus_master_.load(std::memory_order_acquire)) return;
  msix_.Signal(msix_vector);
}

::devices::IoResult ManaFunction::BarRead(unsigned bar, uint64_t offset,
                                          std::span<std::byte> data) {
  if (bar == kRegisterBar) return device_->Read(offset, data);
  if (bar == kMsixBar) {
    if (offset >= kPbaOffset) return msix_.ReadPba(offset - kPbaOffset, data);
    return msix_.ReadTable(offset, data);
  }
  return ::devices::IoResult::kBadRegister;
}

::devices::IoResult ManaFunction::BarWrite(unsigned bar, uint64_t offset,
                                           std::span<const std::byte> data) {
  if (bar == kRegisterBar) return device_->Write(offset, data);
  if (bar == kMsixBar && offset < kPbaOffset) return msix_.WriteTable(offset, data);
  return ::devices::IoResult::kBadRegister;
}

}  // namespace loader::devices
