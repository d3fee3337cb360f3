// BounceBlockDevice (devices/bounce_block_device.h): a guest's data reaches
// the back end only through pool pages, both directions, with a pool too
// small for every request at once.
#include "devices/bounce_block_device.h"

#include <doctest/doctest.h>

#include <cstring>
#include <new>
#include <vector>

#include "vfio/page_pool.h"
#include "vfio/testing/aligned_pages.h"

namespace {

constexpr size_t kPage = 4096;
constexpr uint64_t kPoolBase = 0x800000;   // the pool's device addresses
constexpr uint64_t kGuestBase = 0x100000;  // VTL0's RAM in the test

using hcl::vfio::testing::AlignedPages;

// The back end: keeps requests until the test completes them; its "DMA"
// reaches the pool only (a segment outside it fails the test).
struct FakeDisk final : block::Device {
  block::Geometry geometry_ = [] {
    block::Geometry g;
    g.block_count = 1024;
    g.max_transfer_blocks = 256;
    return g;
  }();
  struct Pending {
    block::Request request;
    block::Completion done;
  };
  std::vector<Pending> pending;
  std::span<std::byte> pool;
  const block::Geometry& geometry() const override { return geometry_; }
  void Submit(block::Request request, uint32_t, block::Completion done) override {
    pending.push_back({std::move(request), std::move(done)});
  }
  std::span<std::byte> Bytes(const block::Segment& segment) {
    const uint64_t offset = mem::ToU64(segment.gpa) - kPoolBase;
    REQUIRE(offset + segment.bytes <= pool.size());
    return pool.subspan(offset, segment.bytes);
  }
  // Completes the oldest request; a read first fills its pages with `fill`.
  void CompleteOldest(block::Status status, std::byte fill = std::byte{0}) {
    REQUIRE(!pending.empty());
    Pending next = std::move(pending.front());
    pending.erase(pending.begin());
    if (next.request.op == block::Op::kRead)
      for (const block::Segment& segment : next.request.segments)
        std::memset(Bytes(segment).data(), static_cast<int>(fill), segment.bytes);
    next.done(status);
  }
};

struct Rig {
  explicit Rig(size_t pool_pages, uint64_t budget = 64 * kPage)
      : pages(pool_pages), guest_ram(64 * kPage) {
    auto created = hcl::vfio::PagePool::Create({{pages.span(), kPoolBase}});
    REQUIRE(created.ok());
    pool = std::move(created).value();
    auto memory = mem::GuestMemory::Create(mem::Gpa{kGuestBase}, guest_ram);
    REQUIRE(memory.ok());
    guest_memory = std::make_unique<mem::GuestMemory>(std::move(memory).value());
    guest = std::make_unique<scsi::GuestMemoryBuffer>(*guest_memory);
    disk.pool = pages.span();
    bounce = std::make_unique<hcl::BounceBlockDevice>(disk, *pool, *guest, 16 * kPage, budget);
  }
  block::Request Io(block::Op op, uint32_t blocks, std::vector<block::Segment> segments) {
    return block::Request{op, 0, blocks, false, std::move(segments)};
  }
  AlignedPages pages;
  std::vector<std::byte> guest_ram;
  std::unique_ptr<hcl::vfio::PagePool> pool;
  std::unique_ptr<mem::GuestMemory> guest_memory;
  std::unique_ptr<scsi::GuestMemoryBuffer> guest;
  FakeDisk disk;
  std::unique_ptr<hcl::BounceBlockDevice> bounce;
};

}  // namespace

TEST_CASE("BounceBlockDevice: a write's bytes reach the back end through the pool, never the guest's pages") {
  Rig rig(8);
  // Two guest segments, 1.5 KiB + 2.5 KiB, at odd places.
  for (size_t i = 0; i < rig.guest_ram.size(); ++i) rig.guest_ram[i] = std::byte(i * 7);
  std::vector<block::Segment> segments{{mem::Gpa{kGuestBase + 0x200}, 0x600},
                                       {mem::Gpa{kGuestBase + 0x3000}, 0xA00}};
  block::Status result = block::Status::kMediaError;
  rig.bounce->Submit(rig.Io(block::Op::kWrite, 8, segments), 0,
                     [&](block::Status s) { result = s; });
  REQUIRE(rig.disk.pending.size() == 1);
  const block::Request& seen = rig.disk.pending[0].request;
  std::vector<std::byte> device_view;
  for (const block::Segment& segment : seen.segments) {
    CHECK(mem::ToU64(segment.gpa) >= kPoolBase);  // pool pages only
    auto bytes = rig.disk.Bytes(segment);
    device_view.insert(device_view.end(), bytes.begin(), bytes.end());
  }
  std::vector<std::byte> expected(rig.guest_ram.begin() + 0x200, rig.guest_ram.begin() + 0x800);
  expected.insert(expected.end(), rig.guest_ram.begin() + 0x3000, rig.guest_ram.begin() + 0x3A00);
  CHECK(device_view == expected);
  CHECK(rig.pool->free_pages() == 7);
  rig.disk.CompleteOldest(block::Status::kOk);
  CHECK(result == block::Status::kOk);
  CHECK(rig.pool->free_pages() == 8);
}

