// BlockDeviceIo: byte-addressed BlockIo (guest_state.h) over a block::Device
// whose data buffers are device (DMA) addresses: the guest-state NVMe
// namespace hcl drives. A fixed staging buffer from the controller's DMA
// pool carries every transfer; a write that does not cover whole blocks
// reads them first (read-modify-write). Calls block until the device
// answers; one at a time (the store serialises them).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>

#include "block/device.h"
#include "nvme/driver/os_interfaces.h"
#include "vtpm/guest_state.h"

namespace hcl::vtpm {

class BlockDeviceIo final : public BlockIo {
 public:
  static constexpr size_t kStagingBytes = 32 * 1024;
  // `device` and `pool` outlive the result.
  static base::Result<std::unique_ptr<BlockDeviceIo>> Create(block::Device& device,
                                                             nvme::driver::DmaPool& pool);
  ~BlockDeviceIo() override;
  BlockDeviceIo(const BlockDeviceIo&) = delete;
  BlockDeviceIo& operator=(const BlockDeviceIo&) = delete;

  uint64_t size_bytes() const override;
  base::Result<void> Read(uint64_t offset, std::span<std::byte> out) override;
  base::Result<void> Write(uint64_t offset, std::span<const std::byte> in) override;
  base::Result<void> Flush() override;

 private:
  BlockDeviceIo(block::Device& device, nvme::driver::DmaPool& pool, nvme::driver::DmaBuffer staging)
      : device_(device), pool_(pool), staging_(staging) {}
  // The part of a transfer at byte `at` that one staging buffer carries.
  struct Chunk {
    uint64_t first_block = 0;
    size_t skip = 0;  // bytes of the first block before `at`
    uint32_t blocks = 0;
    size_t bytes = 0;  // of the caller's data in this chunk
    bool whole_blocks = false;
  };
  Chunk NextChunk(uint64_t at, size_t remaining) const;
  // One request on blocks [lba, lba + count) through the staging buffer.
  base::Result<void> Transfer(block::Op op, uint64_t lba, uint32_t count);

  block::Device& device_;
  nvme::driver::DmaPool& pool_;
  nvme::driver::DmaBuffer staging_;
  std::mutex mutex_;
};

}  // namespace hcl::vtpm
