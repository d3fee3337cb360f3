#include "command_line.h"

#include <doctest/doctest.h>

#include <array>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace {

// The memory map hcl-loader writes for 256 MiB (loader/memory_layout.cpp):
// VTL2's low range and main range, normal memory around them.
const std::array<shim::MemoryRange, 5> kMap{{
    {0x0, 0x10000, shim::kMemoryNormal},
    {0x10000, 0x10000, shim::kMemoryVtl2Protectable},
    {0x20000, 0xFE0000, shim::kMemoryNormal},
    {0x1000000, 0x1FF0000, shim::kMemoryVtl2Protectable},
    {0x2FF0000, 0xD010000, shim::kMemoryNormal},
}};

// What the loader asks for today (loader/main.cpp).
constexpr std::string_view kLoaderVtl0Ram = "hcl.vtl0_ram=0-10000,20000-a0000,100000-1000000,2ff0000-10000000";

struct Merged {
  std::string line;
  std::vector<std::pair<std::string, shim::DropReason>> dropped;
  size_t dropped_count = 0;
};

Merged Merge(std::string_view host, std::string_view measured = "console=ttyS0 panic=-1",
             size_t max_length = 2047) {
  shim::MergeInputs inputs;
  inputs.measured = std::as_bytes(std::span(measured.data(), measured.size()));
  inputs.host = std::as_bytes(std::span(host.data(), host.size()));
  inputs.memory_map = kMap;
  inputs.max_length = max_length;
  std::array<char, 4096> out;
  out.fill('#');
  std::array<shim::DroppedOption, 4> dropped;
  auto result = shim::MergeCommandLine(inputs, out, dropped);
  REQUIRE_MESSAGE(result.ok(), result.status().message());
  Merged merged;
  REQUIRE(result.value().length < out.size());
  CHECK(out[result.value().length] == '\0');
  merged.line.assign(out.data(), result.value().length);
  merged.dropped_count = result.value().dropped;
  for (size_t i = 0; i < result.value().dropped && i < dropped.size(); ++i)
    merged.dropped.emplace_back(std::string(dropped[i].word()), dropped[i].reason);
  return merged;
}

}  // namespace

TEST_CASE("command line: allow-listed host options go first, the measured line last") {
  const auto merged = Merge("tsc_early_khz=2994000 " + std::string(kLoaderVtl0Ram) +
                            " hcl.poweroff=ready");
  CHECK(merged.line == "tsc_early_khz=2994000 " + std::string(kLoaderVtl0Ram) +
                           " hcl.poweroff=ready console=ttyS0 panic=-1");
  CHECK(merged.dropped_count == 0);
  // Every entry of the allow-list, in the forms it accepts.
  const auto all = Merge("console=ttyS1,115200 loglevel=7 quiet hcl.trace=intercepts "
                         "hcl.vtl0_deny=37000-38000");
  CHECK(all.line ==
        "console=ttyS1,115200 loglevel=7 quiet hcl.trace=intercepts hcl.vtl0_deny=37000-38000 "
        "console=ttyS0 panic=-1");
  CHECK(all.dropped_count == 0);
  CHECK(Merge("").line == "console=ttyS0 panic=-1");
  CHECK(Merge("   ").line == "console=ttyS0 panic=-1");
  CHECK(Merge("quiet", "").line == "quiet ");
}

TEST_CASE("command line: a host option off the allow-list is dropped and reported") {
  const auto merged = Merge("init=/bin/sh quiet rdinit=/x memmap=64M$0x1000000 -- "
                            "mitigations=off hcl.bogus=1 =x nokaslr");
  CHECK(merged.line == "quiet console=ttyS0 panic=-1");
  CHECK(merged.dropped_count == 8);
  REQUIRE(merged.dropped.size() == 4);  // the rest are counted only
  CHECK(merged.dropped[0].first == "init=/bin/sh");
  CHECK(merged.dropped[0].second == shim::DropReason::kNotAllowed);
  CHECK(merged.dropped[1].first == "rdinit=/x");
  CHECK(merged.dropped[2].first == "memmap=64M$0x1000000");
  CHECK(merged.dropped[3].first == "--");
  CHECK(std::string(shim::DropReasonText(merged.dropped[0].second)) == "not allow-listed");
  // Linux treats '-' and '_' alike in names; the list does not, so a
  // respelled name is dropped rather than let through.
  CHECK(Merge("tsc-early-khz=1").dropped_count == 1);
  CHECK(Merge("Quiet").dropped_count == 1);
}

