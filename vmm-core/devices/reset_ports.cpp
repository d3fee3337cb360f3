#include "devices/reset_ports.h"

namespace devices {

IoResult KeyboardControllerReset::Read(uint16_t offset, std::span<std::byte> data) {
  if (offset != 0 || data.size() != 1) return IoResult::kBadSize;
  data[0] = std::byte{0xFF};
  return IoResult::kOk;
}

IoResult KeyboardControllerReset::Write(uint16_t offset, std::span<const std::byte> data) {
  if (offset != 0 || data.size() != 1) return IoResult::kBadSize;
  if (static_cast<uint8_t>(data[0]) == kPulseResetLine) events_.RequestReset(origin_);
  return IoResult::kOk;
}

}  // namespace devices
