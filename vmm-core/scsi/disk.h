// scsi::Disk: a SCSI direct-access block device (SPC-4 r37, SBC-3 r36)
// over a block::Device, sans I/O.
//
// Input: one Command (a copied CDB, the data direction, and the data buffer
// as guest-physical segments). Output: exactly one call of the Completion
// with {SCSI status, fixed-format sense, bytes transferred}, possibly on
// another thread (the block device's) and possibly before Execute returns.
// Reads and writes hand the buffer's segments straight to the block device
// (zero copy, trimmed to the bytes the CDB moves); data the disk makes up
// (INQUIRY, READ CAPACITY, mode pages, REPORT LUNS) and parameter lists it
// reads (UNMAP, the WRITE SAME pattern) go through a GuestBuffer.
//
// Commands (one .cpp per family): inquiry.cpp (standard data, VPD 00h, 80h,
// 83h, B0h, B1h, B2h), read_write.cpp (READ/WRITE 6/10/12/16, FUA),
// capacity.cpp (READ CAPACITY 10/16), unmap.cpp (UNMAP, WRITE SAME 10/16),
// sync.cpp (SYNCHRONIZE CACHE 10/16), mode_sense.cpp (MODE SENSE 6/10,
// pages 08h and 3Fh), disk.cpp (TEST UNIT READY, REQUEST SENSE, REPORT
// LUNS, dispatch). Anything else: ILLEGAL REQUEST, INVALID COMMAND
// OPERATION CODE. Every error is CHECK CONDITION with 18-byte fixed sense;
// the disk keeps no sense state (REQUEST SENSE reports NO SENSE), which is
// what autosense transports such as storvsp need, and makes the Disk safe
// to call from several channels' threads at once.
//
// Not here: LUN addressing and absent LUNs (the transport; see
// AnswerAbsentLun), task management, reservations, protection information,
// queueing (the block device's).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "base/result.h"
#include "block/device.h"
#include "mem/guest_memory.h"
#include "scsi/wire.h"

namespace scsi {

// Guest memory as the disk sees it: copies in and out at guest-physical
// addresses, every one checked by the implementation. Called concurrently
// from every thread that executes or completes commands.
class GuestBuffer {
 public:
  virtual ~GuestBuffer() = default;
  virtual base::Result<void> Read(mem::Gpa gpa, std::span<std::byte> out) = 0;
  virtual base::Result<void> Write(mem::Gpa gpa, std::span<const std::byte> in) = 0;
};

// A GuestBuffer over one mem::GuestMemory (non-isolated guests, tests).
class GuestMemoryBuffer final : public GuestBuffer {
 public:
  explicit GuestMemoryBuffer(mem::GuestMemory& memory) : memory_(memory) {}
  base::Result<void> Read(mem::Gpa gpa, std::span<std::byte> out) override {
    return memory_.Read(gpa, out);
  }
  base::Result<void> Write(mem::Gpa gpa, std::span<const std::byte> in) override {
    return memory_.Write(gpa, in);
  }

 private:
  mem::GuestMemory& memory_;
};

// SAM-5 §4.3: the data-in buffer receives data from the device, the
// data-out buffer supplies it.
enum class DataDirection : uint8_t { kNone, kIn, kOut };

inline constexpr size_t kMaxCdbBytes = 16;

struct Command {
  std::array<std::byte, kMaxCdbBytes> cdb{};       // guest-controlled, copied
  uint8_t cdb_length = 0;                          // guest-controlled, <= kMaxCdbBytes
  DataDirection direction = DataDirection::kNone;  // guest-controlled
  // The data buffer, in order; the transport built it from guest-controlled
  // ranges and checked that it covers `buffer_bytes`. Its GPAs are unchecked
  // (the GuestBuffer and the block back end check them).
  std::vector<block::Segment> segments;
  uint32_t buffer_bytes = 0;
  uint32_t queue_hint = 0;  // passed to block::Device::Submit
};

struct Outcome {
  Status status = Status::kGood;
  FixedSense sense{};  // valid when status == kCheckCondition
  // Bytes moved through the buffer: for data-in the allocation-length
  // truncated data (SPC-4 §4.2.5.6); the transport reports the residual.
  uint32_t bytes_transferred = 0;

  bool has_sense() const { return status == Status::kCheckCondition; }
  SenseKey sense_key() const { return static_cast<SenseKey>(static_cast<uint8_t>(sense[2]) & 0xF); }
  AdditionalSense additional_sense() const {
    return {static_cast<uint8_t>(sense[12]), static_cast<uint8_t>(sense[13])};
  }
};

// Runs exactly once per Execute.
using Completion = std::function<void(const Outcome&)>;

struct DiskOptions {
  uint8_t lun = 0;  // the LUN REPORT LUNS lists
};

// Limits the disk advertises (VPD B0h) and enforces.
inline constexpr uint32_t kMaxUnmapDescriptors = 256;
inline constexpr uint32_t kMaxUnmapBlocks = 0x0100'0000;      // per UNMAP or WRITE SAME
inline constexpr uint32_t kMaxPatternBlockBytes = 64 * 1024;  // WRITE SAME's data-out block

class Disk final {
 public:
  // `device` and `buffer` outlive the disk and every command in flight.
  Disk(block::Device& device, GuestBuffer& buffer, DiskOptions options = {})
      : device_(device), buffer_(buffer), options_(options) {}
  Disk(const Disk&) = delete;
  Disk& operator=(const Disk&) = delete;

  void Execute(const Command& command, Completion done);

  const block::Geometry& geometry() const { return device_.geometry(); }

 private:
  // Synchronous families: the outcome, data already written to the buffer.
  Outcome Inquiry(const Command& command);
  Outcome ReadCapacity10(const Command& command);
  Outcome ServiceActionIn16(const Command& command);
  Outcome ModeSense(const Command& command);
  Outcome ReportLuns(const Command& command);
  Outcome RequestSense(const Command& command);
  // Asynchronous families: `done` runs when the block device completes.
  void ReadWrite(const Command& command, Completion done);
  void SynchronizeCache(const Command& command, Completion done);
  void Unmap(const Command& command, Completion done);
  void WriteSame(const Command& command, Completion done);

  block::Device& device_;
  GuestBuffer& buffer_;
  DiskOptions options_;
};

// The answer for a LUN with no disk behind it (SPC-4 §6.4.2): INQUIRY gets
// peripheral qualifier 3 / device type 1Fh (storvsc forces INQUIRY to
// success, so this is how Linux learns the LUN is absent,
// hyperv-vmbus.md §6), REPORT LUNS an empty list (the transport sends only
// REPORT LUNS for targets with no disk here), anything else ILLEGAL
// REQUEST / LOGICAL UNIT NOT SUPPORTED. Writes only into the command's
// buffer.
Outcome AnswerAbsentLun(const Command& command, GuestBuffer& buffer);

}  // namespace scsi
