#include "reader.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <map>
#include <set>

#include "base/checked.h"
#include "crc32.h"

namespace igvm {
namespace {

using wire::HeaderType;

// Half-open [first, last) page ranges; reports overlap on insert.
// Adjacent ranges are merged, so consecutive pages (every image a builder
// writes) cost one map node, not one per page.
class PageRangeSet {
 public:
  bool InsertIfFree(uint64_t first, uint64_t count) {
    const uint64_t last = first + count;
    auto next = ranges_.lower_bound(first);
    if (next != ranges_.end() && next->first < last) return false;
    if (next != ranges_.begin() && std::prev(next)->second > first) return false;
    const bool joins_next = next != ranges_.end() && next->first == last;
    if (next != ranges_.begin() && std::prev(next)->second == first) {
      auto previous = std::prev(next);
      previous->second = joins_next ? next->second : last;
      if (joins_next) ranges_.erase(next);
      return true;
    }
    if (joins_next) {
      const uint64_t end = next->second;
      ranges_.erase(next);
      ranges_.emplace(first, end);
      return true;
    }
    ranges_.emplace(first, last);
    return true;
  }

 private:
  std::map<uint64_t, uint64_t> ranges_;
};

struct AreaState {
  uint64_t size_bytes = 0;
  bool inserted = false;
};

bool IsPowerOfTwo(uint32_t value) { return value != 0 && (value & (value - 1)) == 0; }

class Reader {
 public:
  explicit Reader(std::shared_ptr<const std::vector<std::byte>> storage)
      : storage_(std::move(storage)), bytes_(*storage_) {}

  base::Result<IgvmFile> Read();

 private:
  template <typename T>
  T CopyAt(size_t offset) const {  // caller has checked the range
    T value;
    std::memcpy(&value, bytes_.data() + offset, sizeof(T));
    return value;
  }

  base::Result<void> ReadFixedHeader();
  base::Result<void> ReadHeader(uint32_t offset, uint32_t type, uint32_t length);
  // A view of file data (no copy: it shares storage_).
  base::Result<SharedBytes> FileData(uint32_t file_offset, uint64_t length) const;
  // Reserves the model's vectors for the headers the file declares.
  void ReserveModel(uint32_t offset, uint32_t end);
  void Warn(std::string message);
  base::Result<void> CheckMask(uint32_t mask);
  base::Result<void> CheckSingleMask(uint32_t mask) const;
  // Headers that only make sense for one platform type (ID block, ...).
  base::Result<void> RequirePlatform(uint32_t mask, wire::PlatformType type) const;
  base::Result<void> ClaimPages(uint32_t mask, uint64_t gpa, uint64_t pages);
  base::Result<void> AddUnbackedPages(uint64_t pages);

  base::Result<void> ReadPlatform(wire::SupportedPlatform platform);
  base::Result<void> ReadPageData(wire::PageData header);
  base::Result<void> ReadParameterArea(wire::ParameterArea header);
  base::Result<void> ReadParameterInsert(wire::ParameterInsert header);
  base::Result<void> ReadParameterUsage(HeaderType type, wire::Parameter header);
  base::Result<void> ReadVpContext(wire::VpContext header);

