// The PC's reset port that Linux's reboot tries first here (arch/x86/
// kernel/reboot.c: BOOT_ACPI needs a FADT reset register, which ours does
// not have; then BOOT_KBD):
//
// KeyboardControllerReset, port 0x64: the 8042's command port. Command
// 0xFE pulses the output port's bit 0, the CPU reset line (IBM PC/AT
// Technical Reference, "Keyboard Controller", "Pulse Output Port"). There
// is no keyboard controller behind it: every other command is ignored and
// the status register reads 0xFF, as an absent controller does (Linux's
// i8042 probe finds none; its reboot loop still sends 0xFE).
//
// It turns into MachineEvents::RequestReset. (Port 0xCF9, the chipset's
// reset control register, sits inside the PCI configuration ports
// 0xCF8-0xCFF that the loader's PCI buses claim: not offered.)
#pragma once

#include <cstdint>
#include <span>

#include "devices/machine_events.h"
#include "devices/port_bus.h"

namespace devices {

class KeyboardControllerReset final : public PortDevice {
 public:
  static constexpr uint16_t kPort = 0x64;
  static constexpr uint8_t kPulseResetLine = 0xFE;

  // `origin`: what MachineEvents::RequestReset records for this device.
  KeyboardControllerReset(MachineEvents& events, uint8_t origin) : events_(events), origin_(origin) {}
  const char* name() const override { return "kbd-reset"; }
  IoResult Read(uint16_t offset, std::span<std::byte> data) override;
  IoResult Write(uint16_t offset, std::span<const std::byte> data) override;

 private:
  MachineEvents& events_;
  uint8_t origin_;
};

}  // namespace devices
