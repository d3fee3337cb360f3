// Helpers the command families of scsi::Disk share (not part of the API).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

#include "block/device.h"
#include "scsi/disk.h"

namespace scsi::internal {

inline Outcome Good(uint32_t bytes_transferred = 0) {
  Outcome outcome;
  outcome.bytes_transferred = bytes_transferred;
  return outcome;
}

inline Outcome CheckCondition(SenseKey key, AdditionalSense additional) {
  Outcome outcome;
  outcome.status = Status::kCheckCondition;
  outcome.sense = EncodeFixedSense(key, additional);
  return outcome;
}

inline Outcome InvalidFieldInCdb() {
  return CheckCondition(SenseKey::kIllegalRequest, asc::kInvalidFieldInCdb);
}

// The CDB bytes; fields past cdb_length read as the zeroes Command holds.
inline std::span<const std::byte> Cdb(const Command& command) { return command.cdb; }
inline uint8_t CdbByte(const Command& command, size_t index) {
  return static_cast<uint8_t>(command.cdb[index]);
}

// The guest's CDB is at least as long as the command's (SPC-4 §4.2.5);
// shorter ones are refused with INVALID FIELD IN CDB.
inline bool CdbIsShort(const Command& command, size_t cdb_bytes) {
  return command.cdb_length < cdb_bytes;
}

// SPC-4 §4.2.5.6: data-in of min(allocation length, data, buffer) bytes.
// A non-zero transfer needs a data-in buffer.
Outcome DataIn(const Command& command, GuestBuffer& buffer, std::span<const std::byte> data,
               uint32_t allocation_length);

// REPORT LUNS (SPC-4 §6.33): the one LUN `lun`, or none for a target with
// no disk behind it.
Outcome ReportLunList(const Command& command, GuestBuffer& buffer, std::optional<uint8_t> lun);

enum class Access { kRead, kWrite, kOther };
// A block device's failure as SCSI sense (SBC-3 §4.17 for medium errors).
Outcome FromBlockStatus(block::Status status, Access access);

}  // namespace scsi::internal
