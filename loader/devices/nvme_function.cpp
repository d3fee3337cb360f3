#include "devices/nvme_function.h"

namespace loader::devices {

base::Result<std::unique_ptr<NvmeFunction>> NvmeFunction::Create(
    const NvmeFunctionOptions& options, nvme::DmaMemory& dma, pci::MsiSink& msi) {
  const auto vectors = static_cast<uint16_t>(options.io_queue_pairs + 1);
  std::array<pci::MemoryBar, pci::kBarCount> bars{};
  bars[kRegisterBar] = {.size_bytes = nvme::kBar0Bytes};
  bars[kMsixBar] = {.size_bytes = kMsixBarBytes};
  // Microsoft's vendor ID with a device ID Linux has no quirk for: the
  // stock driver binds by class code (nvme-vfio.md §1.2).
  auto config = TRY(pci::ConfigSpace::Create(
      {.vendor_id = 0x1414, .device_id = 0xB111, .subsystem_vendor_id = 0x1414,
       .subsystem_id = 0x0001, .revision = 1, .class_code = 0x010802},
      bars,
      pci::MsixLayout{.vector_count = vectors, .table_bar = kMsixBar, .table_offset = 0,
                      .pba_bar = kMsixBar, .pba_offset = kPbaOffset}));
  auto function = std::unique_ptr<NvmeFunction>(new NvmeFunction(std::move(config), vectors, msi));
  nvme::Config controller_config;
  controller_config.namespaces = options.namespaces;
  controller_config.max_io_queue_pairs = options.io_queue_pairs;
  controller_config.msix_vectors = vectors;
  if (!options.serial.empty()) controller_config.serial = options.serial.substr(0, 20);
  if (!options.model.empty()) controller_config.model = options.model.substr(0, 40);
  function->controller_ = TRY(nvme::Controller::Create(controller_config, dma, *function));
  nvme::Controller* controller = function->controller_.get();
  function->timers_ = std::make_unique<OneShotTimers>([controller](uint32_t vector) {
    controller->AggregationTimeElapsed(static_cast<uint16_t>(vector));
  });
  return function;
}

bool NvmeFunction::StartAggregationTimer(uint16_t msix_vector, std::chrono::microseconds delay) {
  timers_->Arm(msix_vector, delay);
  return true;
}

void NvmeFunction::ConfigWritten() {
  bus_master_.store(config_->bus_master(), std::memory_order_release);
  msix_.SetControl(config_->msix_enabled(), config_->msix_function_masked());
}

void NvmeFunction::Signal(uint16_t msix_vector) {
  if (!bus_master_.load(std::memory_order_acquire)) return;
  msix_.Signal(msix_vector);
}

::devices::IoResult NvmeFunction::BarRead(unsigned bar, uint64_t offset, std::span<std::byte> data) {
  if (bar == kRegisterBar) return controller_->Read(offset, data);
  if (bar == kMsixBar) {
    if (offset >= kPbaOffset) return msix_.ReadPba(offset - kPbaOffset, data);
    return msix_.ReadTable(offset, data);
  }
  return ::devices::IoResult::kBadRegister;
}

::devices::IoResult NvmeFunction::BarWrite(unsigned bar, uint64_t offset,
                                         std::span<const std::byte> data) {
  if (bar == kRegisterBar) return controller_->Write(offset, data);
  if (bar == kMsixBar && offset < kPbaOffset) return msix_.WriteTable(offset, data);
  return ::devices::IoResult::kBadRegister;  // the PBA is read-only
}

}  // namespace loader::devices
