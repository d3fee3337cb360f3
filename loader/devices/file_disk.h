// FileDisk: a block::Device backed by a host file or block device, with
// asynchronous I/O through io_uring (liburing), so that a slow file never
// stalls the VP thread that rang a doorbell: Submit queues the request and
// returns; a reaper thread completes it.
//
// Data moves straight between the file and guest RAM (readv/writev on
// the host bytes behind each block::Segment: the device's DMA). Which
// guest pages a device may reach is the DmaWindow's decision (all of RAM
// on a non-isolated partition; only host-visible pages under
// --isolation vbs), checked per segment before any I/O is queued.
//
// Ops: read/write (short transfers resumed until done or an error),
// flush (fdatasync), deallocate (fallocate PUNCH_HOLE; advisory: a file
// system without hole punching completes it without effect), write
// zeroes (fallocate ZERO_RANGE, else zeroes written). A read-only disk
// refuses every write-class op with kWriteProtected.
//
// Not here: which protocol the guest speaks (nvme::Controller, scsi::Disk
// front ends), sharing a file between disks (refused: the file is locked).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>

#include "base/result.h"
#include "block/device.h"

namespace loader::devices {

// Turns one data segment into the host bytes behind it, or refuses it.
// `device_writes`: the device stores into it (a read from the disk).
using DmaWindow =
    std::function<base::Result<std::span<std::byte>>(const block::Segment&, bool device_writes)>;

struct FileDiskOptions {
  std::string path;
  bool read_only = false;
  uint32_t block_size = 512;
  std::string serial;  // Identify / VPD 0x80; default: derived from the path
};

class FileDisk final : public block::Device {
 public:
  static base::Result<std::unique_ptr<FileDisk>> Open(const FileDiskOptions& options,
                                                      DmaWindow dma);
  ~FileDisk() override;
  FileDisk(const FileDisk&) = delete;
  FileDisk& operator=(const FileDisk&) = delete;

  const block::Geometry& geometry() const override;
  void Submit(block::Request request, uint32_t queue_hint, block::Completion done) override;

  // Makes every completed write durable (at exit: a carrier's page cache
  // would otherwise lose it).
  base::Result<void> Sync();

 private:
  class Impl;
  explicit FileDisk(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace loader::devices
