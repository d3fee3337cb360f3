// UNMAP (SBC-3 §5.28) and WRITE SAME(10)/(16) (SBC-3 §5.42, §5.43): the
// commands that deallocate or zero blocks without moving their data.
#include <algorithm>
#include <atomic>
#include <memory>
#include <utility>
#include <vector>

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

constexpr size_t kUnmapHeaderBytes = 8;
constexpr size_t kUnmapDescriptorBytes = 16;

struct Extent {
  uint64_t lba = 0;
  uint32_t blocks = 0;
};

// Several block requests completing one command: the first failure wins,
// the last completion reports.
class Join {
 public:
  Join(size_t pending, Completion done) : pending_(pending), done_(std::move(done)) {}

  void Complete(block::Status status) {
    block::Status expected = block::Status::kOk;
    if (status != block::Status::kOk)
      (void)first_error_.compare_exchange_strong(expected, status, std::memory_order_acq_rel);
    if (pending_.fetch_sub(1, std::memory_order_acq_rel) == 1)
      done_(internal::FromBlockStatus(first_error_.load(std::memory_order_acquire),
                                      internal::Access::kWrite));
  }

 private:
  std::atomic<size_t> pending_;
  std::atomic<block::Status> first_error_{block::Status::kOk};
  Completion done_;
};

void SubmitAll(block::Device& device, block::Op op, std::vector<Extent> extents,
               uint32_t queue_hint, Completion done) {
  if (extents.empty()) return done(Good());
  auto join = std::make_shared<Join>(extents.size(), std::move(done));
  for (const Extent& extent : extents) {
    block::Request request;
    request.op = op;
    request.lba = extent.lba;
    request.block_count = extent.blocks;
    device.Submit(std::move(request), queue_hint,
                  [join](block::Status status) { join->Complete(status); });
  }
}

}  // namespace

void Disk::Unmap(const Command& command, Completion done) {
  if (CdbIsShort(command, 10)) return done(InvalidFieldInCdb());
  const block::Geometry& geometry = device_.geometry();
  // Without deallocation LBPU is 0 and UNMAP is not a command we support.
  if (!geometry.supports_deallocate)
    return done(CheckCondition(SenseKey::kIllegalRequest, asc::kInvalidCommandOperationCode));
  // SBC-3 §5.28.1: ANCHOR with ANC_SUP 0 is INVALID FIELD IN CDB.
  if ((CdbByte(command, 1) & 0x01) != 0) return done(InvalidFieldInCdb());
  if (geometry.read_only) return done(CheckCondition(SenseKey::kDataProtect, asc::kWriteProtected));
  const uint16_t list_length = LoadBe<uint16_t>(internal::Cdb(command), 7);
  // SBC-3 §5.28.1: PARAMETER LIST LENGTH 0 is not an error; 1-7 is
  // PARAMETER LIST LENGTH ERROR.
  if (list_length == 0) return done(Good());
  if (list_length < kUnmapHeaderBytes)
    return done(CheckCondition(SenseKey::kIllegalRequest, asc::kParameterListLengthError));
  if (list_length > command.buffer_bytes || command.direction != DataDirection::kOut)
    return done(InvalidFieldInCdb());

  // Copy the whole parameter list once, then validate the copy.
  std::vector<std::byte> list(list_length);
  if (!CopyFromSegments(buffer_, command.segments, list).ok())
    return done(CheckCondition(SenseKey::kAbortedCommand, asc::kDataPhaseError));

  // SBC-3 §5.28.2: UNMAP BLOCK DESCRIPTOR DATA LENGTH, bounded by what the
  // list holds; an incomplete last descriptor is ignored.
  const size_t descriptor_bytes =
      std::min<size_t>(LoadBe<uint16_t>(list, 2), list.size() - kUnmapHeaderBytes);
  const size_t descriptors = descriptor_bytes / kUnmapDescriptorBytes;
  // SBC-3 §5.28.2: more descriptors than MAXIMUM UNMAP BLOCK DESCRIPTOR
  // COUNT, or more blocks than MAXIMUM UNMAP LBA COUNT, is INVALID FIELD IN
  // PARAMETER LIST; any descriptor past the capacity is LBA OUT OF RANGE.
  if (descriptors > kMaxUnmapDescriptors)
    return done(CheckCondition(SenseKey::kIllegalRequest, asc::kInvalidFieldInParameterList));
  std::vector<Extent> extents;
  uint64_t total_blocks = 0;
  for (size_t i = 0; i < descriptors; ++i) {
    const size_t at = kUnmapHeaderBytes + i * kUnmapDescriptorBytes;
    const Extent extent{LoadBe<uint64_t>(list, at), LoadBe<uint32_t>(list, at + 8)};
    if (!base::RangeFits<uint64_t>(extent.lba, extent.blocks, geometry.block_count))
      return done(CheckCondition(SenseKey::kIllegalRequest, asc::kLbaOutOfRange));
    total_blocks += extent.blocks;  // <= 256 * 2^32: no overflow
    if (total_blocks > kMaxUnmapBlocks)
      return done(CheckCondition(SenseKey::kIllegalRequest, asc::kInvalidFieldInParameterList));
    // A NUMBER OF LOGICAL BLOCKS of 0 unmaps nothing.
    if (extent.blocks != 0) extents.push_back(extent);
  }
  SubmitAll(device_, block::Op::kDeallocate, std::move(extents), command.queue_hint,
            std::move(done));
}

