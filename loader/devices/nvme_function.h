// NvmeFunction: an NVMe controller as a PCI function (NVMe over PCIe
// transport; nvme-vfio.md §1.2): class 01 08 02, a 64-bit 16 KiB BAR0
// (registers and doorbells: nvme::Controller), a 64-bit 4 KiB BAR4
// holding the MSI-X table (offset 0) and PBA (offset 0x800), one vector
// for the admin queue and one per I/O queue pair.
//
// Interrupts go out only while bus mastering is enabled (PCI 3.0 §6.2.2:
// a function may not issue memory writes, MSIs included, without it).
// DMA goes through GuestDma's policy; the controller core is vmm-core's.
// Interrupt coalescing (Set Features 08h) is done: a timer thread here
// ends each aggregation time.
#pragma once

#include <memory>
#include <atomic>
#include <optional>
#include <string>
#include <vector>

#include "base/result.h"
#include "block/device.h"
#include "devices/one_shot_timers.h"
#include "nvme/controller.h"
#include "pci/bus.h"
#include "pci/msix.h"

namespace loader::devices {

struct NvmeFunctionOptions {
  std::vector<block::Device*> namespaces;  // NSID 1..N
  uint16_t io_queue_pairs = 16;
  std::string serial;
  std::string model;  // empty: the controller's default
};

class NvmeFunction final : public pci::Function, private nvme::InterruptSink {
 public:
  static constexpr unsigned kRegisterBar = 0;
  static constexpr unsigned kMsixBar = 4;
  static constexpr uint64_t kMsixBarBytes = 0x1000;
  static constexpr uint32_t kPbaOffset = 0x800;

  static base::Result<std::unique_ptr<NvmeFunction>> Create(const NvmeFunctionOptions& options,
                                                            nvme::DmaMemory& dma,
                                                            pci::MsiSink& msi);

  const char* name() const override { return "nvme"; }
  pci::ConfigSpace& config() override { return *config_; }
  void ConfigWritten() override;
  ::devices::IoResult BarRead(unsigned bar, uint64_t offset, std::span<std::byte> data) override;
  ::devices::IoResult BarWrite(unsigned bar, uint64_t offset,
                             std::span<const std::byte> data) override;

 private:
  NvmeFunction(pci::ConfigSpace config, uint16_t vectors, pci::MsiSink& msi)
      : config_(std::move(config)), msix_(vectors, msi) {}
  void Signal(uint16_t msix_vector) override;
  bool StartAggregationTimer(uint16_t msix_vector, std::chrono::microseconds delay) override;

  std::optional<pci::ConfigSpace> config_;  // guarded by pci::Bus's lock
  pci::MsixTable msix_;
  std::atomic<bool> bus_master_{false};
  std::unique_ptr<nvme::Controller> controller_;
  // Interrupt coalescing's aggregation time; declared last, so its thread
  // stops before the controller goes.
  std::unique_ptr<OneShotTimers> timers_;
};

}  // namespace loader::devices
