#include "devices/file_disk.h"

#include <fcntl.h>
#include <liburing.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <climits>
#include <cstring>
#include <deque>
#include <mutex>
#include <thread>
#include <vector>

#include "base/checked.h"
#include "os/unique_fd.h"

namespace loader::devices {
namespace {

constexpr unsigned kQueueDepth = 128;
// One request's data: NVMe MDTS and storvsc's max transfer keep requests
// far below this; more segments than the kernel takes in one readv is a
// malformed request.
constexpr size_t kMaxSegments = IOV_MAX;
// user_data of the NOP that tells the reaper to stop.
constexpr uint64_t kStopTag = UINT64_MAX;
// Write-zeroes fallback: zeroes written from this buffer, repeated.
constexpr size_t kZeroBufferBytes = 1 << 20;

}  // namespace

class FileDisk::Impl {
 public:
  Impl(os::UniqueFd fd, block::Geometry geometry, DmaWindow dma)
      : fd_(std::move(fd)), geometry_(std::move(geometry)), dma_(std::move(dma)),
        slots_(kQueueDepth) {
    for (uint32_t i = kQueueDepth; i > 0; --i) free_.push_back(i - 1);
  }

  base::Result<void> Start() {
    if (const int err = io_uring_queue_init(kQueueDepth, &ring_, 0); err < 0)
      return base::Error::FromErrno("io_uring_queue_init", -err);
    ring_ready_ = true;
    reaper_ = std::thread([this] { Reap(); });
    return base::Ok();
  }

  ~Impl() {
    if (!ring_ready_) return;
    {
      const std::lock_guard lock(mutex_);
      stopping_ = true;
      io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
      if (sqe != nullptr) {
        io_uring_prep_nop(sqe);
        io_uring_sqe_set_data64(sqe, kStopTag);
        io_uring_submit(&ring_);
      }
    }
    if (reaper_.joinable()) reaper_.join();
    io_uring_queue_exit(&ring_);
  }

  const block::Geometry& geometry() const { return geometry_; }

  void Submit(block::Request request, block::Completion done) {
    const block::Status checked = Check(request);
    if (checked != block::Status::kOk) {
      done(checked);
      return;
    }
    Work work{std::move(request), std::move(done), {}};
    if (work.request.op == block::Op::kRead || work.request.op == block::Op::kWrite) {
      work.iovecs.reserve(work.request.segments.size());
      for (const block::Segment& segment : work.request.segments) {
        auto host = dma_(segment, work.request.op == block::Op::kRead);
        if (!host) {
          work.done(block::Status::kDataTransfer);
          return;
        }
        work.iovecs.push_back({host->data(), host->size()});
      }
    }
    if (work.request.op == block::Op::kRead && ReadCached(work)) {
      work.done(block::Status::kOk);
      return;
    }
    std::unique_lock lock(mutex_);
    if (stopping_) {
      lock.unlock();
      work.done(block::Status::kAborted);
      return;
    }
    if (free_.empty()) {
      backlog_.push_back(std::move(work));
      return;
    }
    StartLocked(std::move(work));
  }

  base::Result<void> Sync() {
    if (::fdatasync(fd_.get()) != 0) return base::Error::FromErrno("fdatasync", errno);
    return base::Ok();
  }

 private:
  struct Work {
    block::Request request;
    block::Completion done;
    std::vector<iovec> iovecs;
  };
  struct Slot {
    Work work;
    size_t iov_index = 0;       // first iovec not yet fully transferred
    uint64_t file_offset = 0;   // where the next transfer starts
    uint64_t remaining = 0;     // bytes still to transfer
    bool writing_zeroes = false;  // the write-zeroes fallback is running
    uint32_t cancelled = 0;       // times io_uring answered -ECANCELED
  };
  // A write to the guest-state disk (a virtio disk in the carrier, 1-2 VPs)
  // was seen to end -ECANCELED about once in a few boots (by elimination:
  // it is this file's only source of kAborted). The likely cause: io_uring
  // cancels a request it punts to a worker thread when it cannot start one
  // (io-wq, with a signal pending on the submitting thread, which
  // hcl-loader's kicks make common). A cancelled request did not run:
  // submit it again, a bounded number of times.
  static constexpr uint32_t kCancelRetries = 8;

