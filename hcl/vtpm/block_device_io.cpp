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
  // Durability comes from the store's Flush after each slot write, not FUA.
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

BlockDeviceIo::Chunk BlockDeviceIo::NextChunk(uint64_t at, size_t remaining) const {
  const uint64_t block = device_.geometry().block_size;
  Chunk chunk;
  chunk.first_block = at / block;
  chunk.skip = static_cast<size_t>(at % block);
  chunk.blocks = static_cast<uint32_t>(
      std::min<uint64_t>(kStagingBytes / block, (chunk.skip + remaining + block - 1) / block));
  chunk.bytes = static_cast<size_t>(std::min<uint64_t>(chunk.blocks * block - chunk.skip, remaining));
  chunk.whole_blocks = chunk.skip == 0 && chunk.bytes == chunk.blocks * block;
  return chunk;
}

base::Result<void> BlockDeviceIo::Read(uint64_t offset, std::span<std::byte> out) {
  std::lock_guard lock(mutex_);
  if (!base::RangeFits<uint64_t>(offset, out.size(), size_bytes()))
    return base::Error("guest state: read past the device");
  for (size_t done = 0; done < out.size();) {
    const Chunk chunk = NextChunk(offset + done, out.size() - done);
    TRY(Transfer(block::Op::kRead, chunk.first_block, chunk.blocks));
    std::copy_n(staging_.host.begin() + static_cast<std::ptrdiff_t>(chunk.skip), chunk.bytes,
                out.begin() + static_cast<std::ptrdiff_t>(done));
    done += chunk.bytes;
  }
  return base::Ok();
}

base::Result<void> BlockDeviceIo::Write(uint64_t offset, std::span<const std::byte> in) {
  std::lock_guard lock(mutex_);
  if (!base::RangeFits<uint64_t>(offset, in.size(), size_bytes()))
    return base::Error("guest state: write past the device");
  for (size_t done = 0; done < in.size();) {
    const Chunk chunk = NextChunk(offset + done, in.size() - done);
    // Blocks the write covers only in part keep their other bytes.
    if (!chunk.whole_blocks) TRY(Transfer(block::Op::kRead, chunk.first_block, chunk.blocks));
    std::copy_n(in.begin() + static_cast<std::ptrdiff_t>(done), chunk.bytes,
                staging_.host.begin() + static_cast<std::ptrdiff_t>(chunk.skip));
    TRY(Transfer(block::Op::kWrite, chunk.first_block, chunk.blocks));
    done += chunk.bytes;
  }
  return base::Ok();
}

base::Result<void> BlockDeviceIo::Flush() {
  std::lock_guard lock(mutex_);
  return Transfer(block::Op::kFlush, 0, 1);
}

}  // namespace hcl::vtpm
