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
#include "os/unique_fd.h"

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

// A --disk file opened as its disk uses it: read-only or read-write,
// locked against a second user (two writers would corrupt each other's
// data), a regular file or block device of at least one whole block. The
// disk has size_bytes / block_size blocks: bytes past the last whole block
// are out of the guest's reach (partial_tail_bytes says how many).
// hcl-loader also opens every --disk this way before it starts a machine
// or relaunches in the carrier, so a bad one gets its own one-line error.
struct DiskFile {
  os::UniqueFd fd;
  uint64_t size_bytes = 0;
  uint64_t partial_tail_bytes = 0;
  uint64_t identity = 0;  // device and inode: the same disk on every boot
};
base::Result<DiskFile> OpenDiskFile(const FileDiskOptions& options);

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