  // A read the page cache holds, done here on the caller's thread:
  // preadv2(2) with RWF_NOWAIT copies it or refuses at once (EAGAIN), so
  // the caller (a VP thread in a doorbell write) never waits on the disk.
  // Through io_uring the same copy happens inline too, but its completion
  // wakes the reaper thread: with one CPU that is two context switches
  // and a lock hand-off per request, and an SQ doorbell exit cost about
  // 600 us of the carrier's time. False: anything short of the whole
  // request (then io_uring reads it all).
  bool ReadCached(const Work& work) const {
    uint64_t bytes = 0;  // at most kMaxSegments iovecs (Check)
    for (const iovec& iov : work.iovecs) bytes += iov.iov_len;
    const ssize_t got = ::preadv2(fd_.get(), work.iovecs.data(), static_cast<int>(work.iovecs.size()),
                                  static_cast<off_t>(work.request.lba * geometry_.block_size),
                                  RWF_NOWAIT);
    return got >= 0 && static_cast<uint64_t>(got) == bytes;
  }

  block::Status Check(const block::Request& request) const {
    const uint64_t end = request.lba + request.block_count;
    if (request.block_count == 0 || end < request.lba || end > geometry_.block_count)
      return block::Status::kOutOfRange;
    const bool writes = request.op != block::Op::kRead && request.op != block::Op::kFlush;
    if (writes && geometry_.read_only) return block::Status::kWriteProtected;
    const bool has_data = request.op == block::Op::kRead || request.op == block::Op::kWrite;
    if (!has_data) return request.segments.empty() ? block::Status::kOk : block::Status::kInvalid;
    if (request.segments.empty() || request.segments.size() > kMaxSegments)
      return block::Status::kInvalid;
    uint64_t bytes = 0;
    for (const block::Segment& segment : request.segments) bytes += segment.bytes;
    return bytes == uint64_t{request.block_count} * geometry_.block_size ? block::Status::kOk
                                                                        : block::Status::kInvalid;
  }

  void StartLocked(Work work) {
    const uint32_t index = free_.back();
    free_.pop_back();
    Slot& slot = slots_[index];
    slot = Slot{};
    slot.work = std::move(work);
    slot.file_offset = slot.work.request.lba * geometry_.block_size;
    slot.remaining = uint64_t{slot.work.request.block_count} * geometry_.block_size;
    QueueLocked(index);
  }

  // Queues the slot's next (or first) operation.
  void QueueLocked(uint32_t index) {
    Slot& slot = slots_[index];
    io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
    if (sqe == nullptr) {
      // Cannot happen: the ring has a slot per Slot. Fail the request
      // rather than lose it.
      FinishLocked(index, block::Status::kDeviceFailed);
      return;
    }
    const block::Request& request = slot.work.request;
    std::span<iovec> iovecs(slot.work.iovecs);
    iovecs = iovecs.subspan(slot.iov_index);
    const auto iov_count = static_cast<unsigned>(std::min<size_t>(iovecs.size(), kMaxSegments));
    switch (request.op) {
      case block::Op::kRead:
        io_uring_prep_readv(sqe, fd_.get(), iovecs.data(), iov_count, slot.file_offset);
        break;
      case block::Op::kWrite:
        io_uring_prep_writev(sqe, fd_.get(), iovecs.data(), iov_count, slot.file_offset);
        if (request.force_unit_access) sqe->rw_flags = RWF_DSYNC;
        break;
      case block::Op::kWriteZeroes:
        if (slot.writing_zeroes) {
          io_uring_prep_writev(sqe, fd_.get(), iovecs.data(), iov_count, slot.file_offset);
        } else {
          io_uring_prep_fallocate(sqe, fd_.get(), FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE,
                                  static_cast<off_t>(slot.file_offset), static_cast<off_t>(slot.remaining));
        }
        break;
      case block::Op::kDeallocate:
        io_uring_prep_fallocate(sqe, fd_.get(), FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                                static_cast<off_t>(slot.file_offset), static_cast<off_t>(slot.remaining));
        break;
      case block::Op::kFlush:
        io_uring_prep_fsync(sqe, fd_.get(), IORING_FSYNC_DATASYNC);
        break;
    }
    io_uring_sqe_set_data64(sqe, index);
    io_uring_submit(&ring_);
  }

  // The zeroes a failed ZERO_RANGE writes instead, as iovecs over one
  // shared zero buffer.
  void PrepareZeroWritesLocked(Slot& slot) {
    if (zeroes_.empty()) zeroes_.resize(kZeroBufferBytes);
    slot.writing_zeroes = true;
    slot.work.iovecs.clear();
    slot.iov_index = 0;
    for (uint64_t left = slot.remaining; left > 0;) {
      const size_t chunk = static_cast<size_t>(std::min<uint64_t>(left, zeroes_.size()));
      slot.work.iovecs.push_back({zeroes_.data(), chunk});
      left -= chunk;
    }
  }

