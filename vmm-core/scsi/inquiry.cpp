// INQUIRY (SPC-4 §6.6): standard data and the VPD pages Linux 6.1 reads
// (hyperv-vmbus.md §6 "Probe": 00h, 80h, 83h, then B0h, B1h, B2h if listed).
#include <algorithm>
#include <string_view>
#include <vector>

#include "scsi/disk.h"
#include "scsi/disk_internal.h"

namespace scsi {
namespace {

using internal::CdbByte;
using internal::CdbIsShort;
using internal::DataIn;
using internal::InvalidFieldInCdb;

constexpr size_t kStandardInquiryBytes = 36;
// SPC-4 §6.4.2 VERSION: 06h claims SPC-4.
constexpr uint8_t kVersionSpc4 = 0x06;
// HISUP (bit 4) | RESPONSE DATA FORMAT 2.
constexpr uint8_t kHisupFormat2 = 0x12;
constexpr uint8_t kCmdQue = 0x02;  // byte 7: command queuing supported
// Linux 6.1 storvsc_device_configure enables WRITE SAME for vendor "Msft"
// at protocol 0x0602 (hyperv-vmbus.md §6), as Hyper-V's disks are named.
constexpr std::string_view kVendor = "Msft    ";
constexpr std::string_view kProduct = "Virtual Disk    ";
constexpr std::string_view kRevision = "1.0 ";
static_assert(kVendor.size() == 8 && kProduct.size() == 16 && kRevision.size() == 4);

constexpr size_t kMaxSerialBytes = 64;

void PutAscii(std::span<std::byte> out, size_t offset, std::string_view text) {
  for (size_t i = 0; i < text.size(); ++i)
    out[offset + i] = std::byte{static_cast<uint8_t>(text[i])};
}

std::array<std::byte, kStandardInquiryBytes> StandardData(uint8_t peripheral) {
  std::array<std::byte, kStandardInquiryBytes> data{};
  data[0] = std::byte{peripheral};
  data[2] = std::byte{kVersionSpc4};
  data[3] = std::byte{kHisupFormat2};
  data[4] = std::byte{kStandardInquiryBytes - 5};  // ADDITIONAL LENGTH
  data[7] = std::byte{kCmdQue};
  PutAscii(data, 8, kVendor);
  PutAscii(data, 16, kProduct);
  PutAscii(data, 32, kRevision);
  return data;
}

// A VPD page: the 4-byte header (SPC-4 §7.8.1) and `body`.
std::vector<std::byte> VpdPage(uint8_t page_code, std::span<const std::byte> body) {
  std::vector<std::byte> page(4 + body.size());
  page[0] = std::byte{kPeripheralDirectAccess};
  page[1] = std::byte{page_code};
  StoreBe<uint16_t>(page, 2, static_cast<uint16_t>(body.size()));
  std::copy(body.begin(), body.end(), page.begin() + 4);
  return page;
}

constexpr std::array<uint8_t, 6> kSupportedPages = {
    vpd::kSupportedPages, vpd::kUnitSerialNumber,           vpd::kDeviceIdentification,
    vpd::kBlockLimits,    vpd::kBlockDeviceCharacteristics, vpd::kLogicalBlockProvisioning,
};

std::vector<std::byte> SupportedPages() {
  std::array<std::byte, kSupportedPages.size()> body{};
  for (size_t i = 0; i < kSupportedPages.size(); ++i) body[i] = std::byte{kSupportedPages[i]};
  return VpdPage(vpd::kSupportedPages, body);
}

// SPC-4 §7.8.18: PRODUCT SERIAL NUMBER, ASCII. The back end's serial
// (an NVMe controller's, say) is not ours to trust: anything outside
// printable ASCII becomes a space, and it is capped.
std::vector<std::byte> UnitSerialNumber(const block::Geometry& geometry) {
  std::vector<std::byte> body;
  for (char c : std::string_view(geometry.serial).substr(0, kMaxSerialBytes)) {
    const auto byte = static_cast<uint8_t>(c);
    body.push_back(std::byte{byte >= 0x20 && byte <= 0x7E ? byte : uint8_t{' '}});
  }
  return VpdPage(vpd::kUnitSerialNumber, body);
}

// SPC-4 §7.8.6: two designators for the logical unit, both from
// Geometry::unique_id.
//   NAA IEEE Registered Extended (NAA 6, §7.8.6.6.5), binary, 16 bytes:
//     the id with its top nibble replaced by 6h;
//   T10 vendor ID based (§7.8.6.4), ASCII: "Msft    " and the id in hex.
std::vector<std::byte> DeviceIdentification(const block::Geometry& geometry) {
  constexpr uint8_t kCodeSetBinary = 0x1;
  constexpr uint8_t kCodeSetAscii = 0x2;
  constexpr uint8_t kTypeT10VendorId = 0x1;  // ASSOCIATION 00b: the LU
  constexpr uint8_t kTypeNaa = 0x3;
  std::vector<std::byte> body;
  auto designator_header = [&](uint8_t code_set, uint8_t type, size_t length) {
    body.push_back(std::byte{code_set});
    body.push_back(std::byte{type});
    body.push_back(std::byte{0});
    body.push_back(std::byte{static_cast<uint8_t>(length)});
  };

  designator_header(kCodeSetBinary, kTypeNaa, geometry.unique_id.size());
  for (size_t i = 0; i < geometry.unique_id.size(); ++i) {
    const uint8_t byte = geometry.unique_id[i];
    body.push_back(std::byte{i == 0 ? static_cast<uint8_t>(0x60 | (byte & 0x0F)) : byte});
  }

  constexpr char kHex[] = "0123456789ABCDEF";
  designator_header(kCodeSetAscii, kTypeT10VendorId,
                    kVendor.size() + 2 * geometry.unique_id.size());
  for (char c : kVendor) body.push_back(std::byte{static_cast<uint8_t>(c)});
  for (uint8_t byte : geometry.unique_id) {
    body.push_back(std::byte{static_cast<uint8_t>(kHex[byte >> 4])});
    body.push_back(std::byte{static_cast<uint8_t>(kHex[byte & 0xF])});
  }
  return VpdPage(vpd::kDeviceIdentification, body);
}

bool CanZeroOrUnmap(const block::Geometry& geometry) {
  return geometry.supports_deallocate || geometry.supports_write_zeroes;
}

// SBC-3 §6.5.3 Block Limits (page length 3Ch).
std::vector<std::byte> BlockLimits(const block::Geometry& geometry) {
  std::array<std::byte, 0x3C> body{};  // offsets below are page offsets - 4
  body[0] = std::byte{0x01};           // WSNZ: WRITE SAME with 0 blocks is refused
  StoreBe<uint32_t>(body, 8 - 4, geometry.max_transfer_blocks);   // MAXIMUM TRANSFER LENGTH
  StoreBe<uint32_t>(body, 12 - 4, geometry.max_transfer_blocks);  // OPTIMAL TRANSFER LENGTH
  if (geometry.supports_deallocate) {
    StoreBe<uint32_t>(body, 20 - 4, kMaxUnmapBlocks);       // MAXIMUM UNMAP LBA COUNT
    StoreBe<uint32_t>(body, 24 - 4, kMaxUnmapDescriptors);  // MAXIMUM UNMAP BLOCK DESCRIPTOR COUNT
    StoreBe<uint32_t>(body, 28 - 4, 1);                     // OPTIMAL UNMAP GRANULARITY
  }
  if (CanZeroOrUnmap(geometry))
    StoreBe<uint64_t>(body, 36 - 4, kMaxUnmapBlocks);  // MAXIMUM WRITE SAME LENGTH
  return VpdPage(vpd::kBlockLimits, body);
}

// SBC-3 §6.5.2 Block Device Characteristics: MEDIUM ROTATION RATE 0001h,
// a non-rotating medium (Linux then marks the queue non-rotational).
std::vector<std::byte> BlockDeviceCharacteristics() {
  std::array<std::byte, 0x3C> body{};
  StoreBe<uint16_t>(body, 0, 0x0001);
  return VpdPage(vpd::kBlockDeviceCharacteristics, body);
}

// SBC-3 §6.5.4 Logical Block Provisioning: when the back end deallocates,
// LBPU (UNMAP) and LBPWS/LBPWS10 (WRITE SAME with UNMAP) and thin
// provisioning. LBPRZ stays 0: a deallocated block need not read as zeroes.
std::vector<std::byte> LogicalBlockProvisioning(const block::Geometry& geometry) {
  std::array<std::byte, 4> body{};
  if (geometry.supports_deallocate) {
    body[1] = std::byte{0x80 | 0x40 | 0x20};  // LBPU | LBPWS | LBPWS10
    body[2] = std::byte{0x02};                // PROVISIONING TYPE: thin
  }
  return VpdPage(vpd::kLogicalBlockProvisioning, body);
}

}  // namespace

Outcome Disk::Inquiry(const Command& command) {
  if (CdbIsShort(command, 6)) return InvalidFieldInCdb();
  const uint8_t flags = CdbByte(command, 1);
  const uint8_t page_code = CdbByte(command, 2);
  const auto allocation_length = LoadBe<uint16_t>(internal::Cdb(command), 3);
  // SPC-4 §6.6: CMDDT (bit 1, obsolete) must be zero; EVPD 0 with a
  // non-zero PAGE CODE is INVALID FIELD IN CDB.
  if ((flags & 0x02) != 0) return InvalidFieldInCdb();
  if ((flags & 0x01) == 0) {
    if (page_code != 0) return InvalidFieldInCdb();
    const auto data = StandardData(kPeripheralDirectAccess);
    return DataIn(command, buffer_, data, allocation_length);
  }
  const block::Geometry& geometry = device_.geometry();
  std::vector<std::byte> page;
  switch (page_code) {  // guest-controlled
    case vpd::kSupportedPages:
      page = SupportedPages();
      break;
    case vpd::kUnitSerialNumber:
      page = UnitSerialNumber(geometry);
      break;
    case vpd::kDeviceIdentification:
      page = DeviceIdentification(geometry);
      break;
    case vpd::kBlockLimits:
      page = BlockLimits(geometry);
      break;
    case vpd::kBlockDeviceCharacteristics:
      page = BlockDeviceCharacteristics();
      break;
    case vpd::kLogicalBlockProvisioning:
      page = LogicalBlockProvisioning(geometry);
      break;
    default:
      return InvalidFieldInCdb();
  }
  return DataIn(command, buffer_, page, allocation_length);
}

Outcome AnswerAbsentLun(const Command& command, GuestBuffer& buffer) {
  if (command.cdb_length != 0 && CdbByte(command, 0) == op::kReportLuns)
    return internal::ReportLunList(command, buffer, std::nullopt);
  if (command.cdb_length == 0 || CdbByte(command, 0) != op::kInquiry)
    return internal::CheckCondition(SenseKey::kIllegalRequest, asc::kLogicalUnitNotSupported);
  if (CdbIsShort(command, 6)) return InvalidFieldInCdb();
  const auto allocation_length = LoadBe<uint16_t>(internal::Cdb(command), 3);
  if ((CdbByte(command, 1) & 0x01) != 0) {
    // A VPD page header with the same peripheral byte and no data.
    std::array<std::byte, 4> header{};
    header[0] = std::byte{kPeripheralNoDevice};
    header[1] = command.cdb[2];
    return DataIn(command, buffer, header, allocation_length);
  }
  const auto data = StandardData(kPeripheralNoDevice);
  return DataIn(command, buffer, data, allocation_length);
}

}  // namespace scsi
