// READ and WRITE (6), (10), (12), (16) (SBC-3 §5.8-§5.11, §5.29-§5.32).
// The data buffer's segments go to the block device as they are, trimmed
// to the bytes the CDB moves (zero copy).
#include <utility>

#include "base/checked.h"
#include "scsi/disk.h"
#include "scsi/disk_internal.h"
#include "scsi/segments.h"

namespace scsi {
namespace {

using internal::CdbByte;
using internal::CdbIsShort;
using internal::CheckCondition;
using internal::Good;
using internal::InvalidFieldInCdb;

struct Transfer {
  bool write = false;
  uint64_t lba = 0;
  uint32_t blocks = 0;
  bool fua = false;
  uint8_t protect = 0;  // RDPROTECT / WRPROTECT
};

Transfer Decode(const Command& command, size_t& cdb_bytes) {
  const std::span<const std::byte> cdb = internal::Cdb(command);
  const uint8_t opcode = CdbByte(command, 0);
  Transfer transfer;
  transfer.write = opcode == op::kWrite6 || opcode == op::kWrite10 || opcode == op::kWrite12 ||
                   opcode == op::kWrite16;
  const uint8_t flags = CdbByte(command, 1);
  transfer.fua = (flags & 0x08) != 0;
  transfer.protect = static_cast<uint8_t>(flags >> 5);
  switch (opcode) {
    case op::kRead6:
    case op::kWrite6:
      // SBC-3 §5.8: a 21-bit LBA; TRANSFER LENGTH 0 means 256 blocks. No
      // FUA or protection fields.
      cdb_bytes = 6;
      transfer.fua = false;
      transfer.protect = 0;
      transfer.lba = (uint64_t{flags & 0x1Fu} << 16) | LoadBe<uint16_t>(cdb, 2);
      transfer.blocks = CdbByte(command, 4) == 0 ? 256 : CdbByte(command, 4);
      break;
    case op::kRead10:
    case op::kWrite10:
      cdb_bytes = 10;
      transfer.lba = LoadBe<uint32_t>(cdb, 2);
      transfer.blocks = LoadBe<uint16_t>(cdb, 7);
      break;
    case op::kRead12:
    case op::kWrite12:
      cdb_bytes = 12;
      transfer.lba = LoadBe<uint32_t>(cdb, 2);
      transfer.blocks = LoadBe<uint32_t>(cdb, 6);
      break;
    default:  // READ(16), WRITE(16): Execute dispatches only these here
      cdb_bytes = 16;
      transfer.lba = LoadBe<uint64_t>(cdb, 2);
      transfer.blocks = LoadBe<uint32_t>(cdb, 10);
      break;
  }
  return transfer;
}

}  // namespace

void Disk::ReadWrite(const Command& command, Completion done) {
  size_t cdb_bytes = 0;
  const Transfer transfer = Decode(command, cdb_bytes);
  if (CdbIsShort(command, cdb_bytes)) return done(InvalidFieldInCdb());
  // SBC-3 §5.11: with PROTECT 0 in the INQUIRY data (no protection
  // information), a non-zero RDPROTECT/WRPROTECT is INVALID FIELD IN CDB.
  if (transfer.protect != 0) return done(InvalidFieldInCdb());
  const block::Geometry& geometry = device_.geometry();
  if (transfer.write && geometry.read_only)
    return done(CheckCondition(SenseKey::kDataProtect, asc::kWriteProtected));
  // SBC-3 §5.11: LBA + TRANSFER LENGTH past the capacity.
  if (!base::RangeFits<uint64_t>(transfer.lba, transfer.blocks, geometry.block_count))
    return done(CheckCondition(SenseKey::kIllegalRequest, asc::kLbaOutOfRange));
  // SBC-3 §5.11: TRANSFER LENGTH 0 transfers nothing and is not an error.
  if (transfer.blocks == 0) return done(Good());
  // SBC-3 §6.5.3: past MAXIMUM TRANSFER LENGTH is INVALID FIELD IN CDB.
  if (geometry.max_transfer_blocks != 0 && transfer.blocks > geometry.max_transfer_blocks)
    return done(InvalidFieldInCdb());
  // The CDB must not move more than the initiator's buffer holds, and the
  // buffer must point the right way (SAM-5 §5.4.3).
  const auto bytes = base::CheckedMul<uint64_t>(transfer.blocks, geometry.block_size);
  if (!bytes || *bytes > command.buffer_bytes) return done(InvalidFieldInCdb());
  if (command.direction != (transfer.write ? DataDirection::kOut : DataDirection::kIn))
    return done(InvalidFieldInCdb());
  auto segments = TakeSegments(command.segments, *bytes);
  if (!segments.ok()) return done(CheckCondition(SenseKey::kAbortedCommand, asc::kDataPhaseError));

  block::Request request;
  request.op = transfer.write ? block::Op::kWrite : block::Op::kRead;
  request.lba = transfer.lba;
  request.block_count = transfer.blocks;
  // FUA on a read (read from the medium, not a cache) needs nothing here.
  request.force_unit_access = transfer.write && transfer.fua;
  request.segments = std::move(segments).value();
  const auto moved = static_cast<uint32_t>(*bytes);
  const internal::Access access =
      transfer.write ? internal::Access::kWrite : internal::Access::kRead;
  device_.Submit(std::move(request), command.queue_hint,
                 [done = std::move(done), moved, access](block::Status status) {
                   done(status == block::Status::kOk ? Good(moved)
                                                     : internal::FromBlockStatus(status, access));
                 });
}

}  // namespace scsi