  // Accounts `transferred` bytes of a read/write; true when all are done.
  static bool Advance(Slot& slot, uint64_t transferred) {
    slot.remaining -= transferred;
    slot.file_offset += transferred;
    while (transferred > 0 && slot.iov_index < slot.work.iovecs.size()) {
      iovec& iov = slot.work.iovecs[slot.iov_index];
      const uint64_t used = std::min<uint64_t>(transferred, iov.iov_len);
      iov.iov_base = static_cast<std::byte*>(iov.iov_base) + used;
      iov.iov_len -= used;
      transferred -= used;
      if (iov.iov_len == 0) ++slot.iov_index;
    }
    return slot.remaining == 0;
  }

  static block::Status StatusFor(int err) {
    switch (err) {
      case EROFS:
      case EPERM:
      case EACCES: return block::Status::kWriteProtected;
      case EFAULT: return block::Status::kDataTransfer;
      case ECANCELED: return block::Status::kAborted;
      default: return block::Status::kMediaError;
    }
  }

  void FinishLocked(uint32_t index, block::Status status) {
    finished_.push_back({std::move(slots_[index].work.done), status});
    slots_[index] = Slot{};
    free_.push_back(index);
    if (!backlog_.empty() && !stopping_) {
      Work next = std::move(backlog_.front());
      backlog_.pop_front();
      StartLocked(std::move(next));
    }
  }

  // One completion from the ring.
  void OnCompletionLocked(uint32_t index, int result) {
    Slot& slot = slots_[index];
    const block::Op op = slot.work.request.op;
    if (result < 0) {
      if (op == block::Op::kDeallocate && (result == -EOPNOTSUPP || result == -EINVAL)) {
        // Deallocation is advisory (NVMe 2.0 §3.2.3.2.1, DLFEAT says
        // nothing about what deallocated blocks read): done.
        FinishLocked(index, block::Status::kOk);
      } else if (op == block::Op::kWriteZeroes && !slot.writing_zeroes &&
                 (result == -EOPNOTSUPP || result == -EINVAL)) {
        PrepareZeroWritesLocked(slot);
        QueueLocked(index);
      } else if (result == -EINTR || result == -EAGAIN) {
        QueueLocked(index);
      } else if (result == -ECANCELED && slot.cancelled < kCancelRetries) {
        ++slot.cancelled;
        std::fprintf(stderr, "hcl-loader: disk: io_uring cancelled op %d at byte %llu; submitting again\n",
                     static_cast<int>(op), static_cast<unsigned long long>(slot.file_offset));
        QueueLocked(index);
      } else {
        // What a guest sees as a device error: say which on the host.
        std::fprintf(stderr, "hcl-loader: disk: op %d at byte %llu failed: %s\n",
                     static_cast<int>(op), static_cast<unsigned long long>(slot.file_offset),
                     std::strerror(-result));
        FinishLocked(index, StatusFor(-result));
      }
      return;
    }
    const bool transfers = op == block::Op::kRead || op == block::Op::kWrite || slot.writing_zeroes;
    if (!transfers) {
      FinishLocked(index, block::Status::kOk);
      return;
    }
    if (result == 0) {
      // End of file before the end of the request: the file shrank under us.
      FinishLocked(index, block::Status::kMediaError);
      return;
    }
    if (Advance(slot, static_cast<uint64_t>(result)))
      FinishLocked(index, block::Status::kOk);
    else
      QueueLocked(index);  // a short transfer: the rest
  }

  void Reap() {
    bool stop_seen = false;
    for (;;) {
      if (stop_seen) {
        // Stop only once every request in flight has completed: their
        // buffers are guest memory the kernel is still writing.
        const std::lock_guard lock(mutex_);
        if (free_.size() == slots_.size()) return;
      }
      io_uring_cqe* cqe = nullptr;
      const int err = io_uring_wait_cqe(&ring_, &cqe);
      if (err == -EINTR) continue;
      if (err < 0) return;
      const uint64_t tag = io_uring_cqe_get_data64(cqe);
      const int result = cqe->res;
      io_uring_cqe_seen(&ring_, cqe);
      std::vector<Finished> finished;
      {
        const std::lock_guard lock(mutex_);
        if (tag == kStopTag) {
          stop_seen = true;
          // What never started fails; in-flight I/O is waited for.
          for (Work& work : backlog_)
            finished_.push_back({std::move(work.done), block::Status::kAborted});
          backlog_.clear();
        } else if (tag < slots_.size()) {
          OnCompletionLocked(static_cast<uint32_t>(tag), result);
        }
        finished.swap(finished_);
      }
      // Completions run outside the lock: they may Submit again.
      for (Finished& f : finished) f.done(f.status);
    }
  }

