// Fuzz target: every parser the shim runs over host-provided or image bytes.
#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

#include "acpi_tables.h"
#include "base/fuzz_target.h"
#include "boot_info.h"
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
