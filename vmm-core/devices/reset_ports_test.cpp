#include "devices/reset_ports.h"

#include <doctest/doctest.h>

#include <array>

namespace {

devices::IoResult Out(devices::PortDevice& device, uint8_t value) {
  const std::array<std::byte, 1> data{std::byte{value}};
  return device.Write(0, data);
}

uint8_t In(devices::PortDevice& device) {
  std::array<std::byte, 1> data{};
  REQUIRE(device.Read(0, data) == devices::IoResult::kOk);
  return static_cast<uint8_t>(data[0]);
}

}  // namespace

TEST_CASE("reset ports: the 8042's pulse-reset command resets; nothing else does") {
  devices::MachineEvents events;
  devices::KeyboardControllerReset kbd(events, 0);
  CHECK(In(kbd) == 0xFF);  // no controller
  for (const uint8_t command : std::array<uint8_t, 5>{0x20, 0xAA, 0xAD, 0xD1, 0xFF})
    CHECK(Out(kbd, command) == devices::IoResult::kOk);
  CHECK_FALSE(events.reset_origin());
  CHECK(Out(kbd, 0xFE) == devices::IoResult::kOk);
  CHECK(events.reset_origin() == 0);
  CHECK_FALSE(events.power_off_requested());
  const std::array<std::byte, 2> word{};
  CHECK(kbd.Write(0, word) == devices::IoResult::kBadSize);
}

TEST_CASE("reset ports: the first device to ask names the reset's origin") {
  devices::MachineEvents events;
  devices::KeyboardControllerReset paravisor(events, 2);
  devices::KeyboardControllerReset guest(events, 0);
  CHECK(Out(paravisor, 0xFE) == devices::IoResult::kOk);
  CHECK(Out(guest, 0xFE) == devices::IoResult::kOk);
  CHECK(events.reset_origin() == 2);
}
