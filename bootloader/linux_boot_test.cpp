#include "linux_boot.h"

#include <doctest/doctest.h>

#include <array>
#include <cstring>
#include <string>
#include <vector>

#include "boot_info.h"
#include "bytes.h"
#include "fake_bzimage.h"

namespace {

std::vector<std::byte> FakeBzImage(uint16_t protocol = 0x020f, uint16_t xloadflags = 0x1) {
  shim::testing::FakeBzImageOptions options;
  options.protocol = protocol;
  options.xloadflags = xloadflags;
  return shim::testing::FakeBzImage(options);
}

template <typename T>
T Load(std::span<const std::byte> bytes, size_t offset) {
  T value{};
  REQUIRE(shim::LoadLe(bytes, offset, value));
  return value;
}

}  // namespace

TEST_CASE("bzImage setup header is read per the boot protocol") {
  const auto image = FakeBzImage();
  auto kernel = shim::ParseBzImage(image);
  REQUIRE_MESSAGE(kernel.ok(), kernel.status().message());
  CHECK(kernel.value().protocol == 0x020f);
  CHECK(kernel.value().setup_bytes == 4 * 512);
  CHECK(kernel.value().payload_bytes == 0x800);
  CHECK(kernel.value().pref_address == 0x1400000);
  CHECK(kernel.value().init_size == 0xdc1000);
  CHECK(kernel.value().header_end == 0x268);
  CHECK(kernel.value().initrd_addr_max == 0x7fffffff);
  CHECK(kernel.value().cmdline_size == 2047);
  CHECK_FALSE(kernel.value().relocatable);
}

TEST_CASE("bzImage problems are refused with a reason") {
  CHECK(std::string(shim::ParseBzImage(FakeBzImage(0x020b)).status().message()) ==
        "kernel: boot protocol older than 2.12 (no 64-bit entry)");
  CHECK(std::string(shim::ParseBzImage(FakeBzImage(0x020f, 0)).status().message()) ==
        "kernel: no 64-bit entry point");
  auto truncated = FakeBzImage();
  truncated.resize(truncated.size() - 1);
  CHECK(std::string(shim::ParseBzImage(truncated).status().message()) ==
        "kernel: file is shorter than its header says");
  std::vector<std::byte> tiny(100);
  CHECK_FALSE(shim::ParseBzImage(tiny).ok());
}

TEST_CASE("the zero page carries the header, initrd, command line and e820 map") {
  const auto image = FakeBzImage();
  const auto kernel = shim::ParseBzImage(image).value();
  const std::array<shim::E820Entry, 2> e820{{{0x1000000, 0x20000, shim::kE820Reserved},
                                             {0x1020000, 0x1FE0000, shim::kE820Ram}}};
  shim::BootLayout layout;
  layout.command_line_gpa = 0x1013000;
  layout.initrd_gpa = 0x2200000;
  layout.initrd_size = 0x105000;
  layout.e820 = e820;
  std::array<std::byte, shim::kZeroPageBytes> zero_page;
  zero_page.fill(std::byte{0xee});
  REQUIRE(shim::BuildZeroPage(zero_page, image, kernel, layout).ok());
  const std::span<const std::byte> page(zero_page);
  CHECK(Load<uint32_t>(page, 0x202) == 0x53726448);   // header copied
  CHECK(Load<uint8_t>(page, 0x210) == 0xFF);          // type_of_loader
  CHECK(Load<uint8_t>(page, 0x211) == 0x01);          // loadflags: no CAN_USE_HEAP
  CHECK(Load<uint16_t>(page, 0x224) == 0);            // heap_end_ptr
  CHECK(Load<uint32_t>(page, 0x218) == 0x2200000);    // ramdisk_image
  CHECK(Load<uint32_t>(page, 0x21C) == 0x105000);     // ramdisk_size
  CHECK(Load<uint32_t>(page, 0x228) == 0x1013000);    // cmd_line_ptr
  CHECK(Load<uint8_t>(page, 0x1E8) == 2);             // e820_entries
  CHECK(Load<uint64_t>(page, 0x2D0 + 20) == 0x1020000);
  CHECK(Load<uint32_t>(page, 0x2D0 + 20 + 16) == shim::kE820Ram);
  CHECK(Load<uint64_t>(page, 0x000) == 0);            // everything else zeroed
}

TEST_CASE("memory map parsing checks order, overlap, wrap and termination") {
  std::vector<std::byte> map(24 * 4);
  std::span<std::byte> bytes(map);
  auto put = [&](size_t i, uint64_t page, uint64_t pages, uint16_t type) {
    REQUIRE(shim::StoreLe(bytes, i * 24, page));
    REQUIRE(shim::StoreLe(bytes, i * 24 + 8, pages));
    REQUIRE(shim::StoreLe(bytes, i * 24 + 16, type));
  };
  put(0, 0x0, 0x1000, shim::kMemoryNormal);
  put(1, 0x1000, 0x2000, shim::kMemoryVtl2Protectable);
  std::array<shim::MemoryRange, 8> ranges;
  auto count = shim::ParseMemoryMap(map, ranges);
  REQUIRE(count.ok());
  CHECK(count.value() == 2);
  auto vtl2 = shim::FindVtl2Range(std::span(ranges).first(2), 0x1000000);
  REQUIRE(vtl2.ok());
  CHECK(vtl2.value().base == 0x1000000);
  CHECK(vtl2.value().size == 0x2000000);
  CHECK_FALSE(shim::FindVtl2Range(std::span(ranges).first(2), 0x4000000).ok());

  put(1, 0x800, 0x2000, shim::kMemoryVtl2Protectable);  // overlaps entry 0
  CHECK(std::string(shim::ParseMemoryMap(map, ranges).status().message()) ==
        "memory map: entries unsorted or overlapping");
  put(1, ~uint64_t{0} >> 12, 2, 0);
  CHECK(std::string(shim::ParseMemoryMap(map, ranges).status().message()) ==
        "memory map: entry wraps the address space");
  for (size_t i = 0; i < 4; ++i) put(i, i * 0x10, 1, 0);  // no terminator
  CHECK(std::string(shim::ParseMemoryMap(map, ranges).status().message()) ==
        "memory map: no terminating entry");
  CHECK(std::string(shim::ParseMemoryMap(map, std::span(ranges).first(2)).status().message()) ==
        "memory map: too many entries");
}