void Disk::WriteSame(const Command& command, Completion done) {
  const bool sixteen = CdbByte(command, 0) == op::kWriteSame16;
  if (CdbIsShort(command, sixteen ? 16 : 10)) return done(InvalidFieldInCdb());
  const block::Geometry& geometry = device_.geometry();
  if (!geometry.supports_deallocate && !geometry.supports_write_zeroes)
    return done(CheckCondition(SenseKey::kIllegalRequest, asc::kInvalidCommandOperationCode));
  const std::span<const std::byte> cdb = internal::Cdb(command);
  const uint8_t flags = CdbByte(command, 1);
  // SBC-3 §5.43 byte 1: WRPROTECT (7:5), ANCHOR (4), UNMAP (3), PBDATA and
  // LBDATA (2:1, obsolete); SBC-4 adds NDOB (0) to WRITE SAME(16): no data
  // out, the pattern is zeroes. We support none of WRPROTECT, ANCHOR,
  // PBDATA, LBDATA.
  const bool unmap = (flags & 0x08) != 0;
  const bool no_data_out = sixteen && (flags & 0x01) != 0;
  if ((flags & 0xF6) != 0 || (!sixteen && (flags & 0x01) != 0)) return done(InvalidFieldInCdb());
  if (geometry.read_only) return done(CheckCondition(SenseKey::kDataProtect, asc::kWriteProtected));
  const uint64_t lba = sixteen ? LoadBe<uint64_t>(cdb, 2) : LoadBe<uint32_t>(cdb, 2);
  const uint32_t blocks = sixteen ? LoadBe<uint32_t>(cdb, 10) : LoadBe<uint16_t>(cdb, 7);
  if (!base::RangeFits<uint64_t>(lba, blocks, geometry.block_count))
    return done(CheckCondition(SenseKey::kIllegalRequest, asc::kLbaOutOfRange));
  // WSNZ is 1 in our Block Limits page: 0 blocks ("to the end") is
  // refused, as is more than MAXIMUM WRITE SAME LENGTH.
  if (blocks == 0 || blocks > kMaxUnmapBlocks) return done(InvalidFieldInCdb());

  // The pattern: one logical block of data-out, copied, then checked. We
  // cannot replicate a pattern without moving data, so only zeroes pass.
  uint32_t pattern_bytes = 0;
  if (!no_data_out) {
    pattern_bytes = geometry.block_size;
    if (pattern_bytes == 0 || pattern_bytes > kMaxPatternBlockBytes ||
        pattern_bytes > command.buffer_bytes || command.direction != DataDirection::kOut)
      return done(InvalidFieldInCdb());
    std::vector<std::byte> pattern(pattern_bytes);
    if (!CopyFromSegments(buffer_, command.segments, pattern).ok())
      return done(CheckCondition(SenseKey::kAbortedCommand, asc::kDataPhaseError));
    if (std::any_of(pattern.begin(), pattern.end(), [](std::byte b) { return b != std::byte{0}; }))
      return done(InvalidFieldInCdb());
  }

  // UNMAP 1 asks for deallocation (SBC-3 §4.7.3.3); a device server may
  // write the pattern instead. UNMAP 0 must leave the blocks reading as
  // the pattern (zeroes), which deallocation does not promise (LBPRZ 0).
  block::Op block_op;
  if (unmap && geometry.supports_deallocate) {
    block_op = block::Op::kDeallocate;
  } else if (geometry.supports_write_zeroes) {
    block_op = block::Op::kWriteZeroes;
  } else {
    return done(InvalidFieldInCdb());
  }
  SubmitAll(device_, block_op, {Extent{lba, blocks}}, command.queue_hint,
            [done = std::move(done), pattern_bytes](const Outcome& outcome) {
              if (outcome.status != Status::kGood) return done(outcome);
              done(Good(pattern_bytes));
            });
}

}  // namespace scsi
