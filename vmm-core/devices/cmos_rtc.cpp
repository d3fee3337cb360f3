#include "devices/cmos_rtc.h"

#include <chrono>

namespace devices {
namespace {

// MC146818A address map.
constexpr uint8_t kSeconds = 0x00, kMinutes = 0x02, kHours = 0x04, kDayOfWeek = 0x06,
                  kDayOfMonth = 0x07, kMonth = 0x08, kYear = 0x09;
constexpr uint8_t kRegisterA = 0x0A, kRegisterB = 0x0B, kRegisterC = 0x0C, kRegisterD = 0x0D;
constexpr uint8_t kFirstRamByte = 0x0E;
// IBM PC/AT convention (and what an ACPI FADT CENTURY field would name).
constexpr uint8_t kCentury = 0x32;
// Register A: DV2-0 = 010 (32.768 kHz time base), RS3-0 = 0110 (1.024 kHz);
// bit 7 UIP is always 0 here.
constexpr uint8_t kRegisterAValue = 0x26;
// Register B bits.
constexpr uint8_t kBBinary = 0x04, kB24Hour = 0x02;
// Register D: VRT, valid RAM and time.
constexpr uint8_t kRegisterDValue = 0x80;
// 12-hour mode: bit 7 of the hours byte is PM.
constexpr uint8_t kHourPm = 0x80;

}  // namespace

CmosRtc::CmosRtc(Clock clock) : clock_(std::move(clock)), register_b_(kB24Hour) {}

uint8_t CmosRtc::Encode(unsigned value) const {
  if ((register_b_ & kBBinary) != 0) return static_cast<uint8_t>(value);
  return static_cast<uint8_t>(((value / 10) << 4) | (value % 10));
}

uint8_t CmosRtc::EncodeHour(unsigned hour) const {
  if ((register_b_ & kB24Hour) != 0) return Encode(hour);
  const unsigned twelve = hour % 12 == 0 ? 12 : hour % 12;
  return static_cast<uint8_t>(Encode(twelve) | (hour >= 12 ? kHourPm : 0));
}

uint8_t CmosRtc::ReadRegister(uint8_t index) const {
  index &= 0x7F;
  if (index <= kYear || index == kCentury) {
    using namespace std::chrono;
    const sys_seconds now{seconds{clock_()}};
    const sys_days day = floor<days>(now);
    const year_month_day date{day};
    const hh_mm_ss<seconds> time{now - day};
    const int year = static_cast<int>(date.year());
    switch (index) {
      case kSeconds:
        return Encode(static_cast<unsigned>(time.seconds().count()));
      case kMinutes:
        return Encode(static_cast<unsigned>(time.minutes().count()));
      case kHours:
        return EncodeHour(static_cast<unsigned>(time.hours().count()));
      case kDayOfWeek:
        return Encode(weekday{day}.c_encoding() + 1);  // 1 = Sunday
      case kDayOfMonth:
        return Encode(static_cast<unsigned>(date.day()));
      case kMonth:
        return Encode(static_cast<unsigned>(date.month()));
      case kYear:
        return Encode(static_cast<unsigned>(year % 100));
      case kCentury:
        return Encode(static_cast<unsigned>(year / 100));
      default:
        return 0;  // the alarm registers: no alarm set
    }
  }
  switch (index) {
    case kRegisterA:
      return kRegisterAValue;
    case kRegisterB:
      return register_b_;
    case kRegisterC:
      return 0;
    case kRegisterD:
      return kRegisterDValue;
    default:
      return ram_[index];
  }
}

void CmosRtc::WriteRegister(uint8_t index, uint8_t value) {
  index &= 0x7F;
  if (index == kRegisterB) {
    register_b_ = value;
    return;
  }
  if (index >= kFirstRamByte && index != kCentury) ram_[index] = value;
  // Time, alarm, A, C, D and the century byte: ignored (see the header).
}

IoResult CmosRtc::Read(uint16_t offset, std::span<std::byte> data) {
  if (offset >= kPortCount) return IoResult::kBadRegister;
  if (data.size() != 1) return IoResult::kBadSize;
  // Port 0x70 is write-only on the PC/AT; reading it returns the index here.
  data[0] = std::byte{offset == 0 ? index_ : ReadRegister(index_)};
  return IoResult::kOk;
}

IoResult CmosRtc::Write(uint16_t offset, std::span<const std::byte> data) {
  if (offset >= kPortCount) return IoResult::kBadRegister;
  if (data.size() != 1) return IoResult::kBadSize;
  const auto value = static_cast<uint8_t>(data[0]);
  if (offset == 0) {
    index_ = value & 0x7F;  // bit 7: NMI disable on PCs, ignored
  } else {
    WriteRegister(index_, value);
  }
  return IoResult::kOk;
}

}  // namespace devices
