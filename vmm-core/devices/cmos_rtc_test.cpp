#include "devices/cmos_rtc.h"

#include <doctest/doctest.h>

#include <array>

namespace {

// 2026-11-22 07:41:09 UTC, a Sunday.
constexpr std::time_t kNow = 1795333269;

uint8_t In(devices::CmosRtc& rtc, uint8_t index) {
  std::array<std::byte, 1> byte{std::byte{index}};
  REQUIRE(rtc.Write(0, byte) == devices::IoResult::kOk);
  REQUIRE(rtc.Read(1, byte) == devices::IoResult::kOk);
  return static_cast<uint8_t>(byte[0]);
}

void Out(devices::CmosRtc& rtc, uint8_t index, uint8_t value) {
  const std::array<std::byte, 1> select{std::byte{index}};
  const std::array<std::byte, 1> data{std::byte{value}};
  REQUIRE(rtc.Write(0, select) == devices::IoResult::kOk);
  REQUIRE(rtc.Write(1, data) == devices::IoResult::kOk);
}

}  // namespace

TEST_CASE("CMOS RTC: the host clock in BCD, 24-hour, never mid-update") {
  devices::CmosRtc rtc([] { return kNow; });
  CHECK(In(rtc, 0x00) == 0x09);  // seconds
  CHECK(In(rtc, 0x02) == 0x41);  // minutes
  CHECK(In(rtc, 0x04) == 0x07);  // hours
  CHECK(In(rtc, 0x06) == 0x01);  // Sunday
  CHECK(In(rtc, 0x07) == 0x22);
  CHECK(In(rtc, 0x08) == 0x11);
  CHECK(In(rtc, 0x09) == 0x26);
  CHECK(In(rtc, 0x32) == 0x20);  // century
  CHECK((In(rtc, 0x0A) & 0x80) == 0);  // UIP clear
  CHECK(In(rtc, 0x0B) == 0x02);        // 24-hour, BCD
  CHECK(In(rtc, 0x0D) == 0x80);        // VRT
  CHECK(In(rtc, 0x80 | 0x00) == 0x09);  // index bit 7 (NMI mask) ignored
}

TEST_CASE("CMOS RTC: binary and 12-hour modes; writes to the time are ignored; RAM keeps bytes") {
  std::time_t now = kNow + 6 * 3600;  // 13:41:09
  devices::CmosRtc rtc([&] { return now; });
  Out(rtc, 0x0B, 0x04 | 0x02);  // binary, 24-hour
  CHECK(In(rtc, 0x04) == 13);
  CHECK(In(rtc, 0x02) == 41);
  Out(rtc, 0x0B, 0x00);  // BCD, 12-hour
  CHECK(In(rtc, 0x04) == (0x80 | 0x01));  // 1 PM
  now = kNow - 7 * 3600 - 41 * 60;        // 00:00:09: 12 AM
  CHECK(In(rtc, 0x04) == 0x12);
  Out(rtc, 0x00, 0x55);
  CHECK(In(rtc, 0x00) == 0x09);
  Out(rtc, 0x40, 0xA5);
  CHECK(In(rtc, 0x40) == 0xA5);
  std::array<std::byte, 2> wide{};
  CHECK(rtc.Read(1, wide) == devices::IoResult::kBadSize);
  CHECK(rtc.Read(2, std::span(wide).first(1)) == devices::IoResult::kBadRegister);
}
