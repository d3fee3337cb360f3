#include "linux_loader.h"

#include <doctest/doctest.h>

#include <array>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

#include "acpi_tables.h"
#include "base/le_bytes.h"
#include "bootloader/fake_bzimage.h"
#include "bootloader/linux_boot.h"

namespace {

using loader::vtl0::E820Type;
using loader::vtl0::RamRange;

// VTL0 RAM of a machine with `mib` MiB: all of it but VTL2's 64 KiB at
// 64 KiB and [16 MiB, 0x2FF0000) (hcl-loader's VSM layout).
std::vector<RamRange> Vtl0Ram(uint64_t mib) {
  return {{0, 0x10000}, {0x20000, 0x1000000 - 0x20000}, {0x2FF0000, (mib << 20) - 0x2FF0000}};
}

// Guest RAM [0, mib MiB), pages untouched until written.
struct TestRam {
  explicit TestRam(uint64_t mib)
      : size(mib << 20), bytes(std::make_unique_for_overwrite<std::byte[]>(size)),
        memory(mem::GuestMemory::Create(mem::Gpa{0}, std::span(bytes.get(), size)).value()) {}
  template <typename T>
  T Load(uint64_t gpa) {
    T value{};
    REQUIRE(base::LoadLe(std::span<const std::byte>(bytes.get(), size), gpa, value));
    return value;
  }
  size_t size;
  std::unique_ptr<std::byte[]> bytes;
  mem::GuestMemory memory;
};

std::vector<std::byte> Relocatable(uint32_t init_size = 0x2000000) {
  shim::testing::FakeBzImageOptions options;
  options.relocatable = true;
  options.pref_address = 0x1000000;
  options.init_size = init_size;
  return shim::testing::FakeBzImage(options);
}

std::string LoadError(const loader::vtl0::LinuxBootInputs& inputs, uint64_t mib = 128) {
  TestRam ram(mib);
  auto loaded = loader::vtl0::LoadLinux(inputs, ram.memory);
  REQUIRE_FALSE(loaded.ok());
  return loaded.error().message();
}

loader::vtl0::AcpiTables Acpi(uint32_t vp_count) {
  auto acpi = loader::vtl0::BuildAcpiTables(loader::vtl0::kAcpiGpa, vp_count);
  REQUIRE_MESSAGE(acpi.ok(), acpi.error().message());
  return std::move(acpi).value();
}

// Inputs as hcl-loader gives them: serial console, VTL0's ACPI tables.
loader::vtl0::LinuxBootInputs Inputs(std::span<const RamRange> ram, std::span<const std::byte> kernel,
                                     std::span<const std::byte> initrd,
                                     const loader::vtl0::AcpiTables& acpi) {
  loader::vtl0::LinuxBootInputs inputs;
  inputs.ram = ram;
  inputs.kernel = kernel;
  inputs.initrd = initrd;
  inputs.command_line = "console=ttyS0 earlyprintk=serial";
  inputs.acpi_tables = acpi.bytes;
  inputs.acpi_rsdp_gpa = acpi.rsdp_gpa;
  return inputs;
}

std::vector<std::byte> ReadFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::vector<char> chars((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<std::byte> bytes(chars.size());
  for (size_t i = 0; i < chars.size(); ++i) bytes[i] = static_cast<std::byte>(chars[i]);
  return bytes;
}

// Real kernels to load: $HCL_TEST_BZIMAGE; this build's VTL2 kernel
// (BUILD/kernel-config/bzImage, BUILD being the unit-tests binary's
// grandparent, when firmware is built); the stock kernel's cache
// (tests/harness/stock-kernel) when it has been fetched.
std::vector<std::filesystem::path> RealKernels() {
  std::vector<std::filesystem::path> found;
  std::error_code error;
  if (const char* env = std::getenv("HCL_TEST_BZIMAGE")) found.emplace_back(env);
  const auto self = std::filesystem::read_symlink("/proc/self/exe", error);
  if (!error) found.push_back(self.parent_path().parent_path() / "kernel-config/bzImage");
  std::filesystem::path cache;
  if (const char* env = std::getenv("HCL_CACHE")) cache = env;
  else if (const char* home = std::getenv("HOME")) cache = std::filesystem::path(home) / ".cache/hcl";
  if (!cache.empty() && std::filesystem::is_directory(cache / "stock-kernel", error))
    for (const auto& entry : std::filesystem::directory_iterator(cache / "stock-kernel", error))
      found.push_back(entry.path() / "vmlinuz");
  std::erase_if(found, [](const auto& path) {
    std::error_code e;
    return !std::filesystem::is_regular_file(path, e);
  });
  return found;
}

}  // namespace

TEST_CASE("vtl0 linux: layout, zero page, e820 and BSP state for a relocatable kernel") {
  TestRam ram(128);
  const auto ram_ranges = Vtl0Ram(128);
  const auto kernel = Relocatable();
  const std::vector<std::byte> initrd(0x12345, std::byte{0x5A});
  const auto acpi = Acpi(2);
  const auto inputs = Inputs(ram_ranges, kernel, initrd, acpi);
  auto loaded = loader::vtl0::LoadLinux(inputs, ram.memory);
  REQUIRE_MESSAGE(loaded.ok(), loaded.error().message());
  const auto& layout = loaded->layout;
  INFO(layout.Describe());

  // pref_address 16 MiB is VTL2's: the first 2 MiB boundary past it.
  CHECK(layout.kernel_gpa == 0x3000000);
  CHECK(layout.kernel_file_bytes == 0x800);
  CHECK(ram.Load<uint8_t>(0x3000000) == 0x90);
  CHECK(layout.initrd_gpa == ((128u << 20) - 0x12345) / 0x1000 * 0x1000);
  CHECK(ram.Load<uint8_t>(layout.initrd_gpa + 0x12344) == 0x5A);
  CHECK(layout.zero_page_gpa == 0x30000);
  CHECK(layout.acpi_gpa == 0x40000);

  const std::vector<loader::vtl0::E820Range> want{
      {0, 0x10000, E820Type::kRam},
      {0x20000, 0x10000, E820Type::kRam},
      {0x30000, 0x9000, E820Type::kReserved},
      {0x39000, 0x7000, E820Type::kRam},
      {0x40000, 0x1000, E820Type::kAcpi},
      {0x41000, 0x1000000 - 0x41000, E820Type::kRam},
      {0x2FF0000, (128u << 20) - 0x2FF0000, E820Type::kRam}};
  REQUIRE(layout.e820.size() == want.size());
  for (size_t i = 0; i < want.size(); ++i) {
    CHECK(layout.e820[i].gpa == want[i].gpa);
    CHECK(layout.e820[i].size_bytes == want[i].size_bytes);
    CHECK(layout.e820[i].type == want[i].type);
  }

  // The zero page (zero-page.rst, boot.rst offsets).
  const uint64_t zp = layout.zero_page_gpa;
  CHECK(ram.Load<uint64_t>(zp + 0x070) == acpi.rsdp_gpa);  // acpi_rsdp_addr
  CHECK(ram.Load<uint8_t>(zp + 0x1E8) == want.size());      // e820_entries
  CHECK(ram.Load<uint64_t>(zp + 0x2D0 + 4 * 20) == 0x40000);
  CHECK(ram.Load<uint32_t>(zp + 0x2D0 + 4 * 20 + 16) == 3);
  CHECK(ram.Load<uint32_t>(zp + 0x202) == 0x53726448);      // HdrS
  CHECK(ram.Load<uint8_t>(zp + 0x210) == 0xFF);             // type_of_loader
  CHECK(ram.Load<uint8_t>(zp + 0x211) == 0x81);             // LOADED_HIGH | CAN_USE_HEAP
  CHECK(ram.Load<uint16_t>(zp + 0x224) == 0xDE00);          // heap_end_ptr
  CHECK(ram.Load<uint32_t>(zp + 0x218) == layout.initrd_gpa);
  CHECK(ram.Load<uint32_t>(zp + 0x21C) == 0x12345);
  CHECK(ram.Load<uint32_t>(zp + 0x228) == 0x31000);         // cmd_line_ptr
  CHECK(ram.Load<uint8_t>(0x31000) == 'c');
  CHECK(ram.Load<uint8_t>(0x31000 + inputs.command_line.size()) == 0);
  // GDT: __BOOT_CS 0x10 (64-bit code), __BOOT_DS 0x18.
  CHECK(ram.Load<uint64_t>(layout.gdt_gpa + 0x10) == 0x00AF9B000000FFFF);
  CHECK(ram.Load<uint64_t>(layout.gdt_gpa + 0x18) == 0x00CF93000000FFFF);
  // Page tables: PML4[0] -> PDPT, PD[3][511] maps 4 GiB - 2 MiB.
  CHECK(ram.Load<uint64_t>(layout.page_tables_gpa) == ((layout.page_tables_gpa + 0x1000) | 3));
  CHECK(ram.Load<uint64_t>(layout.page_tables_gpa + 5 * 0x1000 + 511 * 8) == (0xFFE00000 | 0x83));
  // ACPI tables.
  CHECK(ram.Load<uint64_t>(acpi.rsdp_gpa) == 0x2052545020445352);  // "RSD PTR "

  const loader::X64VpState& bsp = loaded->bsp;
  CHECK(bsp.vtl == 0);
  CHECK(bsp.rip == 0x3000200);
  CHECK(bsp.rsi == 0x30000);
  CHECK(bsp.cr3 == layout.page_tables_gpa);
  CHECK(bsp.efer == 0xD00);
  CHECK(bsp.rflags == 0x2);
  REQUIRE(bsp.cs.has_value());
  CHECK(bsp.cs->selector == 0x10);
  CHECK(bsp.ds->selector == 0x18);
  CHECK(bsp.ss->selector == 0x18);
  CHECK(bsp.gdtr->base == layout.gdt_gpa);
}

TEST_CASE("vtl0 linux: refusals name the problem") {
  const auto ram_ranges = Vtl0Ram(128);
  const auto good = Relocatable();
  loader::vtl0::LinuxBootInputs inputs;
  inputs.ram = ram_ranges;
  inputs.kernel = good;

  auto truncated = good;
  truncated.resize(truncated.size() - 1);
  inputs.kernel = truncated;
  CHECK(LoadError(inputs) == "vtl0 boot: kernel: file is shorter than its header says");
  const std::vector<std::byte> junk(0x1000, std::byte{0x41});
  inputs.kernel = junk;
  CHECK(LoadError(inputs) == "vtl0 boot: kernel: no boot flag 0xAA55 (not a bzImage)");
  shim::testing::FakeBzImageOptions old;
  old.protocol = 0x020b;
  const auto old_kernel = shim::testing::FakeBzImage(old);
  inputs.kernel = old_kernel;
  CHECK(LoadError(inputs) == "vtl0 boot: kernel: boot protocol older than 2.12 (no 64-bit entry)");

  // Not relocatable, and its pref_address (20 MiB) is VTL2's.
  const auto fixed = shim::testing::FakeBzImage({});
  inputs.kernel = fixed;
  CHECK(LoadError(inputs).find("not relocatable") != std::string::npos);

  // init_size larger than any VTL0 RAM range.
  const auto huge = Relocatable(0x6000000);
  inputs.kernel = huge;
  CHECK(LoadError(inputs).find("for the kernel") != std::string::npos);

  inputs.kernel = good;
  const std::vector<std::byte> big_initrd(0x4E00000);  // 78 MiB: more than is left
  inputs.initrd = big_initrd;
  CHECK(LoadError(inputs).find("initrd") != std::string::npos);
  inputs.initrd = {};

  const std::string long_line(2048, 'x');
  inputs.command_line = long_line;
  CHECK(LoadError(inputs).find("command line") != std::string::npos);
  inputs.command_line = "";

  const std::vector<RamRange> unsorted{{0x2FF0000, 0x1000000}, {0x20000, 0x10000}};
  inputs.ram = unsorted;
  CHECK(LoadError(inputs).find("unsorted") != std::string::npos);
  const std::vector<RamRange> outside{{0x20000, 0x20000}, {0x2FF0000, 0x8000000}};
  inputs.ram = outside;
  CHECK(LoadError(inputs).find("outside guest memory") != std::string::npos);
  const std::vector<RamRange> no_low{{0x2FF0000, 0x1000000}};
  inputs.ram = no_low;
  CHECK(LoadError(inputs).find("boot data") != std::string::npos);
  inputs.ram = ram_ranges;

  const std::vector<std::byte> acpi(0x100);
  inputs.acpi_tables = acpi;
  inputs.acpi_gpa = 0x38000;  // over the boot data
  CHECK(LoadError(inputs).find("ACPI") != std::string::npos);
  inputs.acpi_gpa = 0x40000;
  inputs.acpi_rsdp_gpa = 0x40000 + 0x100 - 35;
  CHECK(LoadError(inputs) == "vtl0 boot: RSDP outside the ACPI tables");
}

TEST_CASE("vtl0 linux: e820 carving") {
  const std::vector<RamRange> ram{{0, 0x10000}, {0x20000, 0x100000}};
  const std::vector<loader::vtl0::E820Range> carve{{0x30000, 0x1000, E820Type::kReserved},
                                                   {0x20000, 0x1000, E820Type::kAcpi}};
  auto e820 = loader::vtl0::BuildE820(ram, carve);
  REQUIRE(e820.ok());
  REQUIRE(e820->size() == 5);
  CHECK((*e820)[1].type == E820Type::kAcpi);
  CHECK((*e820)[2].gpa == 0x21000);
  CHECK((*e820)[3].type == E820Type::kReserved);
  CHECK((*e820)[4].gpa + (*e820)[4].size_bytes == 0x120000);
  const std::vector<loader::vtl0::E820Range> overlap{{0x30000, 0x2000, E820Type::kReserved},
                                                     {0x31000, 0x1000, E820Type::kAcpi}};
  CHECK_FALSE(loader::vtl0::BuildE820(ram, overlap).ok());
  const std::vector<loader::vtl0::E820Range> hole{{0x11000, 0x1000, E820Type::kReserved}};
  CHECK_FALSE(loader::vtl0::BuildE820(ram, hole).ok());
  const std::vector<loader::vtl0::E820Range> across{{0xF000, 0x2000, E820Type::kReserved}};
  CHECK_FALSE(loader::vtl0::BuildE820(ram, across).ok());
}

TEST_CASE("vtl0 linux: real bzImages (the VTL2 kernel, the stock kernel) load") {
  const auto kernels = RealKernels();
  if (kernels.empty()) MESSAGE("no bzImage found (build firmware or run tests/harness/stock-kernel)");
  for (const auto& path : kernels) {
    INFO(path.string());
    const auto kernel = ReadFile(path);
    TestRam ram(256);
    const auto ram_ranges = Vtl0Ram(256);
    const std::vector<std::byte> initrd(0x400000, std::byte{1});
    const auto acpi = Acpi(4);
    auto loaded = loader::vtl0::LoadLinux(Inputs(ram_ranges, kernel, initrd, acpi), ram.memory);
    const auto header = shim::ParseBzImage(kernel);
    REQUIRE(header.ok());
    if (!header.value().relocatable) {
      // This repo's VTL2 kernel is built to run at 20 MiB, inside VTL2:
      // VTL0 cannot take it, and says why.
      REQUIRE_FALSE(loaded.ok());
      CHECK(loaded.error().message().find("not relocatable") != std::string::npos);
      MESSAGE(path.string() << ": " << loaded.error().message());
      continue;
    }
    REQUIRE_MESSAGE(loaded.ok(), loaded.error().message());
    const auto& layout = loaded->layout;
    MESSAGE(path.string() << ":\n" << layout.Describe());
    CHECK(layout.protocol >= 0x020C);
    CHECK(layout.kernel_gpa % 0x200000 == 0);
    CHECK(layout.kernel_gpa >= 0x2FF0000);  // past VTL2
    CHECK(layout.initrd_gpa >= layout.kernel_gpa + layout.kernel_init_bytes);
    CHECK(layout.initrd_gpa + layout.initrd_bytes <= (256u << 20));
    CHECK(loaded->bsp.rip == layout.kernel_gpa + 0x200);
  }
}
