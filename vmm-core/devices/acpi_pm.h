// AcpiPm1: the ACPI fixed-hardware PM1a event and control register blocks
// (ACPI 6.5 §4.8.3.1 "PM1 Event Grouping", §4.8.3.2 "PM1 Control
// Grouping") on I/O ports, as the FADT the boot shim builds describes them
// (bootloader/acpi_tables.h; loader/acpi_fixed_hardware_test.cpp checks the
// two agree).
//
// Block layout from kPm1Base:
//   +0 PM1a_STS (16 bits, write 1 to clear)  +2 PM1a_EN (16 bits)   [PM1_EVT_LEN 4]
//   +4 PM1a_CNT (16 bits)                                            [PM1_CNT_LEN 2]
// No fixed event is ever raised (no power button, no PM timer overflow,
// no global lock owner other than the OS), so PM1a_STS always reads 0.
// PM1a_CNT.SCI_EN reads 1: the FADT has SMI_CMD 0, i.e. the platform is
// always in ACPI mode (§4.8.3.2.1 / §5.2.9).
//
// Writing PM1a_CNT with SLP_EN set and SLP_TYPa = kS5SleepType (the value
// the DSDT's \_S5 package gives, §7.4.2 / §16.1.5) is the guest's soft-off:
// it becomes MachineEvents::RequestPowerOff. Other sleep types are ignored
// (counted), as a platform without S1-S4 would.
#pragma once

#include <cstdint>
#include <span>

#include "devices/machine_events.h"
#include "devices/port_bus.h"

namespace devices {

class AcpiPm1 final : public PortDevice {
 public:
  static constexpr uint16_t kPm1Base = 0x400;
  static constexpr uint16_t kPm1EventBase = kPm1Base;
  static constexpr uint16_t kPm1EventBytes = 4;
  static constexpr uint16_t kPm1ControlBase = kPm1Base + 4;
  static constexpr uint16_t kPm1ControlBytes = 2;
  static constexpr uint16_t kRegisterBytes = kPm1EventBytes + kPm1ControlBytes;
  static constexpr uint8_t kS5SleepType = 5;

  explicit AcpiPm1(MachineEvents& events) : events_(events) {}

  const char* name() const override { return "acpi-pm1"; }
  IoResult Read(uint16_t offset, std::span<std::byte> data) override;
  IoResult Write(uint16_t offset, std::span<const std::byte> data) override;

  uint16_t enable() const { return enable_; }
  uint32_t ignored_sleep_requests() const { return ignored_sleep_requests_; }

 private:
  uint16_t RegisterValue(uint16_t reg) const;

  MachineEvents& events_;
  uint16_t enable_ = 0;   // guest-controlled
  uint16_t control_ = 0;  // guest-controlled; SLP_EN is write-only
  uint32_t ignored_sleep_requests_ = 0;
};

}  // namespace devices
