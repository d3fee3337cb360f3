#include "devices/acpi_pm.h"

namespace devices {
namespace {

// Register offsets inside the block.
constexpr uint16_t kStatus = 0, kEnable = 2, kControl = 4;
static_assert(kControl == AcpiPm1::kPm1ControlBase - AcpiPm1::kPm1Base);
// PM1 control bits (ACPI 6.5 §4.8.3.2.1, PM1 Control Registers).
constexpr uint16_t kSciEn = 1u << 0;
constexpr uint16_t kSlpTypShift = 10, kSlpTypMask = 0x7;
constexpr uint16_t kSlpEn = 1u << 13;  // write-only: "always reads as zero"

}  // namespace

uint16_t AcpiPm1::RegisterValue(uint16_t reg) const {
  switch (reg) {
    case kStatus:
      return 0;
    case kEnable:
      return enable_;
    default:  // kControl
      return static_cast<uint16_t>((control_ & ~kSlpEn) | kSciEn);
  }
}

// Accesses of 1, 2 or 4 bytes anywhere inside the block, little-endian,
// as ACPICA's register width (PM1_EVT_LEN / 2, PM1_CNT_LEN) or a byte-wise
// guest may make them; a 4-byte access at +0 spans PM1_STS and PM1_EN.
IoResult AcpiPm1::Read(uint16_t offset, std::span<std::byte> data) {
  if (data.size() != 1 && data.size() != 2 && data.size() != 4) return IoResult::kBadSize;
  if (offset >= kRegisterBytes || data.size() > size_t{kRegisterBytes} - offset)
    return IoResult::kBadRegister;
  for (size_t i = 0; i < data.size(); ++i) {
    const auto at = static_cast<uint16_t>(offset + i);
    const auto reg = static_cast<uint16_t>(at & ~1u);
    data[i] = std::byte{static_cast<uint8_t>(RegisterValue(reg) >> ((at & 1u) * 8))};
  }
  return IoResult::kOk;
}

IoResult AcpiPm1::Write(uint16_t offset, std::span<const std::byte> data) {
  if (data.size() != 1 && data.size() != 2 && data.size() != 4) return IoResult::kBadSize;
  if (offset >= kRegisterBytes || data.size() > size_t{kRegisterBytes} - offset)
    return IoResult::kBadRegister;
  bool control_written = false;
  for (size_t i = 0; i < data.size(); ++i) {
    const auto at = static_cast<uint16_t>(offset + i);
    const auto reg = static_cast<uint16_t>(at & ~1u);
    const unsigned shift = (at & 1u) * 8;
    const auto byte_mask = static_cast<uint16_t>(0xFFu << shift);
    const auto bits = static_cast<uint16_t>(static_cast<uint16_t>(data[i]) << shift);
    switch (reg) {
      case kStatus:
        break;  // write-1-to-clear of bits that are never set
      case kEnable:
        enable_ = static_cast<uint16_t>((enable_ & ~byte_mask) | bits);
        break;
      default:  // kControl
        control_ = static_cast<uint16_t>((control_ & ~byte_mask) | bits);
        control_written = true;
        break;
    }
  }
  if (control_written && (control_ & kSlpEn) != 0) {
    const auto sleep_type = static_cast<uint8_t>((control_ >> kSlpTypShift) & kSlpTypMask);
    if (sleep_type == kS5SleepType) {
      events_.RequestPowerOff();
    } else {
      ++ignored_sleep_requests_;
    }
    control_ = static_cast<uint16_t>(control_ & ~kSlpEn);
  }
  return IoResult::kOk;
}

}  // namespace devices