  std::shared_ptr<const std::vector<std::byte>> storage_;
  std::span<const std::byte> bytes_;
  IgvmFile file_;
  uint32_t data_start_ = 0;  // first byte after the variable headers
  uint32_t platform_masks_ = 0;
  std::map<uint32_t, uint8_t> platform_by_bit_;
  std::map<uint32_t, AreaState> areas_;
  std::map<uint32_t, PageRangeSet> pages_by_bit_;
  std::set<std::pair<uint32_t, uint16_t>> vp_contexts_;  // (mask, vp_index)
  uint32_t policy_bits_ = 0, id_block_bits_ = 0, vbs_bits_ = 0;
  uint32_t corim_document_bits_ = 0, corim_signature_bits_ = 0, cca_policy_bits_ = 0;
  uint32_t page_table_reloc_bits_ = 0;
  uint64_t unbacked_pages_ = 0;
  std::set<uint32_t> warned_masks_;
};

base::Result<SharedBytes> Reader::FileData(uint32_t file_offset, uint64_t length) const {
  // Data lives in the file-data section, after the variable headers.
  if (file_offset < data_start_ || !base::RangeFits<uint64_t>(file_offset, length, bytes_.size()))
    return base::Error::Format("data at file offset %#x+%#llx is outside the file-data section",
                               file_offset, static_cast<unsigned long long>(length));
  return SharedBytes(storage_, bytes_.subspan(file_offset, static_cast<size_t>(length)));
}

void Reader::ReserveModel(uint32_t offset, uint32_t end) {
  // A first walk that only counts; the real walk checks everything. Exact
  // reservations keep vector growth from doubling what headers cost.
  size_t init = 0, directives = 0;
  while (end - offset >= sizeof(wire::TlvHeader)) {
    const auto tlv = CopyAt<wire::TlvHeader>(offset);
    const uint64_t padded = (uint64_t{tlv.length} + 7) & ~uint64_t{7};
    if (padded > end - offset - sizeof(wire::TlvHeader)) break;
    const uint32_t type = tlv.type & ~wire::kOptionalBit;
    if (type >= wire::kInitTypeFirst && type <= wire::kInitTypeLast) ++init;
    if (type >= wire::kDirectiveTypeFirst && type <= wire::kDirectiveTypeLast) ++directives;
    offset = static_cast<uint32_t>(offset + sizeof(wire::TlvHeader) + padded);
  }
  file_.initialization.reserve(init);
  file_.directives.reserve(directives);
}

void Reader::Warn(std::string message) {
  if (file_.warnings.size() < kMaxWarnings) {
    file_.warnings.push_back(std::move(message));
  } else if (file_.warnings.size() == kMaxWarnings) {
    file_.warnings.push_back("(more warnings not shown)");
  }
}

base::Result<void> Reader::CheckMask(uint32_t mask) {
  if (mask == 0) return base::Error("compatibility mask is 0");
  // Bits without a platform make the header apply to nothing there; the
  // igvm crate accepts them (its own igvm_c test file has one), so we warn.
  if ((mask & ~platform_masks_) != 0 && warned_masks_.size() <= kMaxWarnings &&
      warned_masks_.insert(mask).second)
    Warn(base::Error::Format("compatibility mask %#x names undeclared platforms (declared: %#x)",
                             mask, platform_masks_).message());
  return base::Ok();
}

base::Result<void> Reader::CheckSingleMask(uint32_t mask) const {
  if (!IsPowerOfTwo(mask) || (mask & platform_masks_) == 0)
    return base::Error::Format("compatibility mask %#x must be exactly one declared platform's",
                               mask);
  return base::Ok();
}

base::Result<void> Reader::RequirePlatform(uint32_t mask, wire::PlatformType type) const {
  for (uint32_t bit = 1; bit != 0; bit <<= 1) {
    if ((mask & bit) == 0) continue;
    auto platform = platform_by_bit_.find(bit);
    if (platform == platform_by_bit_.end() || platform->second != static_cast<uint8_t>(type))
      return base::Error::Format("mask %#x names a platform that is not %s", mask,
                                 PlatformName(static_cast<uint8_t>(type)));
  }
  return base::Ok();
}

base::Result<void> Reader::ClaimPages(uint32_t mask, uint64_t gpa, uint64_t pages) {
  const uint64_t first = gpa / wire::kPageSize;
  if (!base::CheckedAdd<uint64_t>(first, pages) || first + pages > (uint64_t{1} << 52))
    return base::Error::Format("range at gpa %#llx runs past the 64-bit address space",
                               static_cast<unsigned long long>(gpa));
  // Undeclared bits apply to no platform, so they claim nothing (and
  // cost nothing).
  for (uint32_t bit = 1; bit != 0; bit <<= 1) {
    if ((mask & platform_masks_ & bit) == 0) continue;
    if (!pages_by_bit_[bit].InsertIfFree(first, pages))
      return base::Error::Format("gpa %#llx (%llu pages) overlaps earlier data for platform %#x",
                                 static_cast<unsigned long long>(gpa),
                                 static_cast<unsigned long long>(pages), bit);
  }
  return base::Ok();
}

base::Result<void> Reader::AddUnbackedPages(uint64_t pages) {
  unbacked_pages_ += pages;
  if (unbacked_pages_ > kMaxUnbackedPages)
    return base::Error::Format("parameter inserts and error ranges exceed %llu pages in total",
                               static_cast<unsigned long long>(kMaxUnbackedPages));
  return base::Ok();
}

base::Result<void> Reader::ReadFixedHeader() {
  if (bytes_.size() < sizeof(wire::FixedHeaderV1))
    return base::Error::Format("file is %zu bytes, shorter than the IGVM fixed header",
                               bytes_.size());
  if (bytes_.size() > 0xffffffffu) return base::Error("file is larger than 4 GiB");
  const auto header = CopyAt<wire::FixedHeaderV1>(0);
  if (header.magic != wire::kMagic)
    return base::Error::Format("bad magic %#010x (expected %#010x, \"IGVM\")", header.magic,
                               wire::kMagic);
  size_t fixed_size = sizeof(wire::FixedHeaderV1);
  if (header.format_version == 2) {
    fixed_size = sizeof(wire::FixedHeaderV2);
    if (bytes_.size() < fixed_size) return base::Error("file too short for a V2 fixed header");
    const auto v2 = CopyAt<wire::FixedHeaderV2>(0);
    if (v2.architecture > 1)
      return base::Error::Format("unknown architecture %u", v2.architecture);
    if (v2.page_size != wire::kPageSize)
      return base::Error::Format("page size %u is not supported (only 4096)", v2.page_size);
    file_.architecture = static_cast<wire::Architecture>(v2.architecture);
  } else if (header.format_version != 1) {
    return base::Error::Format("unsupported format version %u", header.format_version);
  }
  file_.format_version = header.format_version;
  if (header.total_file_size != bytes_.size())
    return base::Error::Format("total_file_size %u does not match the file length %zu",
                               header.total_file_size, bytes_.size());
  if (header.variable_header_offset < fixed_size || header.variable_header_offset % 8 != 0)
    return base::Error::Format("variable_header_offset %#x must be 8-aligned and at least %#zx",
                               header.variable_header_offset, fixed_size);
  if (header.variable_header_size % 8 != 0)
    return base::Error::Format("variable_header_size %#x is not a multiple of 8",
                               header.variable_header_size);
  if (!base::RangeFits<uint64_t>(header.variable_header_offset, header.variable_header_size,
                                 bytes_.size()))
    return base::Error::Format("variable headers %#x+%#x run past the end of the file",
                               header.variable_header_offset, header.variable_header_size);
  data_start_ = header.variable_header_offset + header.variable_header_size;

  // §1.1: CRC-32 over the fixed header with the checksum zeroed, then
  // exactly the variable-header section.
  std::vector<std::byte> fixed(bytes_.begin(), bytes_.begin() + static_cast<long>(fixed_size));
  std::memset(fixed.data() + offsetof(wire::FixedHeaderV1, checksum), 0, 4);
  uint32_t crc = Crc32Update(0, fixed);
  crc = Crc32Update(crc, bytes_.subspan(header.variable_header_offset,
                                        header.variable_header_size));
  if (crc != header.checksum)
    return base::Error::Format("checksum %#010x does not match the computed CRC-32 %#010x",
                               header.checksum, crc);
  return base::Ok();
}

base::Result<IgvmFile> Reader::Read() {
  TRY(ReadFixedHeader());
  const auto fixed = CopyAt<wire::FixedHeaderV1>(0);
  uint32_t offset = fixed.variable_header_offset;
  const uint32_t end = data_start_;
  ReserveModel(offset, end);
  int section = 0;  // 0 platform, 1 initialization, 2 directives
  while (offset < end) {
    if (end - offset < sizeof(wire::TlvHeader))
      return base::Error::Format("offset %#x: truncated header", offset);
    const auto tlv = CopyAt<wire::TlvHeader>(offset);
    const uint32_t payload = offset + 8;
    const uint64_t padded = (uint64_t{tlv.length} + 7) & ~uint64_t{7};
    if (padded > end - payload)
      return base::Error::Format("offset %#x: %s length %u runs past the variable headers",
                                 offset, HeaderTypeName(tlv.type), tlv.length);
    for (uint64_t i = tlv.length; i < padded; ++i)
      if (bytes_[payload + i] != std::byte{0})
        return base::Error::Format("offset %#x: nonzero padding after %s", offset,
                                   HeaderTypeName(tlv.type));

    const uint32_t type = tlv.type & ~wire::kOptionalBit;
    int type_section = -1;
    if (type >= wire::kPlatformTypeFirst && type <= wire::kPlatformTypeLast) type_section = 0;
    if (type >= wire::kInitTypeFirst && type <= wire::kInitTypeLast) type_section = 1;
    if (type >= wire::kDirectiveTypeFirst && type <= wire::kDirectiveTypeLast) type_section = 2;
    if (type_section >= 0) {
      if (type_section < section)
        return base::Error::Format("offset %#x: %s header after a later section", offset,
                                   HeaderTypeName(type));
      section = type_section;
    }

    if (auto read = ReadHeader(offset, tlv.type, tlv.length); !read.ok())
      return base::Error::Format("offset %#x: %s", offset, read.error().message().c_str());
    offset = static_cast<uint32_t>(payload + padded);
  }
  if (file_.platforms.empty()) return base::Error("no SUPPORTED_PLATFORM header");
  return std::move(file_);
}

base::Result<void> Reader::ReadHeader(uint32_t offset, uint32_t raw_type, uint32_t length) {
  const uint32_t payload = offset + 8;
  const auto type = static_cast<HeaderType>(raw_type);
  auto expect = [&](size_t size) -> base::Result<void> {
    if (length != size)
      return base::Error::Format("%s payload is %u bytes, expected %zu", HeaderTypeName(raw_type),
                                 length, size);
    return base::Ok();
  };

  switch (type) {
    case HeaderType::kSupportedPlatform:
      TRY(expect(sizeof(wire::SupportedPlatform)));
      return ReadPlatform(CopyAt<wire::SupportedPlatform>(payload));

    case HeaderType::kGuestPolicy: {
      TRY(expect(sizeof(wire::GuestPolicy)));
      const auto policy = CopyAt<wire::GuestPolicy>(payload);
      TRY(CheckMask(policy.compatibility_mask));
      if (policy.reserved != 0) return base::Error("GUEST_POLICY reserved field is not 0");
      if (policy.compatibility_mask & policy_bits_)
        return base::Error("second GUEST_POLICY for a platform");
      policy_bits_ |= policy.compatibility_mask;
      file_.initialization.emplace_back(policy);
      return base::Ok();
    }

    case HeaderType::kRelocatableRegion: {
      TRY(expect(sizeof(wire::RelocatableRegion)));
      const auto region = CopyAt<wire::RelocatableRegion>(payload);
      TRY(CheckMask(region.compatibility_mask));
      const uint64_t align = region.relocation_alignment;
      if (align == 0 || align % wire::kPageSize != 0)
        return base::Error("relocation alignment must be a nonzero multiple of 4 KiB");
      if (region.relocation_region_gpa % align || region.minimum_relocation_gpa % align ||
          region.maximum_relocation_gpa % align)
        return base::Error("relocation addresses must be aligned to the relocation alignment");
      if (region.relocation_region_size == 0 || region.relocation_region_size % wire::kPageSize)
        return base::Error("relocation region size must be a nonzero multiple of 4 KiB");
      if (region.minimum_relocation_gpa > region.maximum_relocation_gpa)
        return base::Error("relocation minimum is above the maximum");
      if (region.flags & ~0x7u) return base::Error("unknown relocation flags");
      file_.initialization.emplace_back(region);
      return base::Ok();
    }

    case HeaderType::kPageTableRelocationRegion: {
      TRY(expect(sizeof(wire::PageTableRelocation)));
      const auto region = CopyAt<wire::PageTableRelocation>(payload);
      TRY(CheckMask(region.compatibility_mask));
      if (region.gpa % wire::kPageSize || region.size % wire::kPageSize ||
          region.used_size % wire::kPageSize || region.used_size > region.size)
        return base::Error("page-table relocation region must be 4 KiB aligned, used <= size");
      if (region.compatibility_mask & page_table_reloc_bits_)
        return base::Error("second page-table relocation region for a platform");
      page_table_reloc_bits_ |= region.compatibility_mask;
      file_.initialization.emplace_back(region);
      return base::Ok();
    }

    case HeaderType::kCorimDocument:
    case HeaderType::kCorimSignature: {
      TRY(expect(sizeof(wire::CorimData)));
      CorimHeader corim{type, CopyAt<wire::CorimData>(payload), {}};
      TRY(CheckMask(corim.header.compatibility_mask));
      if (corim.header.reserved != 0) return base::Error("CORIM reserved field is not 0");
      corim.data = TRY(FileData(corim.header.file_offset, corim.header.size_bytes));
      uint32_t& seen = type == HeaderType::kCorimDocument ? corim_document_bits_
                                                          : corim_signature_bits_;
      if (corim.header.compatibility_mask & seen)
        return base::Error("second CoRIM header of this kind for a platform");
      if (type == HeaderType::kCorimSignature &&
          (corim.header.compatibility_mask & ~corim_document_bits_))
        return base::Error("CoRIM signature without an earlier CoRIM document");
      seen |= corim.header.compatibility_mask;
      file_.initialization.emplace_back(std::move(corim));
      return base::Ok();
    }

    case HeaderType::kCcaPolicy: {
      TRY(expect(sizeof(wire::CcaPolicy)));
      const auto policy = CopyAt<wire::CcaPolicy>(payload);
      TRY(CheckMask(policy.compatibility_mask));
      TRY(RequirePlatform(policy.compatibility_mask, wire::PlatformType::kCca));
      if (policy.attributes_required_zeroes & policy.attributes_required_ones)
        return base::Error("CCA policy requires the same attribute to be 0 and 1");
      if (policy.hash_algorithm > 2) return base::Error("unknown CCA hash algorithm");
      if (policy.lfa_policy > 1) return base::Error("unknown CCA LFA policy");
      if (policy.compatibility_mask & cca_policy_bits_)
        return base::Error("second CCA_POLICY for a platform");
      cca_policy_bits_ |= policy.compatibility_mask;
      file_.initialization.emplace_back(policy);
      return base::Ok();
    }

    case HeaderType::kParameterArea:
      TRY(expect(sizeof(wire::ParameterArea)));
      return ReadParameterArea(CopyAt<wire::ParameterArea>(payload));

    case HeaderType::kPageData:
      TRY(expect(sizeof(wire::PageData)));
      return ReadPageData(CopyAt<wire::PageData>(payload));

    case HeaderType::kParameterInsert:
      TRY(expect(sizeof(wire::ParameterInsert)));
      return ReadParameterInsert(CopyAt<wire::ParameterInsert>(payload));

    case HeaderType::kVpContext:
      TRY(expect(sizeof(wire::VpContext)));
      return ReadVpContext(CopyAt<wire::VpContext>(payload));

    case HeaderType::kRequiredMemory: {
      TRY(expect(sizeof(wire::RequiredMemory)));
      const auto memory = CopyAt<wire::RequiredMemory>(payload);
      TRY(CheckMask(memory.compatibility_mask));
      if (memory.gpa % wire::kPageSize || memory.number_of_bytes % wire::kPageSize)
        return base::Error("REQUIRED_MEMORY must be 4 KiB aligned");
      if (memory.flags & ~1u) return base::Error("unknown REQUIRED_MEMORY flags");
      if (!base::CheckedAdd<uint64_t>(memory.gpa, memory.number_of_bytes))
        return base::Error("REQUIRED_MEMORY wraps the address space");
      file_.directives.emplace_back(memory);
      return base::Ok();
    }

    case HeaderType::kVpCountParameter:
    case HeaderType::kSrat:
    case HeaderType::kMadt:
    case HeaderType::kMmioRanges:
    case HeaderType::kMemoryMap:
    case HeaderType::kCommandLine:
    case HeaderType::kSlit:
    case HeaderType::kPptt:
    case HeaderType::kDeviceTree:
    case HeaderType::kEnvironmentInfo:
      TRY(expect(sizeof(wire::Parameter)));
      return ReadParameterUsage(type, CopyAt<wire::Parameter>(payload));

    case HeaderType::kSnpIdBlock: {
      TRY(expect(sizeof(wire::SnpIdBlock)));
      const auto block = CopyAt<wire::SnpIdBlock>(payload);
      TRY(CheckMask(block.compatibility_mask));
      TRY(RequirePlatform(block.compatibility_mask, wire::PlatformType::kSevSnp));
      if (block.compatibility_mask & id_block_bits_)
        return base::Error("second SNP_ID_BLOCK for a platform");
      if (block.author_key_enabled > 1) return base::Error("author_key_enabled must be 0 or 1");
      id_block_bits_ |= block.compatibility_mask;
      file_.directives.emplace_back(block);
      return base::Ok();
    }

    case HeaderType::kErrorRange: {
      TRY(expect(sizeof(wire::ErrorRange)));
      const auto range = CopyAt<wire::ErrorRange>(payload);
      TRY(CheckMask(range.compatibility_mask));
      if (range.gpa % wire::kPageSize || range.size_bytes == 0)
        return base::Error("ERROR_RANGE must be nonempty and start 4 KiB aligned");
      const uint64_t pages = (uint64_t{range.size_bytes} + wire::kPageSize - 1) / wire::kPageSize;
      TRY(AddUnbackedPages(pages));
      TRY(ClaimPages(range.compatibility_mask, range.gpa, pages));
      file_.directives.emplace_back(range);
      return base::Ok();
    }

    case HeaderType::kVbsMeasurement: {
      TRY(expect(sizeof(wire::VbsMeasurement)));
      const auto measurement = CopyAt<wire::VbsMeasurement>(payload);
      TRY(CheckMask(measurement.compatibility_mask));
      TRY(RequirePlatform(measurement.compatibility_mask, wire::PlatformType::kVsmIsolation));
      if (measurement.compatibility_mask & vbs_bits_)
        return base::Error("second VBS_MEASUREMENT for a platform");
      vbs_bits_ |= measurement.compatibility_mask;
      file_.directives.emplace_back(measurement);
      return base::Ok();
    }
  }

  // §1.2: an unknown type may be skipped only if it carries the optional bit.
  if (raw_type & wire::kOptionalBit) {
    file_.skipped.push_back({raw_type, offset});
    return base::Ok();
  }
  return base::Error::Format("unknown header type %#x", raw_type);
}

base::Result<void> Reader::ReadPlatform(wire::SupportedPlatform platform) {
  if (!IsPowerOfTwo(platform.compatibility_mask))
    return base::Error::Format("platform mask %#x must have exactly one bit set",
                               platform.compatibility_mask);
  if (platform.compatibility_mask & platform_masks_)
    return base::Error::Format("platform mask %#x is used twice", platform.compatibility_mask);
  if (platform.platform_type > static_cast<uint8_t>(wire::PlatformType::kCca))
    return base::Error::Format("unknown platform type %u", platform.platform_type);
  for (const auto& earlier : file_.platforms)
    if (earlier.platform_type == platform.platform_type)
      return base::Error::Format("platform %s is declared twice",
                                 PlatformName(platform.platform_type));
  if (platform.platform_version != 1)
    return base::Error::Format("platform version %u (expected 1)", platform.platform_version);
  if (platform.highest_vtl != 0 && platform.highest_vtl != 2)
    return base::Error::Format("highest VTL %u (expected 0 or 2)", platform.highest_vtl);
  const auto type = static_cast<wire::PlatformType>(platform.platform_type);
  if ((type == wire::PlatformType::kNative || type == wire::PlatformType::kVsmIsolation) &&
      platform.shared_gpa_boundary != 0)
    return base::Error("native and VSM platforms must have shared_gpa_boundary 0");
  const bool x64_only = type == wire::PlatformType::kNative || type == wire::PlatformType::kSevSnp ||
                        type == wire::PlatformType::kTdx || type == wire::PlatformType::kSev ||
                        type == wire::PlatformType::kSevEs;
  if (x64_only && file_.architecture != wire::Architecture::kX64)
    return base::Error::Format("platform %s needs an x64 file", PlatformName(platform.platform_type));
  if (type == wire::PlatformType::kCca &&
      (file_.format_version < 2 || file_.architecture != wire::Architecture::kAArch64))
    return base::Error("CCA needs a V2 AArch64 file");
  platform_masks_ |= platform.compatibility_mask;
  platform_by_bit_[platform.compatibility_mask] = platform.platform_type;
  file_.platforms.push_back(platform);
  return base::Ok();
}

base::Result<void> Reader::ReadPageData(wire::PageData header) {
  TRY(CheckMask(header.compatibility_mask));
  if (header.flags & ~0x7u) return base::Error::Format("unknown PAGE_DATA flags %#x", header.flags);
  if (header.data_type > static_cast<uint16_t>(wire::PageDataType::kCpuidXf))
    return base::Error::Format("unknown PAGE_DATA data type %u", header.data_type);
  if (header.reserved != 0) return base::Error("PAGE_DATA reserved field is not 0");
  const bool large = header.flags & wire::kPageData2Mb;
  const uint64_t alignment = large ? (uint64_t{2} << 20) : wire::kPageSize;
  if (header.gpa % alignment)
    return base::Error::Format("PAGE_DATA gpa %#llx is not %s aligned",
                               static_cast<unsigned long long>(header.gpa), large ? "2 MiB" : "4 KiB");
  TRY(ClaimPages(header.compatibility_mask, header.gpa, large ? 512 : 1));
  PageDataDirective directive{header, {}};
  if (header.file_offset != 0) directive.data = TRY(FileData(header.file_offset, wire::kPageSize));
  directive.header.file_offset = 0;
  file_.directives.emplace_back(std::move(directive));
  return base::Ok();
}

base::Result<void> Reader::ReadParameterArea(wire::ParameterArea header) {
  if (header.number_of_bytes == 0 || header.number_of_bytes % wire::kPageSize)
    return base::Error("parameter area size must be a nonzero multiple of 4 KiB");
  if (header.number_of_bytes > kMaxParameterAreaBytes)
    return base::Error("parameter area larger than 64 MiB");
  if (areas_.contains(header.parameter_area_index))
    return base::Error::Format("parameter area index %u declared twice",
                               header.parameter_area_index);
  areas_[header.parameter_area_index] = {header.number_of_bytes, false};
  ParameterAreaDirective directive{header, {}};
  if (header.file_offset != 0)
    directive.initial_data = TRY(FileData(header.file_offset, header.number_of_bytes));
  directive.header.file_offset = 0;
  file_.directives.emplace_back(std::move(directive));
  return base::Ok();
}

base::Result<void> Reader::ReadParameterInsert(wire::ParameterInsert header) {
  TRY(CheckMask(header.compatibility_mask));
  if (header.gpa % wire::kPageSize) return base::Error("PARAMETER_INSERT gpa is not 4 KiB aligned");
  auto area = areas_.find(header.parameter_area_index);
  if (area == areas_.end())
    return base::Error::Format("parameter area %u is not declared", header.parameter_area_index);
  if (area->second.inserted)
    return base::Error::Format("parameter area %u is inserted twice", header.parameter_area_index);
  area->second.inserted = true;
  const uint64_t pages = area->second.size_bytes / wire::kPageSize;
  TRY(AddUnbackedPages(pages));
  TRY(ClaimPages(header.compatibility_mask, header.gpa, pages));
  file_.directives.emplace_back(header);
  return base::Ok();
}

base::Result<void> Reader::ReadParameterUsage(HeaderType type, wire::Parameter header) {
  auto area = areas_.find(header.parameter_area_index);
  if (area == areas_.end())
    return base::Error::Format("parameter area %u is not declared", header.parameter_area_index);
  if (area->second.inserted)
    return base::Error::Format("parameter area %u is used after it was inserted",
                               header.parameter_area_index);
  // The loader writes at least this much at byte_offset (spec digest §1.3).
  uint64_t minimum = 1;
  if (type == HeaderType::kVpCountParameter || type == HeaderType::kEnvironmentInfo) minimum = 4;
  if (type == HeaderType::kMmioRanges) minimum = 32;
  if (type == HeaderType::kMemoryMap) minimum = sizeof(wire::MemoryMapEntry);
  if (!base::RangeFits<uint64_t>(header.byte_offset, minimum, area->second.size_bytes))
    return base::Error::Format("byte offset %#x does not leave room in parameter area %u",
                               header.byte_offset, header.parameter_area_index);
  file_.directives.emplace_back(ParameterUsage{type, header});
  return base::Ok();
}

base::Result<void> Reader::ReadVpContext(wire::VpContext header) {
  TRY(CheckSingleMask(header.compatibility_mask));
  if (header.reserved != 0) return base::Error("VP_CONTEXT reserved field is not 0");
  if (!vp_contexts_.emplace(header.compatibility_mask, header.vp_index).second)
    return base::Error::Format("second VP_CONTEXT for VP %u", header.vp_index);
  if (header.file_offset == 0) return base::Error("VP_CONTEXT has no data");
  VpContextDirective directive{header, {}};
  directive.header.file_offset = 0;
  const auto platform = static_cast<wire::PlatformType>(platform_by_bit_[header.compatibility_mask]);
  switch (platform) {
    case wire::PlatformType::kSevSnp:
    case wire::PlatformType::kSevEs:
      // The VMSA page; gpa is where it is placed (and measured).
      if (header.gpa % wire::kPageSize) return base::Error("VMSA gpa is not 4 KiB aligned");
      TRY(ClaimPages(header.compatibility_mask, header.gpa, 1));
      directive.data = TRY(FileData(header.file_offset, wire::kPageSize));
      break;
    case wire::PlatformType::kVsmIsolation: {
      if (header.gpa != 0) return base::Error("VBS VP_CONTEXT gpa must be 0");
      const auto count_bytes = TRY(FileData(header.file_offset, 4));
      uint32_t count = 0;
      std::memcpy(&count, count_bytes.data(), 4);
      if (count == 0 || count > kMaxVbsRegisters)
        return base::Error::Format("VBS VP context register count %u (1..%u)", count,
                                   kMaxVbsRegisters);
      directive.data = TRY(FileData(header.file_offset,
                                    4 + uint64_t{count} * sizeof(wire::VbsVpContextRegister)));
      wire::VbsVpContextRegister first;
      std::memcpy(&first, directive.data.data() + 4, sizeof first);
      for (uint32_t i = 0; i < count; ++i) {
        wire::VbsVpContextRegister reg;
        std::memcpy(&reg, directive.data.data() + 4 + i * sizeof reg, sizeof reg);
        if (reg.vtl != first.vtl) return base::Error("VBS VP context mixes VTLs");
        for (uint8_t b : reg.mbz)
          if (b != 0) return base::Error("VBS VP context register has nonzero reserved bytes");
      }
      break;
    }
    case wire::PlatformType::kNative:
    case wire::PlatformType::kSev:
    case wire::PlatformType::kCca: {
      if (header.gpa != 0) return base::Error("VP_CONTEXT gpa must be 0 for this platform");
      directive.data = TRY(FileData(header.file_offset, wire::kPageSize));
      const size_t used = platform == wire::PlatformType::kCca ? 80 : 232;
      for (size_t i = used; i < directive.data.size(); ++i)
        if (directive.data[i] != std::byte{0})
          return base::Error("VP context page has nonzero bytes past the context");
      break;
    }
    case wire::PlatformType::kTdx:
      return base::Error("TDX has an architectural reset state; VP_CONTEXT is not allowed");
  }
  file_.directives.emplace_back(std::move(directive));
  return base::Ok();
}

}  // namespace

base::Result<IgvmFile> ReadIgvm(std::span<const std::byte> bytes) {
  return ReadIgvm(std::make_shared<const std::vector<std::byte>>(bytes.begin(), bytes.end()));
}

base::Result<IgvmFile> ReadIgvm(std::shared_ptr<const std::vector<std::byte>> bytes) {
  if (bytes == nullptr) return base::Error("no file bytes");
  return Reader(std::move(bytes)).Read();
}

base::Result<IgvmFile> ReadIgvmFile(const std::string& path) {
  auto bytes = std::make_shared<const std::vector<std::byte>>(TRY(ReadFileBytes(path)));
  return ReadIgvm(std::move(bytes));
}

base::Result<std::vector<std::byte>> ReadFileBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return base::Error::FromErrno("cannot open " + path, errno);
  in.seekg(0, std::ios::end);
  const std::streamoff size = in.tellg();
  if (size < 0) return base::Error("cannot size " + path);
  if (static_cast<uint64_t>(size) > 0xffffffffu)
    return base::Error(path + " is larger than 4 GiB, the IGVM limit");
  in.seekg(0);
  std::vector<std::byte> bytes(static_cast<size_t>(size));
  in.read(reinterpret_cast<char*>(bytes.data()), size);
  if (!in) return base::Error("short read from " + path);
  return bytes;
}

}  // namespace igvm