TEST_CASE("command line: the measured line wins on a repeated name") {
  const auto merged = Merge("hcl.poweroff=ready hcl.vtl0_ram=2ff0000-3000000",
                            "console=ttyS0 hcl.vtl0_ram=2ff0000-4000000");
  CHECK(merged.line ==
        "hcl.poweroff=ready hcl.vtl0_ram=2ff0000-3000000 console=ttyS0 hcl.vtl0_ram=2ff0000-4000000");
  // The later occurrence is the measured one.
  CHECK(merged.line.rfind("hcl.vtl0_ram=") > merged.line.find("console=ttyS0"));
}

TEST_CASE("command line: quotes and bad values from the host are dropped") {
  // An unclosed quote would make Linux read the measured line as part of
  // the host's value.
  const auto quoted = Merge("console=\"ttyS1 quiet");
  CHECK(quoted.line == "quiet console=ttyS0 panic=-1");
  REQUIRE(quoted.dropped.size() == 1);
  CHECK(quoted.dropped[0].second == shim::DropReason::kQuoted);
  CHECK(Merge("\"init=/bin/sh\"").dropped[0].second == shim::DropReason::kQuoted);
  for (const char* bad : {"quiet=1", "console", "console=", "loglevel=x", "loglevel=12345678901",
                          "tsc_early_khz=", "hcl.poweroff=later", "hcl.poweroff",
                          "hcl.trace=all", "hcl.vtl0_ram=", "hcl.vtl0_ram=1000",
                          "hcl.vtl0_deny"}) {
    const auto merged = Merge(bad);
    CHECK_MESSAGE(merged.line == "console=ttyS0 panic=-1", bad);
    REQUIRE(merged.dropped.size() == 1);
    CHECK(merged.dropped[0].second == shim::DropReason::kBadValue);
  }
}

TEST_CASE("command line: hcl.vtl0_ram must be RAM in the memory map and clear of VTL2") {
  CHECK(Merge(kLoaderVtl0Ram).dropped_count == 0);
  struct Case {
    const char* word;
    shim::DropReason reason;
  };
  for (const Case& c : std::initializer_list<Case>{
           // VTL2's main range, its first page (the shim), its parameter
           // area and ACPI pages, its low range.
           {"hcl.vtl0_ram=1000000-2000000", shim::DropReason::kOverlapsVtl2},
           {"hcl.vtl0_ram=0-10000,20000-a0000,fff000-1001000", shim::DropReason::kOverlapsVtl2},
           {"hcl.vtl0_ram=1014000-1024000", shim::DropReason::kOverlapsVtl2},
           {"hcl.vtl0_ram=0-20000", shim::DropReason::kOverlapsVtl2},
           {"hcl.vtl0_ram=2fef000-2ff1000", shim::DropReason::kOverlapsVtl2},
           // Past the end of RAM: the I/O APIC, the local APIC, above 4 GiB.
           {"hcl.vtl0_ram=2ff0000-10001000", shim::DropReason::kNotRam},
           {"hcl.vtl0_ram=fec00000-fec01000", shim::DropReason::kNotRam},
           {"hcl.vtl0_ram=fee00000-fee01000", shim::DropReason::kNotRam},
           {"hcl.vtl0_ram=100000000-200000000", shim::DropReason::kNotRam},
           // Malformed lists.
           {"hcl.vtl0_ram=20000-a0000,0-10000", shim::DropReason::kBadValue},
           {"hcl.vtl0_ram=0-10000,", shim::DropReason::kBadValue},
           {"hcl.vtl0_ram=0-10000,,20000-a0000", shim::DropReason::kBadValue},
           {"hcl.vtl0_ram=0-1001", shim::DropReason::kBadValue},
           {"hcl.vtl0_ram=2000-1000", shim::DropReason::kBadValue},
           {"hcl.vtl0_ram=0x-1000", shim::DropReason::kBadValue},
           {"hcl.vtl0_ram=00000000000000000-1000", shim::DropReason::kBadValue},
           {"hcl.vtl0_ram=0-1000-2000", shim::DropReason::kBadValue},
       }) {
    const auto merged = Merge(c.word);
    CHECK_MESSAGE(merged.line == "console=ttyS0 panic=-1", c.word);
    REQUIRE(merged.dropped.size() == 1);
    CHECK_MESSAGE(merged.dropped[0].second == c.reason, c.word);
  }
  // A range over two adjacent normal entries is RAM.
  const std::array<shim::MemoryRange, 2> split{{{0x0, 0x100000, shim::kMemoryNormal},
                                                {0x100000, 0x100000, shim::kMemoryNormal}}};
  shim::DropReason reason{};
  CHECK(shim::CheckVtl0Range({0x80000, 0x180000}, split, reason));
  CHECK_FALSE(shim::CheckVtl0Range({0x80000, 0x201000}, split, reason));
  CHECK(reason == shim::DropReason::kNotRam);
}

