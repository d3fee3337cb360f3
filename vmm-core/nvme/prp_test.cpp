#include "nvme/prp.h"

#include <doctest/doctest.h>

#include "nvme/testing/fake_dma_memory.h"

namespace {

using nvme::WalkPrps;
using nvme::testing::FakeDmaMemory;
namespace generic = nvme::wire::generic;

constexpr uint64_t kPage = 4096;
constexpr uint64_t kBase = 0x10'0000;

uint64_t Gpa(const block::Segment& segment) { return mem::ToU64(segment.gpa); }

}  // namespace

TEST_CASE("nvme prp: data inside PRP1's page ignores PRP2, offset honoured") {
  FakeDmaMemory dma(kBase, 16 * kPage);
  const auto result = WalkPrps(dma, kBase + 0x200, 0xDEAD'BEEF, 512);
  REQUIRE(result.ok());
  REQUIRE(result.segments.size() == 1);
  CHECK(Gpa(result.segments[0]) == kBase + 0x200);
  CHECK(result.segments[0].bytes == 512);
  CHECK(dma.reads() == 0);
}

TEST_CASE("nvme prp: two pages use PRP2 as a page; adjacent pages merge") {
  FakeDmaMemory dma(kBase, 16 * kPage);
  // 4 KiB starting 1 KiB into a page: 3 KiB in PRP1's page, 1 KiB in PRP2's.
  auto result = WalkPrps(dma, kBase + 0x400, kBase + 5 * kPage, 4096);
  REQUIRE(result.ok());
  REQUIRE(result.segments.size() == 2);
  CHECK(result.segments[0].bytes == 3072);
  CHECK(Gpa(result.segments[1]) == kBase + 5 * kPage);
  CHECK(result.segments[1].bytes == 1024);

  result = WalkPrps(dma, kBase, kBase + kPage, 8192);
  REQUIRE(result.ok());
  REQUIRE(result.segments.size() == 1);
  CHECK(result.segments[0].bytes == 8192);
}

TEST_CASE("nvme prp: PRP2 data page with an offset is PRP Offset Invalid") {
  FakeDmaMemory dma(kBase, 16 * kPage);
  const auto result = WalkPrps(dma, kBase, kBase + kPage + 8, 8192);
  CHECK(result.status == nvme::wire::GenericStatus(generic::kPrpOffsetInvalid));
  CHECK(result.segments.empty());
}

TEST_CASE("nvme prp: PRP1 not dword aligned is PRP Offset Invalid") {
  FakeDmaMemory dma(kBase, 16 * kPage);
  CHECK(WalkPrps(dma, kBase + 2, 0, 16).status.sc == generic::kPrpOffsetInvalid);
}

TEST_CASE("nvme prp: a short list at a 256-byte offset, as Linux's small pool makes") {
  FakeDmaMemory dma(kBase, 32 * kPage);
  const uint64_t list = kBase + kPage + 0x100;
  // 16 KiB from offset 0: PRP1 + a list of 3 scattered pages.
  dma.Put64(list, kBase + 10 * kPage);
  dma.Put64(list + 8, kBase + 12 * kPage);
  dma.Put64(list + 16, kBase + 13 * kPage);
  dma.Put64(list + 24, 0xBAD0'0001);  // beyond the transfer: never read
  const auto result = WalkPrps(dma, kBase + 4 * kPage, list, 16384);
  REQUIRE(result.ok());
  REQUIRE(result.segments.size() == 3);
  CHECK(Gpa(result.segments[0]) == kBase + 4 * kPage);
  CHECK(Gpa(result.segments[1]) == kBase + 10 * kPage);
  CHECK(result.segments[1].bytes == 4096);
  CHECK(Gpa(result.segments[2]) == kBase + 12 * kPage);  // 12 and 13 merged
  CHECK(result.segments[2].bytes == 8192);
  CHECK(dma.reads() == 1);
}

TEST_CASE("nvme prp: a full list page chains through its last entry, each page read once") {
  FakeDmaMemory dma(0, 4 * 1024 * 1024);
  const uint64_t list1 = 0x1000;
  const uint64_t list2 = 0x3000;
  const uint64_t data = 0x10'0000;
  // 1 (PRP1) + 600 pages: list1 holds 511 data entries + a chain pointer,
  // list2 holds the other 89. Data pages descend so nothing merges.
  for (uint64_t i = 0; i < 511; ++i) dma.Put64(list1 + 8 * i, data + (600 - i) * kPage);
  dma.Put64(list1 + 8 * 511, list2);
  for (uint64_t i = 0; i < 89; ++i) dma.Put64(list2 + 8 * i, data + (89 - i) * kPage);
  const auto result = WalkPrps(dma, 0x8000, list1, 601 * 4096);
  REQUIRE(result.ok());
  REQUIRE(result.segments.size() == 601);
  CHECK(Gpa(result.segments[511]) == data + 90 * kPage);
  CHECK(Gpa(result.segments[512]) == data + 89 * kPage);
  CHECK(Gpa(result.segments[600]) == data + 1 * kPage);
  CHECK(dma.reads() == 2);
}

TEST_CASE("nvme prp: the last entry's length is the remainder") {
  FakeDmaMemory dma(kBase, 32 * kPage);
  const uint64_t list = kBase;
  dma.Put64(list, kBase + 8 * kPage);
  dma.Put64(list + 8, kBase + 20 * kPage);
  // 0x800 in PRP1's page, then 4096, then 0x100.
  const auto result = WalkPrps(dma, kBase + 3 * kPage + 0x800, list, 0x800 + 4096 + 0x100);
  REQUIRE(result.ok());
  REQUIRE(result.segments.size() == 3);
  CHECK(result.segments[2].bytes == 0x100);
}

TEST_CASE("nvme prp: hostile lists") {
  FakeDmaMemory dma(kBase, 32 * kPage);
  const uint64_t list = kBase;
  SUBCASE("a list entry with an offset") {
    dma.Put64(list, kBase + 8 * kPage);
    dma.Put64(list + 8, kBase + 9 * kPage + 0x10);
    CHECK(WalkPrps(dma, kBase + kPage, list, 3 * 4096).status.sc == generic::kPrpOffsetInvalid);
  }
  SUBCASE("a list pointer not qword aligned") {
    CHECK(WalkPrps(dma, kBase + kPage, list + 4, 3 * 4096).status.sc == generic::kPrpOffsetInvalid);
  }
  SUBCASE("a list in unbacked memory") {
    const auto result = WalkPrps(dma, kBase + kPage, 0x7000'0000, 3 * 4096);
    CHECK(result.status.sc == generic::kDataTransferError);
  }
  SUBCASE("a list running off the end of memory") {
    // The list starts 8 bytes before the end: its one slot chains (fine),
    // but the chained page is outside memory.
    const uint64_t last = kBase + 32 * kPage - 8;
    dma.Put64(last, kBase + 40 * kPage);
    CHECK(WalkPrps(dma, kBase + kPage, last, 3 * 4096).status.sc == generic::kDataTransferError);
  }
  SUBCASE("a chain pointer with an offset") {
    const uint64_t tail = kBase + kPage - 8;  // one slot: must chain
    dma.Put64(tail, kBase + 2 * kPage + 8);
    CHECK(WalkPrps(dma, kBase + 5 * kPage, tail, 3 * 4096).status.sc == generic::kPrpOffsetInvalid);
  }
  SUBCASE("a chain that loops back to itself still ends with the transfer") {
    // 511 entries pointing at data, the last slot pointing at the list
    // itself: the walk reads the same page again and stops when the
    // transfer's pages are all accounted for.
    FakeDmaMemory big(0, 8 * 1024 * 1024);
    for (uint64_t i = 0; i < 511; ++i) big.Put64(0x1000 + 8 * i, 0x10'0000);
    big.Put64(0x1000 + 8 * 511, 0x1000);
    const auto result = WalkPrps(big, 0x2000, 0x1000, 1200 * 4096);
    REQUIRE(result.ok());
    CHECK(big.reads() == 3);
  }
}

TEST_CASE("nvme prp: segments copy in and out") {
  FakeDmaMemory dma(kBase, 8 * kPage);
  const std::vector<block::Segment> segments = {{mem::Gpa{kBase + 0x10}, 4}, {mem::Gpa{kBase + kPage}, 4}};
  const std::array<std::byte, 6> in = {std::byte{1}, std::byte{2}, std::byte{3},
                                       std::byte{4}, std::byte{5}, std::byte{6}};
  REQUIRE(nvme::WriteSegments(dma, segments, in).ok());
  CHECK(dma.Get8(kBase + 0x13) == 4);
  CHECK(dma.Get8(kBase + kPage + 1) == 6);
  std::array<std::byte, 6> out{};
  REQUIRE(nvme::ReadSegments(dma, segments, out).ok());
  CHECK(out == in);
  std::array<std::byte, 9> too_long{};
  CHECK(!nvme::WriteSegments(dma, segments, too_long).ok());
}
