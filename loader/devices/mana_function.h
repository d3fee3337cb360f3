// ManaFunction: a MANA VF (vmm-core/mana) as a PCI function on one of
// hcl-loader's buses, its frames going to and from a host back end
// (loader/net: libslirp or a tap). Identity 1414:00BA, class 02 00 00
// (mana-netvsc.md §1: emulate the VF), an 8 KiB BAR0 (registers, SMC,
// one doorbell page), a 4 KiB BAR4 with the MSI-X table (offset 0) and
// PBA (0x800): one vector for the hardware channel and one per EQ.
//
// Interrupts go out only while bus mastering is on (PCI 3.0 §6.2.2); the
// driver turning it off (pci_disable_device at unbind) resets the device,
// as the PF does to a VF on FLR, so a driver reloaded finds it new.
#pragma once

#include <atomic>
#include <memory>
#include <optional>

#include "base/result.h"
#include "mana/device.h"
#include "mana/wire.h"
#include "net/backend.h"
#include "pci/bus.h"
#include "pci/msix.h"

namespace loader::devices {

class ManaFunction final : public pci::Function,
                           private mana::InterruptSink,
                           private mana::PacketSink {
 public:
  static constexpr unsigned kRegisterBar = 0;
  static constexpr unsigned kMsixBar = 4;
  static constexpr uint64_t kMsixBarBytes = 0x1000;
  static constexpr uint32_t kPbaOffset = 0x800;

  // `backend` must outlive the function; it is started here, its frames
  // going to the device.
  static base::Result<std::unique_ptr<ManaFunction>> Create(const mana::Config& config,
                                                            mem::DmaMemory& dma,
                                                            pci::MsiSink& msi,
                                                            net::Backend& backend);

  const char* name() const override { return "mana"; }
  pci::ConfigSpace& config() override { return *config_; }
  void ConfigWritten() override;
  ::devices::IoResult BarRead(unsigned bar, uint64_t offset, std::span<std::byte> data) override;
  ::devices::IoResult BarWrite(unsigned bar, uint64_t offset,
                               std::span<const std::byte> data) override;
  mana::Counters counters() const { return device_->counters(); }

 private:
  ManaFunction(pci::ConfigSpace config, uint16_t vectors, pci::MsiSink& msi,
               net::Backend& backend)
      : config_(std::move(config)), msix_(vectors, msi), backend_(backend) {}
  void Signal(uint16_t msix_vector) override;
  void Transmit(std::span<const std::byte> frame) override { backend_.Transmit(frame); }

  std::optional<pci::ConfigSpace> config_;  // guarded by pci::Bus's lock
  pci::MsixTable msix_;
  net::Backend& backend_;
  std::atomic<bool> bus_master_{false};
  std::unique_ptr<mana::Device> device_;
};

}  // namespace loader::devices
