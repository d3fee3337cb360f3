#include "scsi/disk.h"

#include <algorithm>
#include <utility>

#include "scsi/disk_internal.h"
#include "scsi/segments.h"

namespace scsi {
namespace internal {

Outcome DataIn(const Command& command, GuestBuffer& buffer, std::span<const std::byte> data,
               uint32_t allocation_length) {
  const size_t bytes = std::min({static_cast<size_t>(allocation_length), data.size(),
                                 static_cast<size_t>(command.buffer_bytes)});
  if (bytes == 0) return Good();
  if (command.direction != DataDirection::kIn) return InvalidFieldInCdb();
  if (!CopyToSegments(buffer, command.segments, data.first(bytes)).ok())
    return CheckCondition(SenseKey::kAbortedCommand, asc::kDataPhaseError);
  return Good(static_cast<uint32_t>(bytes));
}

Outcome FromBlockStatus(block::Status status, Access access) {
  switch (status) {
    case block::Status::kOk:
      return Good();
    case block::Status::kOutOfRange:
      return CheckCondition(SenseKey::kIllegalRequest, asc::kLbaOutOfRange);
    case block::Status::kInvalid:
      return InvalidFieldInCdb();
    case block::Status::kWriteProtected:
      return CheckCondition(SenseKey::kDataProtect, asc::kWriteProtected);
    case block::Status::kMediaError:
      // SPC-4 Annex D: 11/00 UNRECOVERED READ ERROR, 0C/00 WRITE ERROR.
      return CheckCondition(SenseKey::kMediumError, access == Access::kRead
                                                        ? asc::kUnrecoveredReadError
                                                        : asc::kWriteError);
    case block::Status::kDataTransfer:
      return CheckCondition(SenseKey::kAbortedCommand, asc::kDataPhaseError);
    case block::Status::kAborted:
      return CheckCondition(SenseKey::kAbortedCommand, asc::kNone);
    case block::Status::kDeviceFailed:
      return CheckCondition(SenseKey::kHardwareError, asc::kInternalTargetFailure);
  }
  return CheckCondition(SenseKey::kHardwareError, asc::kInternalTargetFailure);
}

}  // namespace internal

using internal::CdbByte;
using internal::CdbIsShort;
using internal::CheckCondition;
using internal::DataIn;
using internal::Good;
using internal::InvalidFieldInCdb;

void Disk::Execute(const Command& command, Completion done) {
  if (command.cdb_length == 0 || command.cdb_length > kMaxCdbBytes) {
    done(InvalidFieldInCdb());
    return;
  }
  // The opcode is guest-controlled: every value reaches `default:`.
  switch (CdbByte(command, 0)) {
    case op::kTestUnitReady:
      // SPC-4 §6.37: the medium is always ready.
      done(CdbIsShort(command, 6) ? InvalidFieldInCdb() : Good());
      return;
    case op::kRequestSense:
      done(RequestSense(command));
      return;
    case op::kInquiry:
      done(Inquiry(command));
      return;
    case op::kModeSense6:
    case op::kModeSense10:
      done(ModeSense(command));
      return;
    case op::kReadCapacity10:
      done(ReadCapacity10(command));
      return;
    case op::kServiceActionIn16:
      done(ServiceActionIn16(command));
      return;
    case op::kReportLuns:
      done(ReportLuns(command));
      return;
    case op::kRead6:
    case op::kRead10:
    case op::kRead12:
    case op::kRead16:
    case op::kWrite6:
    case op::kWrite10:
    case op::kWrite12:
    case op::kWrite16:
      ReadWrite(command, std::move(done));
      return;
    case op::kSynchronizeCache10:
    case op::kSynchronizeCache16:
      SynchronizeCache(command, std::move(done));
      return;
    case op::kUnmap:
      Unmap(command, std::move(done));
      return;
    case op::kWriteSame10:
    case op::kWriteSame16:
      WriteSame(command, std::move(done));
      return;
    default:
      // SPC-4 §4.5.2: an operation code the device server does not support.
      done(CheckCondition(SenseKey::kIllegalRequest, asc::kInvalidCommandOperationCode));
      return;
  }
}

Outcome Disk::RequestSense(const Command& command) {
  if (CdbIsShort(command, 6)) return InvalidFieldInCdb();
  // SPC-4 §6.39: DESC = 1 asks for descriptor format, which we do not
  // implement: INVALID FIELD IN CDB.
  if ((CdbByte(command, 1) & 0x01) != 0) return InvalidFieldInCdb();
  // No sense is ever pending (every error was reported with its command,
  // as autosense), so the answer is NO SENSE.
  const FixedSense sense = EncodeFixedSense(SenseKey::kNoSense, asc::kNone);
  return DataIn(command, buffer_, sense, CdbByte(command, 4));
}

Outcome Disk::ReportLuns(const Command& command) {
  return internal::ReportLunList(command, buffer_, options_.lun);
}

namespace internal {

Outcome ReportLunList(const Command& command, GuestBuffer& buffer, std::optional<uint8_t> lun) {
  if (CdbIsShort(command, 12)) return InvalidFieldInCdb();
  // SPC-4 §6.33: SELECT REPORT 00h (all), 01h (well known), 02h (all, both).
  const uint8_t select_report = CdbByte(command, 2);
  if (select_report > 0x02) return InvalidFieldInCdb();
  const auto allocation_length = LoadBe<uint32_t>(Cdb(command), 6);
  // SPC-4 §6.33: an allocation length under 16 is INVALID FIELD IN CDB.
  if (allocation_length < 16) return InvalidFieldInCdb();
  std::array<std::byte, 16> data{};
  // No well-known logical units, and a target with no disk has no LUNs:
  // LUN LIST LENGTH 0, an 8-byte header only.
  if (select_report == 0x01 || !lun)
    return DataIn(command, buffer, std::span(data).first(8), allocation_length);
  StoreBe<uint32_t>(data, 0, 8);  // LUN LIST LENGTH: one 8-byte entry
  // SAM-5 §4.7.7.2: peripheral device addressing, bus 0, the LUN in byte 1.
  data[9] = std::byte{*lun};
  return DataIn(command, buffer, data, allocation_length);
}

}  // namespace internal

}  // namespace scsi
