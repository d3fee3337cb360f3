// Fuzz target: every parser the shim runs over host-provided or image bytes.
#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

#include "acpi_tables.h"
#include "base/fuzz_target.h"
#include "boot_info.h"
#include "command_line.h"
#include "linux_boot.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto bytes = std::as_bytes(std::span(data, size));
  std::array<shim::MemoryRange, 16> ranges;
  if (auto count = shim::ParseMemoryMap(bytes, ranges); count.ok()) {
    if (count.value() > ranges.size()) __builtin_trap();
    (void)shim::FindVtl2Range(std::span(ranges).first(count.value()), 0x1000000);
  }
  if (auto length = shim::ParseCommandLine(bytes); length.ok() && length.value() >= size)
    __builtin_trap();
  // The host's command line merged with a measured one: the result always
  // ends in the measured line and stays within the limit.
  {
    static constexpr char kMeasured[] = "console=ttyS0 panic=-1";
    const std::array<shim::MemoryRange, 3> map{{{0x0, 0x1000000, shim::kMemoryNormal},
                                                {0x1000000, 0x1ff0000, shim::kMemoryVtl2Protectable},
                                                {0x2ff0000, 0xd010000, shim::kMemoryNormal}}};
    shim::MergeInputs inputs;
    inputs.measured = std::as_bytes(std::span(kMeasured, sizeof(kMeasured) - 1));
    inputs.host = bytes;
    inputs.memory_map = map;
    inputs.max_length = 2047;
    std::array<char, 4096> out;
    std::array<shim::DroppedOption, 4> dropped;
    auto merged = shim::MergeCommandLine(inputs, out, dropped);
    if (!merged.ok()) __builtin_trap();
    const size_t length = merged.value().length;
    const size_t measured_length = sizeof(kMeasured) - 1;
    if (length > inputs.max_length || length < measured_length || out[length] != '\0')
      __builtin_trap();
    for (size_t i = 0; i < measured_length; ++i)
      if (out[length - measured_length + i] != kMeasured[i]) __builtin_trap();
    for (size_t i = 0; i < length; ++i)
      if (out[i] == '"') __builtin_trap();
  }
  (void)shim::ParseVpCount(bytes, 0);
  const shim::MemoryRange vtl2{0, ~uint64_t{0}, shim::kMemoryVtl2Protectable};
  (void)shim::FindComponent(bytes, "kernel", vtl2);
  // The MADT parameter is host-written: checked, then copied into the tables.
  if (auto length = shim::acpi::CheckMadt(bytes); length.ok() && length.value() > size)
    __builtin_trap();
  std::array<std::byte, 0x3000> acpi;
  if (auto tables = shim::acpi::BuildAcpiTables(acpi, 0x1014000, bytes);
      tables.ok() && tables.value().bytes_used > acpi.size())
    __builtin_trap();
  if (auto kernel = shim::ParseBzImage(bytes); kernel.ok()) {
    std::array<std::byte, shim::kZeroPageBytes> zero_page;
    const shim::E820Entry ram{0x1000000, 0x2000000, shim::kE820Ram};
    shim::BootLayout layout;
    layout.e820 = std::span(&ram, 1);
    if (!shim::BuildZeroPage(zero_page, bytes, kernel.value(), layout).ok()) __builtin_trap();
  }
  return 0;
}
