// CmosRtc: the PC's CMOS real-time clock, an MC146818A behind index port
// 0x70 and data port 0x71 (Motorola MC146818A datasheet, "Address Map" and
// "Registers A-D"; the IBM PC/AT puts it at those ports).
//
// Why hcl-loader has one: Linux 6.1 reads the wall clock from it while
// timekeeping starts (arch/x86/kernel/rtc.c, mach_get_cmos_time). With no
// device there every read is 0xFF, so Register A's update-in-progress bit
// looks stuck and mc146818_avoid_UIP polls until its timeout: about 2.4 s
// of a 5 s boot in the carrier, and then "Unable to read current time
// from RTC".
//
// The time registers (0x00-0x09) read the host clock (UTC) at each read,
// in BCD or binary and 24- or 12-hour form as Register B selects; UIP is
// never set (the value is computed whole, never mid-update). Writes to the
// time and alarm registers are ignored (the guest cannot set the host's
// clock; Linux writes them only for hwclock/NTP sync), Register B's SET,
// mode and interrupt-enable bits are kept, Register C reads 0 (no
// interrupt ever pending: the alarm, periodic and update interrupts on IRQ
// 8 are not modelled), Register D reads VRT (valid RAM and time). Bytes
// 0x0E-0x7F are plain CMOS RAM. Port 0x70 bit 7 (NMI disable on PCs) is
// accepted and ignored.
// FIXME: no IRQ 8; wire it if VTL2 ever needs RTC alarms.
#pragma once

#include <array>
#include <cstdint>
#include <ctime>
#include <functional>
#include <span>

#include "devices/port_bus.h"

namespace devices {

class CmosRtc final : public PortDevice {
 public:
  static constexpr uint16_t kBase = 0x70;
  static constexpr uint16_t kPortCount = 2;
  // Seconds since the Unix epoch, UTC.
  using Clock = std::function<std::time_t()>;

  explicit CmosRtc(Clock clock);

  const char* name() const override { return "cmos-rtc"; }
  IoResult Read(uint16_t offset, std::span<std::byte> data) override;
  IoResult Write(uint16_t offset, std::span<const std::byte> data) override;

  uint8_t ReadRegister(uint8_t index) const;
  void WriteRegister(uint8_t index, uint8_t value);

 private:
  uint8_t Encode(unsigned value) const;  // per Register B's DM bit
  uint8_t EncodeHour(unsigned hour) const;

  Clock clock_;
  uint8_t index_ = 0;
  uint8_t register_b_;
  std::array<uint8_t, 128> ram_{};  // 0x0E-0x7F used
};

}  // namespace devices