TEST_CASE("command line, VP count and component table are validated") {
  const char text[] = "console=ttyS0\0garbage";
  auto length = shim::ParseCommandLine(std::as_bytes(std::span(text)));
  REQUIRE(length.ok());
  CHECK(length.value() == 13);
  const char control[] = "a\nb";
  CHECK_FALSE(shim::ParseCommandLine(std::as_bytes(std::span(control))).ok());
  const char unterminated[3] = {'a', 'b', 'c'};
  CHECK_FALSE(shim::ParseCommandLine(std::as_bytes(std::span(unterminated))).ok());

  std::array<std::byte, 8> area{};
  REQUIRE(shim::StoreLe<uint32_t>(area, 4, 65));
  CHECK_FALSE(shim::ParseVpCount(area, 4).ok());
  REQUIRE(shim::StoreLe<uint32_t>(area, 4, 4));
  CHECK(shim::ParseVpCount(area, 4).value() == 4);
  CHECK_FALSE(shim::ParseVpCount(area, 6).ok());

  std::vector<std::byte> table(8 + 2 * 32);
  std::span<std::byte> bytes(table);
  REQUIRE(shim::StoreLe<uint32_t>(bytes, 0, 0x434C4348));
  REQUIRE(shim::StoreLe<uint32_t>(bytes, 4, 2));
  auto put = [&](size_t i, uint64_t gpa, uint64_t size, const char* name) {
    REQUIRE(shim::StoreLe(bytes, 8 + i * 32, gpa));
    REQUIRE(shim::StoreLe(bytes, 8 + i * 32 + 8, size));
    std::memcpy(table.data() + 8 + i * 32 + 16, name, std::strlen(name));
  };
  put(0, 0x1100000, 0x1000, "kernelx");
  put(1, 0x1200000, 0x2000, "kernel");
  const shim::MemoryRange vtl2{0x1000000, 0x2000000, shim::kMemoryVtl2Protectable};
  auto kernel = shim::FindComponent(table, "kernel", vtl2);
  REQUIRE(kernel.ok());
  CHECK(kernel.value().gpa == 0x1200000);
  CHECK(std::string(shim::FindComponent(table, "initramfs", vtl2).status().message()) ==
        "component table: component not found");
  put(1, 0x2FFF000, 0x2000, "kernel");  // crosses the end of VTL2 memory
  CHECK(std::string(shim::FindComponent(table, "kernel", vtl2).status().message()) ==
        "component table: component outside VTL2 memory");
}

TEST_CASE("the VTL2 e820 map lists VTL2 ranges as RAM with carve-outs typed") {
  const std::array<shim::MemoryRange, 3> ranges{{{0x10000, 0x10000, shim::kMemoryVtl2Protectable},
                                                 {0x100000, 0xF00000, shim::kMemoryNormal},
                                                 {0x1000000, 0x2000000, shim::kMemoryVtl2Protectable}}};
  const std::array<shim::E820Range, 2> carve{{{0x1014000, 0x3000, 3}, {0x1020000, 0x4000, 2}}};
  std::array<shim::E820Range, 8> e820;
  auto count = shim::BuildVtl2E820(ranges, carve, e820);
  REQUIRE(count.ok());
  REQUIRE(count.value() == 6);
  CHECK(e820[0].address == 0x10000);
  CHECK(e820[0].size == 0x10000);
  CHECK(e820[0].type == 1);
  CHECK(e820[1].address == 0x1000000);
  CHECK(e820[1].size == 0x14000);
  CHECK(e820[1].type == 1);
  CHECK(e820[2].address == 0x1014000);
  CHECK(e820[2].type == 3);
  CHECK(e820[3].address == 0x1017000);
  CHECK(e820[3].size == 0x9000);
  CHECK(e820[4].type == 2);
  CHECK(e820[4].size == 0x4000);
  CHECK(e820[5].address == 0x1024000);
  CHECK(e820[5].size == 0x2000000 - 0x24000);
  CHECK(e820[5].type == 1);
  // No VTL2 range; too small an output.
  CHECK_FALSE(shim::BuildVtl2E820(std::span(ranges).subspan(1, 1), {}, e820).ok());
  CHECK_FALSE(shim::BuildVtl2E820(ranges, carve, std::span(e820).first(5)).ok());
  // Carve-outs unsorted, overlapping, outside VTL2 memory, or straddling a range end.
  const std::array<shim::E820Range, 2> unsorted{{carve[1], carve[0]}};
  CHECK_FALSE(shim::BuildVtl2E820(ranges, unsorted, e820).ok());
  const std::array<shim::E820Range, 2> overlapping{{{0x1014000, 0x10000, 3}, {0x1020000, 0x4000, 2}}};
  CHECK_FALSE(shim::BuildVtl2E820(ranges, overlapping, e820).ok());
  const shim::E820Range outside{0x200000, 0x1000, 2};
  CHECK_FALSE(shim::BuildVtl2E820(ranges, std::span(&outside, 1), e820).ok());
  const shim::E820Range straddling{0x2FFF000, 0x2000, 2};
  CHECK_FALSE(shim::BuildVtl2E820(ranges, std::span(&straddling, 1), e820).ok());
}
