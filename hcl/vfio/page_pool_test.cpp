#include "vfio/page_pool.h"
#include "vfio/testing/aligned_pages.h"

#include <doctest/doctest.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <new>
#include <vector>

namespace {

using hcl::vfio::DmaRegion;
using hcl::vfio::PagePool;
using nvme::driver::DmaBuffer;

constexpr size_t kPage = 4096;

using hcl::vfio::testing::AlignedPages;

std::unique_ptr<PagePool> MakePool(std::vector<DmaRegion> regions) {
  auto pool = PagePool::Create(std::move(regions));
  REQUIRE(pool.ok());
  return std::move(pool).value();
}

TEST_CASE("hcl vfio PagePool: allocations carry matching host and device addresses") {
  AlignedPages a(4), b(8);
  auto pool = MakePool({{a.span(), 0x100000}, {b.span(), 0x400000}});
  CHECK(pool->total_pages() == 12);

  auto first = pool->Allocate(2 * kPage);
  REQUIRE(first.ok());
  CHECK(first->device_address == 0x100000);
  CHECK(first->host.data() == a.data);
  CHECK(first->host.size() == 2 * kPage);
  auto second = pool->Allocate(kPage);
  REQUIRE(second.ok());
  CHECK(second->device_address == 0x102000);
  CHECK(second->host.data() == a.data + 2 * kPage);
  // Three pages no longer fit in the first region (one page left): the
  // run comes from the second, contiguous there, never across regions.
  auto third = pool->Allocate(3 * kPage);
  REQUIRE(third.ok());
  CHECK(third->device_address == 0x400000);
  CHECK(third->host.data() == b.data);
  CHECK(pool->free_pages() == 6);
}

TEST_CASE("hcl vfio PagePool: refuses sizes that are not whole pages and runs that do not fit") {
  AlignedPages a(4);
  auto pool = MakePool({{a.span(), 0x10000}});
  CHECK_FALSE(pool->Allocate(0).ok());
  CHECK_FALSE(pool->Allocate(100).ok());
  CHECK_FALSE(pool->Allocate(kPage + 1).ok());
  CHECK_FALSE(pool->Allocate(5 * kPage).ok());
  auto all = pool->Allocate(4 * kPage);
  REQUIRE(all.ok());
  CHECK_FALSE(pool->Allocate(kPage).ok());
  pool->Free(*all);
  CHECK(pool->free_pages() == 4);
}

TEST_CASE("hcl vfio PagePool: freed runs coalesce so a large run fits again") {
  AlignedPages a(8);
  auto pool = MakePool({{a.span(), 0x200000}});
  std::vector<DmaBuffer> pages;
  for (int i = 0; i < 8; ++i) {
    auto page = pool->Allocate(kPage);
    REQUIRE(page.ok());
    pages.push_back(*page);
  }
  // Free in an order that exercises merging with the run before, the run
  // after, and both.
  for (int i : {1, 3, 2, 0, 7, 5, 6, 4}) pool->Free(pages[static_cast<size_t>(i)]);
  CHECK(pool->free_pages() == 8);
  auto whole = pool->Allocate(8 * kPage);
  REQUIRE(whole.ok());
  CHECK(whole->device_address == 0x200000);
}

TEST_CASE("hcl vfio PagePool: double, partial and foreign frees are refused without damage") {
  AlignedPages a(4);
  AlignedPages elsewhere(2);
  auto pool = MakePool({{a.span(), 0x300000}});
  auto two = pool->Allocate(2 * kPage);
  REQUIRE(two.ok());
  pool->Free(*two);
  pool->Free(*two);  // double free
  CHECK(pool->refused_frees() == 1);
  auto again = pool->Allocate(2 * kPage);
  REQUIRE(again.ok());
  // Half of a live allocation.
  pool->Free({again->host.first(kPage), again->device_address});
  // The right device address with another host view.
  pool->Free({elsewhere.span(), again->device_address});
  // An address outside every region.
  pool->Free({again->host, 0x900000});
  CHECK(pool->refused_frees() == 4);
  CHECK(pool->free_pages() == 2);
  // The allocation is still live and whole: the other two pages are all
  // that can be had.
  CHECK_FALSE(pool->Allocate(3 * kPage).ok());
  pool->Free(*again);
  CHECK(pool->free_pages() == 4);
}

TEST_CASE("hcl vfio PagePool: rejects unaligned, empty, wrapping and overlapping regions") {
  AlignedPages a(2), b(2);
  CHECK_FALSE(PagePool::Create({{a.span(), 0x1001}}).ok());
  CHECK_FALSE(PagePool::Create({{a.span().subspan(kPage / 2, kPage), 0x1000}}).ok());
  CHECK_FALSE(PagePool::Create({{a.span().first(0), 0x1000}}).ok());
  CHECK_FALSE(PagePool::Create({{a.span(), ~uint64_t{0} - 0xFFF}}).ok());
  CHECK_FALSE(PagePool::Create({{a.span(), 0x10000}, {b.span(), 0x11000}}).ok());
  CHECK(PagePool::Create({{a.span(), 0x10000}, {b.span(), 0x12000}}).ok());
}

}  // namespace
