#include "pci/bus.h"

#include <algorithm>
#include <memory>

#include "base/checked.h"
#include "base/le_bytes.h"

namespace pci {
namespace {

// CONFIG_ADDRESS (PCI 3.0 §3.2.2.3.2): enable bit 31, bus 23:16, device
// 15:11, function 10:8, register 7:2.
constexpr uint32_t kConfigEnable = 1u << 31;
constexpr uint32_t kConfigAddressWritable = kConfigEnable | 0x00FFFFFC;

}  // namespace

// Device 0: a host bridge with no BARs (class 06 00 00).
class Bus::HostBridge final : public Function {
 public:
  explicit HostBridge(ConfigSpace config) : config_(std::move(config)) {}
  const char* name() const override { return "host bridge"; }
  ConfigSpace& config() override { return config_; }
  devices::IoResult BarRead(unsigned, uint64_t, std::span<std::byte>) override {
    return devices::IoResult::kBadRegister;
  }
  devices::IoResult BarWrite(unsigned, uint64_t, std::span<const std::byte>) override {
    return devices::IoResult::kBadRegister;
  }

 private:
  ConfigSpace config_;
};

base::Result<std::unique_ptr<Bus>> Bus::Create() {
  // Red Hat's ID for a generic PCIe host bridge (QEMU's gpex, 1b36:0008):
  // no quirks attach to it in Linux.
  Identity identity{.vendor_id = 0x1B36, .device_id = 0x0008, .class_code = 0x060000};
  auto config = TRY(ConfigSpace::Create(identity, {}, std::nullopt));
  auto bus = std::unique_ptr<Bus>(new Bus());
  bus->host_bridge_ = std::make_unique<HostBridge>(std::move(config));
  bus->devices_[0] = bus->host_bridge_.get();
  return bus;
}

Bus::~Bus() = default;

base::Result<void> Bus::Attach(unsigned device, Function& function) {
  if (device == 0 || device >= kDevicesPerBus)
    return base::Error::Format("pci: %s: device number %u is not 1..31", function.name(), device);
  const std::lock_guard lock(mutex_);
  if (devices_[device] != nullptr)
    return base::Error::Format("pci: %s: device %u is taken by %s", function.name(), device,
                               devices_[device]->name());
  devices_[device] = &function;
  return base::Ok();
}

Function* Bus::SelectedLocked() const {
  if ((config_address_ & kConfigEnable) == 0) return nullptr;
  const uint32_t bus = (config_address_ >> 16) & 0xFF;
  const uint32_t device = (config_address_ >> 11) & 0x1F;
  const uint32_t function = (config_address_ >> 8) & 0x7;
  if (bus != 0 || function != 0) return nullptr;
  return devices_[device];
}

devices::IoResult Bus::Read(uint16_t offset, std::span<std::byte> data) {
  const std::lock_guard lock(mutex_);
  if (offset < 4) {
    // CONFIG_ADDRESS is read as a whole dword (Linux reads it back after
    // writing 0x80000000 to detect the mechanism).
    if (offset != 0 || data.size() != 4) {
      std::fill(data.begin(), data.end(), std::byte{0xFF});
      return devices::IoResult::kBadSize;
    }
    (void)base::StoreLe<uint32_t>(data, 0, config_address_);
    return devices::IoResult::kOk;
  }
  Function* function = SelectedLocked();
  if (function == nullptr) {
    // No device: all-ones, which is how software sees an empty slot.
    std::fill(data.begin(), data.end(), std::byte{0xFF});
    return devices::IoResult::kOk;
  }
  const auto reg = static_cast<uint16_t>((config_address_ & 0xFC) + (offset - 4u));
  function->config().Read(reg, data);
  return devices::IoResult::kOk;
}

devices::IoResult Bus::Write(uint16_t offset, std::span<const std::byte> data) {
  const std::lock_guard lock(mutex_);
  if (offset < 4) {
    // Only a dword write at 0xCF8 sets CONFIG_ADDRESS; byte writes there
    // (Linux's probe writes 0xCFB) belong to other mechanisms and are
    // ignored (§3.2.2.3.2).
    if (offset != 0 || data.size() != 4) return devices::IoResult::kOk;
    uint32_t value = 0;
    (void)base::LoadLe<uint32_t>(data, 0, value);
    config_address_ = value & kConfigAddressWritable;
    return devices::IoResult::kOk;
  }
  Function* function = SelectedLocked();
  if (function == nullptr) return devices::IoResult::kOk;  // dropped, as with no device
  const auto reg = static_cast<uint16_t>((config_address_ & 0xFC) + (offset - 4u));
  function->config().Write(reg, data);
  function->ConfigWritten();
  return devices::IoResult::kOk;
}

std::optional<Bus::Target> Bus::Decode(uint64_t gpa, uint64_t size) {
  const std::lock_guard lock(mutex_);
  for (Function* function : devices_) {
    if (function == nullptr) continue;
    const ConfigSpace& config = function->config();
    for (unsigned bar = 0; bar < kBarCount; ++bar) {
      const auto base = config.BarAddress(bar);
      if (!base || gpa < *base) continue;
      const uint64_t offset = gpa - *base;
      if (base::RangeFits<uint64_t>(offset, size, config.bar_size(bar)))
        return Target{function, bar, offset};
    }
  }
  return std::nullopt;
}

bool Bus::MmioRead(uint64_t gpa, std::span<std::byte> data) {
  const auto target = Decode(gpa, data.size());
  if (!target) return false;
  if (target->function->BarRead(target->bar, target->offset, data) != devices::IoResult::kOk)
    std::fill(data.begin(), data.end(), std::byte{0xFF});
  return true;
}

bool Bus::MmioWrite(uint64_t gpa, std::span<const std::byte> data) {
  const auto target = Decode(gpa, data.size());
  if (!target) return false;
  (void)target->function->BarWrite(target->bar, target->offset, data);
  return true;
}

}  // namespace pci
