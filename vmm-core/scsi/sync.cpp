// SYNCHRONIZE CACHE(10) and (16) (SBC-3 §5.22, §5.23) -> a block flush.
#include <utility>

#include "base/checked.h"
#include "scsi/disk.h"
#include "scsi/disk_internal.h"

namespace scsi {

using internal::CdbIsShort;
using internal::CheckCondition;
using internal::InvalidFieldInCdb;

void Disk::SynchronizeCache(const Command& command, Completion done) {
  const bool sixteen = internal::CdbByte(command, 0) == op::kSynchronizeCache16;
  if (CdbIsShort(command, sixteen ? 16 : 10)) return done(InvalidFieldInCdb());
  const std::span<const std::byte> cdb = internal::Cdb(command);
  const uint64_t lba = sixteen ? LoadBe<uint64_t>(cdb, 2) : LoadBe<uint32_t>(cdb, 2);
  const uint32_t blocks = sixteen ? LoadBe<uint32_t>(cdb, 10) : LoadBe<uint16_t>(cdb, 7);
  // SBC-3 §5.22: a range past the capacity is LBA OUT OF RANGE (NUMBER OF
  // BLOCKS 0 means "to the end"). IMMED (byte 1 bit 1) may be ignored: we
  // always complete after the flush.
  if (!base::RangeFits<uint64_t>(lba, blocks, device_.geometry().block_count))
    return done(CheckCondition(SenseKey::kIllegalRequest, asc::kLbaOutOfRange));
  // The back end flushes the whole device: a superset of the range.
  // block::Request wants block_count >= 1 for every op.
  block::Request request;
  request.op = block::Op::kFlush;
  request.lba = 0;
  request.block_count = 1;
  device_.Submit(std::move(request), command.queue_hint,
                 [done = std::move(done)](block::Status status) {
                   done(internal::FromBlockStatus(status, internal::Access::kWrite));
                 });
}

}  // namespace scsi