  struct Finished {
    block::Completion done;
    block::Status status;
  };

  os::UniqueFd fd_;
  block::Geometry geometry_;
  DmaWindow dma_;
  io_uring ring_{};
  bool ring_ready_ = false;
  std::thread reaper_;
  std::mutex mutex_;
  std::vector<Slot> slots_;        // guarded by mutex_
  std::vector<uint32_t> free_;     // guarded by mutex_
  std::deque<Work> backlog_;       // guarded by mutex_
  std::vector<Finished> finished_;  // guarded by mutex_; run by the reaper
  std::vector<std::byte> zeroes_;  // guarded by mutex_ (allocated once)
  bool stopping_ = false;          // guarded by mutex_
};

base::Result<DiskFile> OpenDiskFile(const FileDiskOptions& options) {
  if (options.block_size < 512 || (options.block_size & (options.block_size - 1)) != 0)
    return base::Error::Format("--disk %s: block size %u is not a power of two >= 512",
                               options.path.c_str(), options.block_size);
  const int flags = (options.read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC;
  DiskFile file;
  file.fd = os::UniqueFd(::open(options.path.c_str(), flags));
  if (!file.fd.valid()) return base::Error::FromErrno("--disk " + options.path, errno);
  if (::flock(file.fd.get(), (options.read_only ? LOCK_SH : LOCK_EX) | LOCK_NB) != 0)
    return base::Error::FromErrno("--disk " + options.path + ": locked by another user", errno);
  struct stat st {};
  if (::fstat(file.fd.get(), &st) != 0) return base::Error::FromErrno("--disk " + options.path, errno);
  if (S_ISREG(st.st_mode)) {
    file.size_bytes = static_cast<uint64_t>(st.st_size);
  } else if (S_ISBLK(st.st_mode)) {
    if (::ioctl(file.fd.get(), BLKGETSIZE64, &file.size_bytes) != 0)
      return base::Error::FromErrno("--disk " + options.path + ": BLKGETSIZE64", errno);
  } else {
    return base::Error("--disk " + options.path + ": not a regular file or block device");
  }
  if (file.size_bytes < options.block_size)
    return base::Error::Format("--disk %s: %llu bytes is smaller than one %u-byte block",
                               options.path.c_str(), static_cast<unsigned long long>(file.size_bytes),
                               options.block_size);
  file.partial_tail_bytes = file.size_bytes % options.block_size;
  file.identity = (static_cast<uint64_t>(st.st_dev) << 40) ^ st.st_ino;
  return file;
}

base::Result<std::unique_ptr<FileDisk>> FileDisk::Open(const FileDiskOptions& options,
                                                       DmaWindow dma) {
  DiskFile file = TRY(OpenDiskFile(options));
  block::Geometry geometry;
  geometry.block_size = options.block_size;
  geometry.block_count = file.size_bytes / options.block_size;
  geometry.read_only = options.read_only;
  geometry.supports_deallocate = !options.read_only;
  geometry.supports_write_zeroes = !options.read_only;
  geometry.max_transfer_blocks = 0;
  // A stable serial and unique ID from the file's identity (device and
  // inode), so the guest sees the same disk on every boot.
  char serial[21];
  std::snprintf(serial, sizeof serial, "HCL%016llX", static_cast<unsigned long long>(file.identity));
  geometry.serial = options.serial.empty() ? std::string(serial) : options.serial.substr(0, 20);
  for (size_t i = 0; i < 8; ++i) {
    geometry.unique_id[i] = static_cast<uint8_t>(file.identity >> (8 * i));
    geometry.unique_id[8 + i] = static_cast<uint8_t>(file.size_bytes >> (8 * i));
  }
  auto impl = std::make_unique<Impl>(std::move(file.fd), std::move(geometry), std::move(dma));
  TRY(impl->Start());
  return std::unique_ptr<FileDisk>(new FileDisk(std::move(impl)));
}

FileDisk::FileDisk(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
FileDisk::~FileDisk() = default;

const block::Geometry& FileDisk::geometry() const { return impl_->geometry(); }

void FileDisk::Submit(block::Request request, uint32_t, block::Completion done) {
  impl_->Submit(std::move(request), std::move(done));
}

base::Result<void> FileDisk::Sync() { return impl_->Sync(); }

}  // namespace loader::devices
