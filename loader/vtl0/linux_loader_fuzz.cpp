// Fuzz target: a hostile bzImage through the whole VTL0 load (header
// parsing is the shim's, fuzzed in shim-boot-info too; here also the
// placement arithmetic over init_size, kernel_alignment, pref_address,
// initrd_addr_max and cmdline_size). The first input byte picks the initrd
// size in pages, the rest is the kernel.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "base/fuzz_target.h"
#include "linux_loader.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  constexpr size_t kRamBytes = 64u << 20;
  static const auto backing = std::make_unique_for_overwrite<std::byte[]>(kRamBytes);
  auto memory = mem::GuestMemory::Create(mem::Gpa{0}, std::span(backing.get(), kRamBytes));
  if (!memory) __builtin_trap();
  const std::vector<loader::vtl0::RamRange> ram{
      {0, 0x10000}, {0x20000, 0x1000000 - 0x20000}, {0x2FF0000, kRamBytes - 0x2FF0000}};
  const std::vector<std::byte> initrd(size_t{data[0]} * 0x1000, std::byte{0});
  loader::vtl0::LinuxBootInputs inputs;
  inputs.ram = ram;
  inputs.kernel = std::as_bytes(std::span(data + 1, size - 1));
  inputs.initrd = initrd;
  inputs.command_line = "console=ttyS0";
  auto loaded = loader::vtl0::LoadLinux(inputs, *memory);
  if (!loaded) return 0;
  // What was placed lies in VTL0 RAM and clear of the boot data.
  const auto& layout = loaded->layout;
  auto in_ram = [&](uint64_t gpa, uint64_t bytes) {
    for (const auto& range : ram)
      if (gpa >= range.gpa && gpa + bytes <= range.gpa + range.size_bytes) return true;
    return false;
  };
  if (!in_ram(layout.kernel_gpa, layout.kernel_init_bytes) || layout.kernel_gpa % 0x200000 != 0)
    __builtin_trap();
  if (layout.initrd_bytes != 0 && !in_ram(layout.initrd_gpa, layout.initrd_bytes)) __builtin_trap();
  if (layout.initrd_bytes != 0 && layout.initrd_gpa < layout.kernel_gpa + layout.kernel_init_bytes &&
      layout.kernel_gpa < layout.initrd_gpa + layout.initrd_bytes)
    __builtin_trap();
  if (loaded->bsp.rip != layout.kernel_gpa + 0x200) __builtin_trap();
  return 0;
}
