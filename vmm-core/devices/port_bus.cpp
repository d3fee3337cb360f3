#include "devices/port_bus.h"

#include <algorithm>

namespace devices {

base::Result<void> PortBus::Attach(uint16_t base, uint16_t length, PortDevice& device) {
  if (length == 0 || uint32_t{base} + length > 0x10000)
    return base::Error::Format("%s: bad port range 0x%x+%u", device.name(), base, length);
  const std::lock_guard lock(mutex_);
  for (const Range& range : ranges_)
    if (base < range.base + range.length && range.base < base + length)
      return base::Error::Format("%s: ports 0x%x+%u overlap %s", device.name(), base, length,
                                 range.device->name());
  ranges_.push_back({base, length, &device});
  return base::Ok();
}

const PortBus::Range* PortBus::FindLocked(uint16_t port) const {
  for (const Range& range : ranges_)
    if (port >= range.base && port - range.base < range.length) return &range;
  return nullptr;
}

bool PortBus::Read(uint16_t port, std::span<std::byte> data) {
  const std::lock_guard lock(mutex_);
  const Range* range = FindLocked(port);
  if (range != nullptr &&
      range->device->Read(static_cast<uint16_t>(port - range->base), data) == IoResult::kOk)
    return true;
  std::fill(data.begin(), data.end(), std::byte{0xFF});
  return false;
}

bool PortBus::Write(uint16_t port, std::span<const std::byte> data) {
  const std::lock_guard lock(mutex_);
  const Range* range = FindLocked(port);
  return range != nullptr &&
         range->device->Write(static_cast<uint16_t>(port - range->base), data) == IoResult::kOk;
}

}  // namespace devices
