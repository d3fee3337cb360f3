#include "vtpm/block_device_io.h"

#include <algorithm>
#include <condition_variable>
#include <optional>

#include "base/checked.h"

namespace hcl::vtpm {

base::Result<std::unique_ptr<BlockDeviceIo>> BlockDeviceIo::Create(block::Device& device,
                                                                   nvme::driver::DmaPool& pool) {
  const uint32_t block = device.geometry().block_size;
  if (block == 0 || kStagingBytes % block != 0)
    return base::Error::Format("guest state: block size %u does not divide the staging buffer",
                               block);
  auto staging = pool.Allocate(kStagingBytes);
  if (!staging) return std::move(staging).error().Context("guest state: staging buffer");
  return std::unique_ptr<BlockDeviceIo>(new BlockDeviceIo(device, pool, *staging));
}

BlockDeviceIo::~BlockDeviceIo() { pool_.Free(staging_); }

uint64_t BlockDeviceIo::size_bytes() const {
  const block::Geometry& g = device_.geometry();
  return g.block_count * g.block_size;
}

base::Result<void> BlockDeviceIo::Transfer(block::Op op, uint64_t lba, uint32_t count) {
  block::Request request;
  request.op = op;
  request.lba = lba;
  request.block_count = count;
  // Durability comes from the store's Flush after each slot write, not FUA
  // (the loader's FUA writes to a carrier's virtio disk end ECANCELED).
  if (op == block::Op::kRead || op == block::Op::kWrite)
    request.segments.push_back(
        {mem::Gpa{staging_.device_address}, count * device_.geometry().block_size});
  std::mutex mutex;
  std::condition_variable done;
  std::optional<block::Status> status;
  device_.Submit(std::move(request), 0, [&](block::Status s) {
    std::lock_guard lock(mutex);
    status = s;
    done.notify_one();
  });
  std::unique_lock lock(mutex);
  done.wait(lock, [&] { return status.has_value(); });
  if (*status != block::Status::kOk)
    return base::Error::Format("guest state: device %s at block %llu: %s",
                               op == block::Op::kRead ? "read" : "write",
                               static_cast<unsigned long long>(lba), block::Describe(*status));
  return base::Ok();
}

base::Result<void> BlockDeviceIo::Read(uint64_t offset, std::span<std::byte> out) {
  std::lock_guard lock(mutex_);
  if (!base::RangeFits<uint64_t>(offset, out.size(), size_bytes()))
    return base::Error("guest state: read past the device");
  const uint64_t block = device_.geometry().block_size;
  size_t done = 0;
  while (done < out.size()) {
    const uint64_t at = offset + done;
    const uint64_t first = at / block;
    const uint64_t skip = at % block;
    const uint64_t blocks = std::min<uint64_t>(kStagingBytes / block,
                                               (skip + (out.size() - done) + block - 1) / block);
    TRY(Transfer(block::Op::kRead, first, static_cast<uint32_t>(blocks)));
    const size_t n = static_cast<size_t>(std::min<uint64_t>(blocks * block - skip, out.size() - done));
    std::copy_n(staging_.host.begin() + static_cast<std::ptrdiff_t>(skip), n, out.begin() + static_cast<std::ptrdiff_t>(done));
    done += n;
  }
  return base::Ok();
}

base::Result<void> BlockDeviceIo::Write(uint64_t offset, std::span<const std::byte> in) {
  std::lock_guard lock(mutex_);
  if (!base::RangeFits<uint64_t>(offset, in.size(), size_bytes()))
    return base::Error("guest state: write past the device");
  const uint64_t block = device_.geometry().block_size;
  size_t done = 0;
  while (done < in.size()) {
    const uint64_t at = offset + done;
    const uint64_t first = at / block;
    const uint64_t skip = at % block;
    const uint64_t blocks = std::min<uint64_t>(kStagingBytes / block,
                                               (skip + (in.size() - done) + block - 1) / block);
    const size_t n = static_cast<size_t>(std::min<uint64_t>(blocks * block - skip, in.size() - done));
    // Blocks the write covers only in part keep their other bytes.
    if (skip != 0 || n != blocks * block) TRY(Transfer(block::Op::kRead, first, static_cast<uint32_t>(blocks)));
    std::copy_n(in.begin() + static_cast<std::ptrdiff_t>(done), n, staging_.host.begin() + static_cast<std::ptrdiff_t>(skip));
    TRY(Transfer(block::Op::kWrite, first, static_cast<uint32_t>(blocks)));
    done += n;
  }
  return base::Ok();
}

base::Result<void> BlockDeviceIo::Flush() {
  std::lock_guard lock(mutex_);
  return Transfer(block::Op::kFlush, 0, 1);
}

}  // namespace hcl::vtpm
