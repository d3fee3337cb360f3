// MODE SENSE(6) and MODE SENSE(10) (SPC-4 §6.11, §6.12) with the mode
// parameter header and block descriptor of SPC-4 §7.5.4-§7.5.5 / SBC-3
// §6.4.2, and one mode page, Caching (SBC-3 §6.4.5). MODE SELECT is not
// supported: nothing is changeable.
#include <vector>

#include "scsi/disk.h"
#include "scsi/disk_internal.h"

namespace scsi {
namespace {

using internal::CdbByte;
using internal::CdbIsShort;
using internal::CheckCondition;
using internal::DataIn;
using internal::InvalidFieldInCdb;

// SPC-4 §6.11 Table 99: PAGE CONTROL.
enum class PageControl : uint8_t { kCurrent = 0, kChangeable = 1, kDefault = 2, kSaved = 3 };

constexpr uint8_t kCachingPageLength = 0x12;
// Device-specific parameter (SBC-3 §6.4.1): WP, and DPOFUA (we honour FUA).
constexpr uint8_t kWriteProtect = 0x80;
constexpr uint8_t kDpoFua = 0x10;

void AppendCachingPage(std::vector<std::byte>& out, PageControl control) {
  std::array<std::byte, 2 + kCachingPageLength> page{};
  page[0] = std::byte{kModePageCaching};  // PS 0, SPF 0
  page[1] = std::byte{kCachingPageLength};
  // WCE (byte 2 bit 2): a volatile write cache the guest flushes with
  // SYNCHRONIZE CACHE; RCD 0. Changeable values are all zero.
  if (control != PageControl::kChangeable) page[2] = std::byte{0x04};
  out.insert(out.end(), page.begin(), page.end());
}

}  // namespace

Outcome Disk::ModeSense(const Command& command) {
  const bool ten = CdbByte(command, 0) == op::kModeSense10;
  if (CdbIsShort(command, ten ? 10 : 6)) return InvalidFieldInCdb();
  const uint8_t flags = CdbByte(command, 1);
  const bool disable_block_descriptors = (flags & 0x08) != 0;
  const bool long_lba = ten && (flags & 0x10) != 0;  // LLBAA
  const auto control = static_cast<PageControl>(CdbByte(command, 2) >> 6);
  const uint8_t page_code = CdbByte(command, 2) & 0x3F;
  const uint8_t subpage = CdbByte(command, 3);
  const uint32_t allocation_length =
      ten ? LoadBe<uint16_t>(internal::Cdb(command), 7) : CdbByte(command, 4);

  if (control == PageControl::kSaved)
    return CheckCondition(SenseKey::kIllegalRequest, asc::kSavingParametersNotSupported);
  // Subpage 00h, or FFh with page 3Fh ("all pages and subpages").
  if (!(subpage == 0 || (page_code == kModePageAll && subpage == 0xFF))) return InvalidFieldInCdb();

  std::vector<std::byte> pages;
  switch (page_code) {  // guest-controlled
    case kModePageCaching:
    case kModePageAll:
      AppendCachingPage(pages, control);
      break;
    default:
      return InvalidFieldInCdb();
  }

  const block::Geometry& geometry = device_.geometry();
  // SBC-3 §6.4.2: short (8-byte) or, with LLBAA, long (16-byte) LBA block
  // descriptor.
  std::vector<std::byte> descriptor;
  if (!disable_block_descriptors) {
    if (long_lba) {
      descriptor.resize(16);
      StoreBe<uint64_t>(descriptor, 0, geometry.block_count);
      StoreBe<uint32_t>(descriptor, 12, geometry.block_size);
    } else {
      descriptor.resize(8);
      StoreBe<uint32_t>(descriptor, 0,
                        geometry.block_count > 0xFFFF'FFFF
                            ? 0xFFFF'FFFF
                            : static_cast<uint32_t>(geometry.block_count));
      const uint32_t block_length = geometry.block_size & 0xFF'FFFF;  // 24 bits
      descriptor[5] = std::byte{static_cast<uint8_t>(block_length >> 16)};
      descriptor[6] = std::byte{static_cast<uint8_t>(block_length >> 8)};
      descriptor[7] = std::byte{static_cast<uint8_t>(block_length)};
    }
  }

  const uint8_t device_specific =
      static_cast<uint8_t>(kDpoFua | (geometry.read_only ? kWriteProtect : 0));
  std::vector<std::byte> data(ten ? 8 : 4);
  const size_t total = data.size() + descriptor.size() + pages.size();
  if (ten) {
    // SPC-4 §7.5.5: MODE DATA LENGTH excludes itself (2 bytes).
    StoreBe<uint16_t>(data, 0, static_cast<uint16_t>(total - 2));
    data[3] = std::byte{device_specific};
    data[4] = std::byte{static_cast<uint8_t>(long_lba ? 0x01 : 0x00)};  // LONGLBA
    StoreBe<uint16_t>(data, 6, static_cast<uint16_t>(descriptor.size()));
  } else {
    data[0] = std::byte{static_cast<uint8_t>(total - 1)};
    data[2] = std::byte{device_specific};
    data[3] = std::byte{static_cast<uint8_t>(descriptor.size())};
  }
  data.insert(data.end(), descriptor.begin(), descriptor.end());
  data.insert(data.end(), pages.begin(), pages.end());
  return DataIn(command, buffer_, data, allocation_length);
}

}  // namespace scsi
