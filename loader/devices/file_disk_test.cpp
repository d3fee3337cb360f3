#include "devices/file_disk.h"

#include <doctest/doctest.h>

#include <condition_variable>
#include <cstdio>
#include <fstream>
#include <mutex>
#include <string>
#include <unistd.h>
#include <vector>

#include "base/checked.h"

namespace loader::devices {
namespace {

// A temporary file of `bytes` bytes filled with a pattern.
class TempFile {
 public:
  explicit TempFile(size_t bytes) {
    char name[] = "/tmp/hcl-file-disk-XXXXXX";
    const int fd = ::mkstemp(name);
    REQUIRE(fd >= 0);
    ::close(fd);
    path_ = name;
    std::ofstream out(path_, std::ios::binary);
    for (size_t i = 0; i < bytes; ++i) out.put(static_cast<char>(i * 7 + 3));
  }
  ~TempFile() { ::unlink(path_.c_str()); }
  const std::string& path() const { return path_; }
  std::vector<char> Contents() const {
    std::ifstream in(path_, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), {}};
  }

 private:
  std::string path_;
};

// "Guest RAM" for the disk's DMA: 64 KiB at GPA 0x10000.
struct FakeRam {
  static constexpr uint64_t kBase = 0x10000;
  std::vector<std::byte> bytes = std::vector<std::byte>(0x10000);
  DmaWindow Window() {
    return [this](const block::Segment& segment, bool) -> base::Result<std::span<std::byte>> {
      const uint64_t gpa = mem::ToU64(segment.gpa);
      if (gpa < kBase || !base::RangeFits<uint64_t>(gpa - kBase, segment.bytes, bytes.size()))
        return base::Error("not RAM");
      return std::span(bytes).subspan(gpa - kBase, segment.bytes);
    };
  }
};

FileDiskOptions Opts(std::string path, bool read_only = false) {
  FileDiskOptions options;
  options.path = std::move(path);
  options.read_only = read_only;
  return options;
}

// Submits and waits for the completion (it runs on the reaper thread).
block::Status Run(block::Device& disk, block::Request request) {
  std::mutex mutex;
  std::condition_variable cv;
  std::optional<block::Status> status;
  disk.Submit(std::move(request), 0, [&](block::Status s) {
    const std::lock_guard lock(mutex);
    status = s;
    cv.notify_one();
  });
  std::unique_lock lock(mutex);
  cv.wait(lock, [&] { return status.has_value(); });
  return *status;
}

block::Request Rw(block::Op op, uint64_t lba, uint32_t blocks, std::vector<block::Segment> segments) {
  block::Request request;
  request.op = op;
  request.lba = lba;
  request.block_count = blocks;
  request.segments = std::move(segments);
  return request;
}

TEST_CASE("file disk: geometry from the file; reads and writes land at lba * 512") {
  TempFile file(64 * 512 + 100);  // the tail short of a block is not part of the disk
  FakeRam ram;
  auto disk = FileDisk::Open(Opts(file.path()), ram.Window());
  REQUIRE(disk.ok());
  CHECK((*disk)->geometry().block_count == 64);
  CHECK((*disk)->geometry().serial.size() <= 20);
  // Read blocks 2-3 into two separate guest pieces.
  CHECK(Run(**disk, Rw(block::Op::kRead, 2, 2,
                       {{mem::Gpa{0x10000}, 300}, {mem::Gpa{0x12000}, 724}})) == block::Status::kOk);
  const auto original = file.Contents();
  CHECK(ram.bytes[0] == std::byte(original[1024]));
  CHECK(ram.bytes[299] == std::byte(original[1024 + 299]));
  CHECK(ram.bytes[0x2000] == std::byte(original[1024 + 300]));
  // Write a pattern to block 5 and find it in the file.
  for (size_t i = 0; i < 512; ++i) ram.bytes[0x3000 + i] = std::byte{0xA5};
  CHECK(Run(**disk, Rw(block::Op::kWrite, 5, 1, {{mem::Gpa{0x13000}, 512}})) == block::Status::kOk);
  CHECK(Run(**disk, Rw(block::Op::kFlush, 0, 1, {})) == block::Status::kOk);
  const auto written = file.Contents();
  CHECK(written[5 * 512] == static_cast<char>(0xA5));
  CHECK(written[6 * 512 - 1] == static_cast<char>(0xA5));
  CHECK(written[6 * 512] == original[6 * 512]);
}

TEST_CASE("file disk: write zeroes and deallocate") {
  TempFile file(16 * 512);
  FakeRam ram;
  auto disk = FileDisk::Open(Opts(file.path()), ram.Window());
  REQUIRE(disk.ok());
  CHECK(Run(**disk, Rw(block::Op::kWriteZeroes, 1, 2, {})) == block::Status::kOk);
  const auto contents = file.Contents();
  for (size_t i = 512; i < 3 * 512; ++i) REQUIRE(contents[i] == 0);
  CHECK(contents[511] != 0);
  CHECK(contents.size() == 16 * 512);  // KEEP_SIZE
  CHECK(Run(**disk, Rw(block::Op::kDeallocate, 8, 8, {})) == block::Status::kOk);
  CHECK(file.Contents().size() == 16 * 512);
}

TEST_CASE("file disk: bad requests fail with the status a front end reports") {
  TempFile file(16 * 512);
  FakeRam ram;
  auto disk = FileDisk::Open(Opts(file.path()), ram.Window());
  REQUIRE(disk.ok());
  CHECK(Run(**disk, Rw(block::Op::kRead, 15, 2, {{mem::Gpa{0x10000}, 1024}})) ==
        block::Status::kOutOfRange);
  CHECK(Run(**disk, Rw(block::Op::kRead, UINT64_MAX, 2, {{mem::Gpa{0x10000}, 1024}})) ==
        block::Status::kOutOfRange);
  CHECK(Run(**disk, Rw(block::Op::kRead, 0, 0, {})) == block::Status::kOutOfRange);
  // The segments do not add up to the blocks.
  CHECK(Run(**disk, Rw(block::Op::kRead, 0, 2, {{mem::Gpa{0x10000}, 512}})) ==
        block::Status::kInvalid);
  // A segment outside what the device may reach: nothing is read.
  CHECK(Run(**disk, Rw(block::Op::kRead, 0, 1, {{mem::Gpa{0x1000}, 512}})) ==
        block::Status::kDataTransfer);
}

TEST_CASE("file disk: a read-only disk refuses every write-class request") {
  TempFile file(16 * 512);
  FakeRam ram;
  auto disk = FileDisk::Open(Opts(file.path(), true), ram.Window());
  REQUIRE(disk.ok());
  CHECK((*disk)->geometry().read_only);
  const auto before = file.Contents();
  CHECK(Run(**disk, Rw(block::Op::kWrite, 0, 1, {{mem::Gpa{0x10000}, 512}})) ==
        block::Status::kWriteProtected);
  CHECK(Run(**disk, Rw(block::Op::kWriteZeroes, 0, 1, {})) == block::Status::kWriteProtected);
  CHECK(Run(**disk, Rw(block::Op::kDeallocate, 0, 1, {})) == block::Status::kWriteProtected);
  CHECK(Run(**disk, Rw(block::Op::kRead, 0, 1, {{mem::Gpa{0x10000}, 512}})) == block::Status::kOk);
  CHECK(file.Contents() == before);
}

TEST_CASE("file disk: refused files") {
  FakeRam ram;
  CHECK(!FileDisk::Open(Opts("/nonexistent/disk.img"), ram.Window()).ok());
  TempFile tiny(100);
  CHECK(!FileDisk::Open(Opts(tiny.path()), ram.Window()).ok());
  TempFile file(4096);
  auto first = FileDisk::Open(Opts(file.path()), ram.Window());
  REQUIRE(first.ok());
  CHECK(!FileDisk::Open(Opts(file.path()), ram.Window()).ok());  // locked
  CHECK(!FileDisk::Open(Opts("/dev/null"), ram.Window()).ok());  // a character device
  CHECK(!OpenDiskFile(Opts("/tmp")).ok());                        // a directory
  CHECK(!OpenDiskFile(Opts(file.path())).ok());                   // still locked by `first`
}

TEST_CASE("file disk: a partial last block is out of the guest's reach") {
  TempFile odd(3 * 512 + 100);
  auto checked = OpenDiskFile(Opts(odd.path()));
  REQUIRE(checked.ok());
  CHECK(checked->size_bytes == 3 * 512 + 100);
  CHECK(checked->partial_tail_bytes == 100);
  checked->fd = os::UniqueFd();  // closed, unlocked: the disk itself may open it now
  FakeRam ram;
  auto disk = FileDisk::Open(Opts(odd.path()), ram.Window());
  REQUIRE(disk.ok());
  CHECK((*disk)->geometry().block_count == 3);
}

TEST_CASE("file disk: many requests in flight all complete") {
  TempFile file(256 * 512);
  FakeRam ram;
  auto disk = FileDisk::Open(Opts(file.path()), ram.Window());
  REQUIRE(disk.ok());
  std::mutex mutex;
  std::condition_variable cv;
  int done = 0, ok = 0;
  constexpr int kRequests = 300;  // more than the ring holds: some wait in the backlog
  for (int i = 0; i < kRequests; ++i) {
    (*disk)->Submit(Rw(block::Op::kRead, static_cast<uint64_t>(i % 256), 1,
                       {{mem::Gpa{0x10000 + static_cast<uint64_t>(i % 64) * 512}, 512}}),
                    0, [&](block::Status s) {
                      const std::lock_guard lock(mutex);
                      ++done;
                      if (s == block::Status::kOk) ++ok;
                      cv.notify_one();
                    });
  }
  std::unique_lock lock(mutex);
  cv.wait(lock, [&] { return done == kRequests; });
  CHECK(ok == kRequests);
}

}  // namespace
}  // namespace loader::devices