TEST_CASE("command line: hcl.vtl0_ram is read as hcl reads it, capped at 16 ranges") {
  std::array<shim::Vtl0Range, 32> ranges;
  auto count = shim::ParseVtl0Ranges("0-10000,0x20000-0XA0000,2ff0000-10000000", ranges);
  REQUIRE(count.ok());
  REQUIRE(count.value() == 3);
  CHECK(ranges[1].start == 0x20000);
  CHECK(ranges[1].end == 0xa0000);
  CHECK(ranges[2].end == 0x10000000);
  std::string list;
  for (int i = 0; i < 16; ++i) list += (i ? "," : "") + std::to_string(i * 2) + "000-" +
                                      std::to_string(i * 2 + 1) + "000";
  CHECK(shim::ParseVtl0Ranges(list, ranges).value() == 16);
  CHECK(std::string(shim::ParseVtl0Ranges(list + ",40000-41000", ranges).status().message()) ==
        "hcl.vtl0_ram: too many ranges");
  CHECK_FALSE(shim::ParseVtl0Ranges("0-1000,2000-3000", std::span(ranges).first(1)).ok());
  CHECK(shim::ParseVtl0Ranges("ffffffffffff0000-fffffffffffff000", ranges).ok());
}

TEST_CASE("command line: the measured line always fits; host words give way") {
  // The kernel keeps cmdline_size bytes: host words that would push the
  // measured line past it are dropped, not the measured line.
  const auto merged = Merge("quiet loglevel=7 console=ttyS1", "console=ttyS0 panic=-1", 39);
  CHECK(merged.line == "quiet loglevel=7 console=ttyS0 panic=-1");
  CHECK(merged.line.size() == 39);
  REQUIRE(merged.dropped.size() == 1);
  CHECK(merged.dropped[0].first == "console=ttyS1");
  CHECK(merged.dropped[0].second == shim::DropReason::kNoRoom);
  // Exactly full.
  CHECK(Merge("quiet", "console=ttyS0", 19).line == "quiet console=ttyS0");
  CHECK(Merge("quiet", "console=ttyS0", 18).dropped_count == 1);
  // A long host word is cut in the report, not in memory.
  const std::string long_word = "init=" + std::string(200, 'a');
  const auto cut = Merge(long_word);
  REQUIRE(cut.dropped.size() == 1);
  CHECK(cut.dropped[0].first == long_word.substr(0, shim::DroppedOption::kTextBytes));

  shim::MergeInputs inputs;
  const std::string measured(100, 'm');
  inputs.measured = std::as_bytes(std::span(measured.data(), measured.size()));
  inputs.max_length = 99;
  std::array<char, 4096> out;
  CHECK(std::string(shim::MergeCommandLine(inputs, out, {}).status().message()) ==
        "command line: the measured one is longer than the kernel takes");
  inputs.max_length = 4096;
  CHECK_FALSE(shim::MergeCommandLine(inputs, std::span(out).first(100), {}).ok());
  CHECK(shim::MergeCommandLine(inputs, std::span(out).first(101), {}).ok());
}
