// pci::Bus: PCI bus 0 of a machine: configuration mechanism #1 (ports
// 0xCF8-0xCFF, PCI 3.0 §3.2.2.3.2) and the routing of memory accesses to
// the BAR that decodes them. Device 0 is a host bridge (class 06 00 00):
// Linux's type-1 probe accepts the mechanism only if bus 0 holds a host
// bridge or a display device (arch/x86/pci/direct.c, pci_sanity_check).
//
// A function (pci::Function) owns its ConfigSpace and answers its BARs in
// offsets from the BAR's base (STYLE.md P1). The bus reads BAR placement
// from config space on every access, so a guest moving a BAR is seen at
// once.
//
// Locking: mutex_ guards the function table and every config access (the
// port device is attached to a PortBus, which serializes port accesses
// too, but MMIO comes from VP threads directly). BAR accesses run outside
// it, into the function, which locks for itself.
//
// Not here: bridges and other buses, ECAM (the 0xCF8 mechanism reaches the
// 256-byte header, all these functions have), legacy INTx routing.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <span>

#include "base/result.h"
#include "devices/port_bus.h"
#include "pci/config_space.h"

namespace pci {

inline constexpr uint16_t kConfigAddressPort = 0xCF8;
inline constexpr uint16_t kConfigPortCount = 8;  // 0xCF8 address, 0xCFC-0xCFF data
inline constexpr unsigned kDevicesPerBus = 32;

class Function {
 public:
  virtual ~Function() = default;
  virtual const char* name() const = 0;
  virtual ConfigSpace& config() = 0;
  // After a config write: the function acts on what changed (MSI-X
  // enable/mask).
  virtual void ConfigWritten() {}
  virtual devices::IoResult BarRead(unsigned bar, uint64_t offset, std::span<std::byte> data) = 0;
  virtual devices::IoResult BarWrite(unsigned bar, uint64_t offset,
                                     std::span<const std::byte> data) = 0;
};

class Bus final : public devices::PortDevice {
 public:
  // Builds the bus with its host bridge at device 0.
  static base::Result<std::unique_ptr<Bus>> Create();
  ~Bus() override;

  // Puts `function` (which must outlive the bus) at device 1..31, function 0.
  base::Result<void> Attach(unsigned device, Function& function);

  // devices::PortDevice, at kConfigAddressPort.
  const char* name() const override { return "pci"; }
  devices::IoResult Read(uint16_t offset, std::span<std::byte> data) override;
  devices::IoResult Write(uint16_t offset, std::span<const std::byte> data) override;

  // A memory access: true if a BAR decodes [gpa, gpa + size) and its
  // function took it (a refused access reads all-ones).
  bool MmioRead(uint64_t gpa, std::span<std::byte> data);
  bool MmioWrite(uint64_t gpa, std::span<const std::byte> data);

 private:
  class HostBridge;
  struct Target {
    Function* function;
    unsigned bar;
    uint64_t offset;
  };
  Bus() = default;
  // The function and BAR decoding [gpa, gpa + size), if any.
  std::optional<Target> Decode(uint64_t gpa, uint64_t size);
  // The function the config address names, if present.
  Function* SelectedLocked() const;

  std::mutex mutex_;
  std::unique_ptr<HostBridge> host_bridge_;
  std::array<Function*, kDevicesPerBus> devices_{};  // guarded by mutex_
  uint32_t config_address_ = 0;                       // guarded by mutex_; guest-controlled
};

}  // namespace pci
