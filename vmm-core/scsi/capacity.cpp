// READ CAPACITY(10) (SBC-3 §5.15) and READ CAPACITY(16) (SBC-3 §5.16, a
// SERVICE ACTION IN(16) service action).
#include <array>

#include "scsi/disk.h"
#include "scsi/disk_internal.h"

namespace scsi {
namespace {

using internal::CdbByte;
using internal::CdbIsShort;
using internal::DataIn;
using internal::InvalidFieldInCdb;

// The RETURNED LOGICAL BLOCK ADDRESS: the last LBA (0 for an empty disk,
// which has none).
uint64_t LastLba(const block::Geometry& geometry) {
  return geometry.block_count == 0 ? 0 : geometry.block_count - 1;
}

}  // namespace

Outcome Disk::ReadCapacity10(const Command& command) {
  if (CdbIsShort(command, 10)) return InvalidFieldInCdb();
  // SBC-3 §5.15.1: with PMI (byte 8 bit 0) zero the LOGICAL BLOCK ADDRESS
  // field must be zero. PMI itself is obsolete in SBC-4; we answer as for 0.
  if ((CdbByte(command, 8) & 0x01) == 0 && LoadBe<uint32_t>(internal::Cdb(command), 2) != 0)
    return InvalidFieldInCdb();
  const block::Geometry& geometry = device_.geometry();
  std::array<std::byte, 8> data{};
  // SBC-3 §5.15.2: FFFFFFFFh when the last LBA does not fit, which sends
  // the initiator to READ CAPACITY(16).
  const uint64_t last_lba = LastLba(geometry);
  StoreBe<uint32_t>(data, 0,
                    last_lba > 0xFFFF'FFFE ? 0xFFFF'FFFF : static_cast<uint32_t>(last_lba));
  StoreBe<uint32_t>(data, 4, geometry.block_size);
  // No allocation length: the 8 bytes, or what the buffer holds.
  return DataIn(command, buffer_, data, static_cast<uint32_t>(data.size()));
}

Outcome Disk::ServiceActionIn16(const Command& command) {
  if (CdbIsShort(command, 16)) return InvalidFieldInCdb();
  // SPC-4 §4.2.5.1: an unsupported service action is INVALID FIELD IN CDB.
  if ((CdbByte(command, 1) & 0x1F) != kServiceActionReadCapacity16) return InvalidFieldInCdb();
  const block::Geometry& geometry = device_.geometry();
  std::array<std::byte, 32> data{};
  StoreBe<uint64_t>(data, 0, LastLba(geometry));
  StoreBe<uint32_t>(data, 8, geometry.block_size);
  // Byte 12: no protection. Byte 13: one logical block per physical block.
  // Byte 14 bit 7 LBPME: logical block provisioning (UNMAP) is enabled;
  // LBPRZ (bit 6) stays 0, deallocated blocks need not read as zeroes.
  if (geometry.supports_deallocate) data[14] = std::byte{0x80};
  const auto allocation_length = LoadBe<uint32_t>(internal::Cdb(command), 10);
  return DataIn(command, buffer_, data, allocation_length);
}

}  // namespace scsi
