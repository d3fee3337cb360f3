// block::Device: the asynchronous block-device interface between a
// front end that speaks a guest's storage protocol and a back end that
// moves the data.
//
// Users, each side implemented once:
//   front ends: the SCSI disk behind storvsp (hcl), the NVMe controller
//               emulator (hcl-loader);
//   back ends:  hcl's user-mode NVMe driver, the loader's host-file back end
//               (io_uring).
// Data buffers are guest-physical segments (`Segment`), never host
// pointers: in hcl they are VTL0 pages that become NVMe PRPs (zero copy) or
// bounce pages; in the loader they are the DMA addresses a device command
// named. Whoever turns a Segment into host memory checks it (mem::).
//
// Not here: queueing policy, retries, timeouts (each back end owns them and
// reports the outcome as a Status).
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "mem/guest_memory.h"

namespace block {

// One contiguous guest-physical piece of a request's data buffer.
struct Segment {
  mem::Gpa gpa{};
  uint32_t bytes = 0;
};

enum class Op {
  kRead,         // device -> segments
  kWrite,        // segments -> device
  kFlush,        // make earlier completed writes durable; no data
  kDeallocate,   // "discard": the blocks may read back as zeroes afterwards; no data
  kWriteZeroes,  // the blocks read back as zeroes; no data
};

// Outcomes a front end translates into its own protocol (an NVMe status
// code, a SCSI sense key); one per distinct thing a guest must be told.
enum class Status {
  kOk,
  kOutOfRange,      // lba + block_count past the end of the device
  kInvalid,         // malformed request (no data where data is needed, sizes disagree)
  kWriteProtected,  // a write-class op on a read-only device
  kMediaError,      // the back end failed the transfer (EIO, a device error)
  kDataTransfer,    // a data segment could not be reached (not DMA-visible, not RAM)
  kAborted,         // the request was cancelled (reset, device removal)
  kDeviceFailed,    // the device is gone or dead; later requests will fail too
};

const char* Describe(Status status);

struct Request {
  Op op = Op::kRead;
  uint64_t lba = 0;           // in units of Geometry::block_size
  uint32_t block_count = 0;   // >= 1 for every op
  bool force_unit_access = false;  // write: durable before completion
  // Read/write only: the data buffer, in order; the byte sizes add up to
  // block_count * block_size. Empty for the other ops.
  std::vector<Segment> segments;
};

struct Geometry {
  uint32_t block_size = 512;       // bytes per logical block, a power of two >= 512
  uint64_t block_count = 0;        // capacity in blocks
  bool read_only = false;
  bool supports_deallocate = false;
  bool supports_write_zeroes = false;
  uint32_t max_transfer_blocks = 0;  // per request; 0 = no limit
  std::string serial;                // for INQUIRY VPD 0x80 / Identify, <= 20 ASCII chars
  std::array<uint8_t, 16> unique_id{};  // NGUID / NAA identifier source
};

// Completion callback: runs exactly once per Submit, possibly on another
// thread and possibly before Submit returns.
using Completion = std::function<void(Status)>;

class Device {
 public:
  virtual ~Device() = default;
  virtual const Geometry& geometry() const = 0;
  // `queue_hint` lets back ends with several hardware queues keep a
  // submitter's requests on one queue (e.g. the VP index); any value is valid.
  virtual void Submit(Request request, uint32_t queue_hint, Completion done) = 0;
  // A batch of submissions (Linux's blk_plug): while any plug is held, a
  // back end may keep new requests from its hardware and pass them on at
  // the last Unplug (one doorbell for the batch). Every Plug needs its
  // Unplug, soon: held requests wait for it. Default: nothing is held.
  virtual void Plug() {}
  virtual void Unplug() {}
};

}  // namespace block
