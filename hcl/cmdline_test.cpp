#include "cmdline.h"

#include <doctest/doctest.h>

#include <string>

TEST_CASE("kernel command line splits on blanks and honours quotes") {
  auto params = hcl::SplitKernelCommandLine("  console=ttyS0 quiet  foo=\"a b\" \"x=y z\"\n");
  REQUIRE(params.size() == 4);
  CHECK(params[0].key == "console");
  CHECK(params[0].value == "ttyS0");
  CHECK(params[1].key == "quiet");
  CHECK_FALSE(params[1].has_value);
  CHECK(params[2].value == "a b");
  CHECK(params[3].key == "x");
  CHECK(params[3].value == "y z");
}

TEST_CASE("hcl.poweroff=ready asks for power-off; anything else warns") {
  CHECK(hcl::ParseOptions("console=ttyS0 hcl.poweroff=ready").power_off ==
        hcl::Options::PowerOff::kWhenReady);
  CHECK(hcl::ParseOptions("console=ttyS0").power_off == hcl::Options::PowerOff::kNever);

  auto bad = hcl::ParseOptions("hcl.poweroff=later hcl.bogus=1 hcl.poweroff");
  CHECK(bad.power_off == hcl::Options::PowerOff::kNever);
  REQUIRE(bad.warnings.size() == 3);
  CHECK(bad.warnings[0] == "hcl.poweroff: unknown value 'later' (expected 'ready'), ignored");
  CHECK(bad.warnings[1] == "unknown option 'hcl.bogus', ignored");
}

TEST_CASE("a hostile command line cannot flood the console") {
  std::string text;
  for (int i = 0; i < 1000; ++i) text += "hcl.x" + std::to_string(i) + " ";
  CHECK(hcl::ParseOptions(text).warnings.size() == 8);
  CHECK(hcl::ParseOptions(std::string(100000, '"')).warnings.empty());
}

TEST_CASE("hcl.vtl0_ram: VTL0's RAM ranges; malformed lists are a warning") {
  const auto options = hcl::ParseOptions("hcl.vtl0_ram=0-10000,0x20000-0xa0000,2ff0000-10000000");
  REQUIRE(options.vtl0_ram.size() == 3);
  CHECK(options.vtl0_ram[0].start == 0);
  CHECK(options.vtl0_ram[0].end == 0x10000);
  CHECK(options.vtl0_ram[2].start == 0x2ff0000);
  CHECK(options.vtl0_ram[2].end == 0x10000000);
  CHECK(options.warnings.empty());
  for (const char* bad : {"hcl.vtl0_ram=", "hcl.vtl0_ram=10-20", "hcl.vtl0_ram=2000-1000",
                          "hcl.vtl0_ram=0-1000,0-2000", "hcl.vtl0_ram=x-y", "hcl.vtl0_ram=1000"}) {
    const auto parsed = hcl::ParseOptions(bad);
    CHECK(parsed.vtl0_ram.empty());
    CHECK(parsed.warnings.size() == 1);
  }
}

TEST_CASE("hcl.vtl0_deny: pages VTL0 may not touch") {
  const auto options = hcl::ParseOptions("hcl.vtl0_deny=37000-38000");
  REQUIRE(options.vtl0_deny.size() == 1);
  CHECK(options.vtl0_deny[0].start == 0x37000);
  CHECK(options.vtl0_deny[0].end == 0x38000);
  CHECK(hcl::ParseOptions("hcl.vtl0_deny=37001-38000").warnings.size() == 1);
}

TEST_CASE("a repeated option: the last word wins (the shim puts the measured line last)") {
  // bootloader/command_line.h: host options first, the image's line after.
  const auto options = hcl::ParseOptions(
      "hcl.vtl0_ram=1000000-2000000 hcl.trace=intercepts console=ttyS0 "
      "hcl.vtl0_ram=2ff0000-10000000");
  REQUIRE(options.vtl0_ram.size() == 1);
  CHECK(options.vtl0_ram[0].start == 0x2ff0000);
  CHECK(options.vtl0_ram[0].end == 0x10000000);
  CHECK(options.trace_intercepts);
  CHECK(options.warnings.empty());
}

TEST_CASE("hcl.vtl0_ram takes as many ranges as the driver, hcl.vtl0_deny more") {
  auto list = [](size_t count) {
    std::string text;
    for (size_t i = 0; i < count; ++i)
      text += (i ? "," : "") + std::to_string(i * 2) + "000-" + std::to_string(i * 2 + 1) + "000";
    return text;
  };
  static_assert(hcl::Options::kMaxVtl0RamRanges == 16);  // = MV_MAX_VTL0_RANGES
  CHECK(hcl::ParseOptions("hcl.vtl0_ram=" + list(16)).vtl0_ram.size() == 16);
  const auto too_many = hcl::ParseOptions("hcl.vtl0_ram=" + list(17));
  CHECK(too_many.vtl0_ram.empty());
  REQUIRE(too_many.warnings.size() == 1);
  CHECK(too_many.warnings[0] == "hcl.vtl0_ram: too many ranges, ignored");
  CHECK(hcl::ParseOptions("hcl.vtl0_deny=" + list(32)).vtl0_deny.size() == 32);
  CHECK(hcl::ParseOptions("hcl.vtl0_deny=" + list(33)).vtl0_deny.empty());
}