TEST_CASE("BounceBlockDevice: a read lands in the guest's segments only after the back end completed it") {
  Rig rig(8);
  block::Status result = block::Status::kMediaError;
  rig.bounce->Submit(rig.Io(block::Op::kRead, 2, {{mem::Gpa{kGuestBase + 0x1100}, 1024}}), 0,
                     [&](block::Status s) { result = s; });
  CHECK(rig.guest_ram[0x1100] == std::byte{0});
  rig.disk.CompleteOldest(block::Status::kOk, std::byte{0x5A});
  CHECK(result == block::Status::kOk);
  CHECK(rig.guest_ram[0x1100] == std::byte{0x5A});
  CHECK(rig.guest_ram[0x1100 + 1023] == std::byte{0x5A});
  CHECK(rig.guest_ram[0x1100 + 1024] == std::byte{0});
  // A failed read copies nothing and passes the status on.
  rig.bounce->Submit(rig.Io(block::Op::kRead, 2, {{mem::Gpa{kGuestBase + 0x5000}, 1024}}), 0,
                     [&](block::Status s) { result = s; });
  rig.disk.CompleteOldest(block::Status::kMediaError, std::byte{0x77});
  CHECK(result == block::Status::kMediaError);
  CHECK(rig.guest_ram[0x5000] == std::byte{0});
  CHECK(rig.pool->free_pages() == 8);
}

TEST_CASE("BounceBlockDevice: a full pool makes requests wait, in order, and nothing is lost") {
  Rig rig(4);  // 16 KiB of pool
  std::vector<int> finished;
  auto submit = [&](int id, uint32_t blocks) {
    rig.bounce->Submit(
        rig.Io(block::Op::kRead, blocks, {{mem::Gpa{kGuestBase}, blocks * 512u}}), 0,
        [&finished, id](block::Status s) {
          CHECK(s == block::Status::kOk);
          finished.push_back(id);
        });
  };
  submit(1, 24);  // 12 KiB: 3 pages
  submit(2, 16);  // 8 KiB: must wait (1 page free)
  submit(3, 1);   // fits, but waits behind 2 (no overtaking)
  CHECK(rig.disk.pending.size() == 1);
  CHECK(rig.bounce->waiting() == 2);
  rig.disk.CompleteOldest(block::Status::kOk);
  CHECK(rig.disk.pending.size() == 2);  // 2 and 3 started
  CHECK(rig.bounce->waiting() == 0);
  rig.disk.CompleteOldest(block::Status::kOk);
  rig.disk.CompleteOldest(block::Status::kOk);
  CHECK(finished == std::vector<int>{1, 2, 3});
  CHECK(rig.pool->free_pages() == 4);
}

TEST_CASE("BounceBlockDevice: hostile or oversized requests fail alone") {
  Rig rig(8);
  CHECK(rig.bounce->geometry().max_transfer_blocks == 128);  // 64 KiB cap, from 256
  block::Status result = block::Status::kOk;
  // Larger than any request may be.
  rig.bounce->Submit(rig.Io(block::Op::kRead, 256, {{mem::Gpa{kGuestBase}, 256 * 512}}), 0,
                     [&](block::Status s) { result = s; });
  CHECK(result == block::Status::kInvalid);
  // A write from pages outside the guest's RAM: a data-transfer error, the
  // back end never sees it, the pool gets its pages back.
  rig.bounce->Submit(rig.Io(block::Op::kWrite, 1, {{mem::Gpa{0x10}, 512}}), 0,
                     [&](block::Status s) { result = s; });
  CHECK(result == block::Status::kDataTransfer);
  CHECK(rig.disk.pending.empty());
  // Segments shorter than the blocks.
  rig.bounce->Submit(rig.Io(block::Op::kWrite, 2, {{mem::Gpa{kGuestBase}, 512}}), 0,
                     [&](block::Status s) { result = s; });
  CHECK(result == block::Status::kDataTransfer);
  // A read whose guest pages vanish is a data-transfer error at completion.
  rig.bounce->Submit(rig.Io(block::Op::kRead, 1, {{mem::Gpa{0x10}, 512}}), 0,
                     [&](block::Status s) { result = s; });
  rig.disk.CompleteOldest(block::Status::kOk);
  CHECK(result == block::Status::kDataTransfer);
  CHECK(rig.pool->free_pages() == 8);
  // No data: passed straight through.
  rig.bounce->Submit(block::Request{block::Op::kFlush, 0, 1, false, {}}, 0,
                     [&](block::Status s) { result = s; });
  REQUIRE(rig.disk.pending.size() == 1);
  CHECK(rig.disk.pending[0].request.op == block::Op::kFlush);
}

TEST_CASE("BounceBlockDevice: never holds more than its budget, so the driver keeps pool pages") {
  Rig rig(8, 4 * kPage);  // 8 pages in the pool, 4 for bouncing
  CHECK(rig.bounce->geometry().max_transfer_blocks == 32);  // capped at the budget
  int done = 0;
  for (int i = 0; i < 3; ++i)
    rig.bounce->Submit(rig.Io(block::Op::kRead, 16, {{mem::Gpa{kGuestBase}, 16 * 512}}), 0,
                       [&done](block::Status s) {
                         CHECK(s == block::Status::kOk);
                         ++done;
                       });
  CHECK(rig.disk.pending.size() == 2);  // 2 pages each: the third waits
  CHECK(rig.pool->free_pages() == 4);   // half the pool stays the driver's
  rig.disk.CompleteOldest(block::Status::kOk);
  rig.disk.CompleteOldest(block::Status::kOk);
  rig.disk.CompleteOldest(block::Status::kOk);
  CHECK(done == 3);
  CHECK(rig.pool->free_pages() == 8);
}
