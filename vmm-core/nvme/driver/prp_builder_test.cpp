#include "nvme/driver/prp_builder.h"

#include <doctest/doctest.h>

namespace {

using nvme::driver::BuildDataCommands;
using nvme::driver::DataCommand;

block::Segment Seg(uint64_t gpa, uint32_t bytes) { return block::Segment{mem::Gpa{gpa}, bytes}; }

std::vector<DataCommand> Build(std::vector<block::Segment> segments, uint64_t blocks, uint32_t block_size = 512,
                               uint32_t max_bytes = 1024 * 1024) {
  auto result = BuildDataCommands(segments, blocks, block_size, max_bytes);
  REQUIRE(result.ok());
  return std::move(result).value();
}

}  // namespace

TEST_CASE("nvme prp builder: one page, two pages, and a list") {
  // NVMe 2.0 §4.1.1: data within PRP1's page needs no PRP2.
  auto one = Build({Seg(0x10200, 1024)}, 2);
  REQUIRE(one.size() == 1);
  CHECK(one[0].prps.prp1 == 0x10200);
  CHECK(one[0].prps.pages.empty());
  // Crossing one page boundary: PRP2 is the second page.
  auto two = Build({Seg(0x10E00, 1024)}, 2);
  REQUIRE(two.size() == 1);
  CHECK(two[0].prps.pages == std::vector<uint64_t>{0x11000});
  // Four pages from an unaligned start: entries for every later page.
  auto list = Build({Seg(0x10200, 4 * 4096)}, 32);
  REQUIRE(list.size() == 1);
  CHECK(list[0].block_count == 32);
  CHECK(list[0].prps.pages == std::vector<uint64_t>{0x11000, 0x12000, 0x13000, 0x14000});
}

TEST_CASE("nvme prp builder: page-aligned joints stay in one command") {
  auto commands = Build({Seg(0x20800, 0x800), Seg(0x50000, 0x1000), Seg(0x90000, 0x200)}, 13);
  REQUIRE(commands.size() == 1);
  CHECK(commands[0].prps.prp1 == 0x20800);
  CHECK(commands[0].prps.pages == std::vector<uint64_t>{0x50000, 0x90000});
}

TEST_CASE("nvme prp builder: a joint that breaks the rules splits the request at that block") {
  // The first segment ends mid-page: a second command starts at the joint.
  auto commands = Build({Seg(0x20000, 0x200), Seg(0x30000, 0x400), Seg(0x40200, 0x200)}, 4);
  REQUIRE(commands.size() == 3);
  CHECK(commands[0].block_offset == 0);
  CHECK(commands[0].block_count == 1);
  CHECK(commands[1].block_offset == 1);
  CHECK(commands[1].block_count == 2);
  CHECK(commands[1].prps.prp1 == 0x30000);
  CHECK(commands[2].block_offset == 3);
  CHECK(commands[2].prps.prp1 == 0x40200);
}

TEST_CASE("nvme prp builder: requests longer than the maximum transfer are cut") {
  // 40 KiB from an unaligned start, 16 KiB per command.
  auto commands = Build({Seg(0x100200, 40 * 1024)}, 80, 512, 16 * 1024);
  REQUIRE(commands.size() == 3);
  CHECK(commands[0].block_count == 32);
  CHECK(commands[1].block_offset == 32);
  CHECK(commands[1].prps.prp1 == 0x104200);
  CHECK(commands[1].prps.pages.size() == 4);
  CHECK(commands[2].block_count == 16);
  // The largest command: 2 MiB from offset 0x200 needs 512 list entries, one list page.
  auto big = Build({Seg(0x200, 2 * 1024 * 1024)}, 4096, 512, nvme::driver::kMaxCommandBytes);
  REQUIRE(big.size() == 1);
  CHECK(big[0].prps.pages.size() == nvme::driver::kMaxPrpListEntries);
}

TEST_CASE("nvme prp builder: what cannot be expressed fails") {
  // A joint inside a logical block.
  CHECK(!BuildDataCommands(std::vector{Seg(0x1000, 0x100), Seg(0x3000, 0x100)}, 1, 512, 4096).ok());
  // Data not dword aligned.
  CHECK(!BuildDataCommands(std::vector{Seg(0x1002, 512)}, 1, 512, 4096).ok());
  // Sizes that disagree with the block count, and overflowing sums.
  CHECK(!BuildDataCommands(std::vector{Seg(0x1000, 512)}, 2, 512, 4096).ok());
  CHECK(!BuildDataCommands(std::vector{Seg(0x1000, UINT32_MAX), Seg(0x1000, UINT32_MAX)}, 1, 512, 4096).ok());
  // A segment at the top of the address space.
  CHECK(!BuildDataCommands(std::vector{Seg(UINT64_MAX - 511, 512)}, 1, 512, 4096).ok());
  // Zero-length segments are skipped.
  auto skipped = BuildDataCommands(std::vector{Seg(0x1001, 0), Seg(0x1000, 512)}, 1, 512, 4096);
  REQUIRE(skipped.ok());
  CHECK(skipped->size() == 1);
}
