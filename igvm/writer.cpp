#include "writer.h"

#include <algorithm>
#include <cstring>
#include <map>

#include "crc32.h"

namespace igvm {
namespace {

using wire::HeaderType;

template <typename T>
std::span<const std::byte> BytesOf(const T& value) {
  return std::as_bytes(std::span(&value, 1));
}

bool AllZero(std::span<const std::byte> data) {
  return std::all_of(data.begin(), data.end(), [](std::byte b) { return b == std::byte{0}; });
}

class Writer {
 public:
  base::Result<std::vector<std::byte>> Write(const IgvmFile& file);

 private:
  // Places a blob in the data section (deduplicated); returns its offset.
  base::Result<uint32_t> PlaceData(std::span<const std::byte> bytes);
  void AppendHeader(HeaderType type, std::span<const std::byte> payload);
  base::Result<void> AppendDirective(const Directive& directive);
  base::Result<void> AppendInit(const InitHeader& init);

  std::vector<std::byte> headers_;
  std::vector<std::byte> data_;
  std::map<std::vector<std::byte>, uint32_t> placed_;
  uint64_t data_start_ = 0;  // known after a sizing pass
};

base::Result<uint32_t> Writer::PlaceData(std::span<const std::byte> bytes) {
  std::vector<std::byte> data(bytes.begin(), bytes.end());
  if (auto it = placed_.find(data); it != placed_.end()) return it->second;
  const uint64_t offset = data_start_ + data_.size();
  if (offset + data.size() > 0xffffffffu) return base::Error("image larger than 4 GiB");
  data_.insert(data_.end(), data.begin(), data.end());
  placed_.emplace(data, static_cast<uint32_t>(offset));
  return static_cast<uint32_t>(offset);
}

void Writer::AppendHeader(HeaderType type, std::span<const std::byte> payload) {
  const wire::TlvHeader tlv{static_cast<uint32_t>(type), static_cast<uint32_t>(payload.size())};
  auto tlv_bytes = BytesOf(tlv);
  headers_.insert(headers_.end(), tlv_bytes.begin(), tlv_bytes.end());
  headers_.insert(headers_.end(), payload.begin(), payload.end());
  while (headers_.size() % 8 != 0) headers_.push_back(std::byte{0});
}

base::Result<void> Writer::AppendInit(const InitHeader& init) {
  if (const auto* policy = std::get_if<wire::GuestPolicy>(&init)) {
    AppendHeader(HeaderType::kGuestPolicy, BytesOf(*policy));
  } else if (const auto* region = std::get_if<wire::RelocatableRegion>(&init)) {
    AppendHeader(HeaderType::kRelocatableRegion, BytesOf(*region));
  } else if (const auto* table = std::get_if<wire::PageTableRelocation>(&init)) {
    AppendHeader(HeaderType::kPageTableRelocationRegion, BytesOf(*table));
  } else if (const auto* corim = std::get_if<CorimHeader>(&init)) {
    wire::CorimData header = corim->header;
    header.size_bytes = static_cast<uint32_t>(corim->data.size());
    header.file_offset = TRY(PlaceData(corim->data));
    AppendHeader(corim->type, BytesOf(header));
  } else if (const auto* cca = std::get_if<wire::CcaPolicy>(&init)) {
    AppendHeader(HeaderType::kCcaPolicy, BytesOf(*cca));
  }
  return base::Ok();
}

base::Result<void> Writer::AppendDirective(const Directive& directive) {
  if (const auto* page = std::get_if<PageDataDirective>(&directive)) {
    wire::PageData header = page->header;
    header.file_offset = 0;
    if (!page->data.empty() && !AllZero(page->data)) {
      if (page->data.size() > wire::kPageSize)
        return base::Error("page data larger than 4096 bytes");
      std::vector<std::byte> full = page->data.ToVector();
      full.resize(wire::kPageSize);  // always a whole page, zero-padded
      header.file_offset = TRY(PlaceData(full));
    }
    AppendHeader(HeaderType::kPageData, BytesOf(header));
  } else if (const auto* area = std::get_if<ParameterAreaDirective>(&directive)) {
    wire::ParameterArea header = area->header;
    header.file_offset = 0;
    if (!area->initial_data.empty() && !AllZero(area->initial_data)) {
      if (area->initial_data.size() != header.number_of_bytes)
        return base::Error("parameter area initial data must fill the area");
      header.file_offset = TRY(PlaceData(area->initial_data));
    }
    AppendHeader(HeaderType::kParameterArea, BytesOf(header));
  } else if (const auto* insert = std::get_if<wire::ParameterInsert>(&directive)) {
    AppendHeader(HeaderType::kParameterInsert, BytesOf(*insert));
  } else if (const auto* context = std::get_if<VpContextDirective>(&directive)) {
    wire::VpContext header = context->header;
    header.file_offset = TRY(PlaceData(context->data));
    AppendHeader(HeaderType::kVpContext, BytesOf(header));
  } else if (const auto* memory = std::get_if<wire::RequiredMemory>(&directive)) {
    AppendHeader(HeaderType::kRequiredMemory, BytesOf(*memory));
  } else if (const auto* usage = std::get_if<ParameterUsage>(&directive)) {
    AppendHeader(usage->type, BytesOf(usage->header));
  } else if (const auto* id_block = std::get_if<SnpIdBlockDirective>(&directive)) {
    AppendHeader(HeaderType::kSnpIdBlock, BytesOf(**id_block));
  } else if (const auto* error_range = std::get_if<wire::ErrorRange>(&directive)) {
    AppendHeader(HeaderType::kErrorRange, BytesOf(*error_range));
  } else if (const auto* vbs = std::get_if<VbsMeasurementDirective>(&directive)) {
    AppendHeader(HeaderType::kVbsMeasurement, BytesOf(**vbs));
  }
  return base::Ok();
}

base::Result<std::vector<std::byte>> Writer::Write(const IgvmFile& file) {
  if (file.format_version != 1 && file.format_version != 2)
    return base::Error("format version must be 1 or 2");
  if (file.format_version == 1 && file.architecture != wire::Architecture::kX64)
    return base::Error("AArch64 images need format version 2");
  const size_t fixed_size =
      file.format_version == 2 ? sizeof(wire::FixedHeaderV2) : sizeof(wire::FixedHeaderV1);

  // Two passes: the first sizes the variable headers (offsets do not change
  // header sizes), the second writes them with real data offsets.
  for (int pass = 0; pass < 2; ++pass) {
    headers_.clear();
    data_.clear();
    placed_.clear();
    for (const auto& platform : file.platforms)
      AppendHeader(HeaderType::kSupportedPlatform, BytesOf(platform));
    for (const auto& init : file.initialization) TRY(AppendInit(init));
    for (const auto& directive : file.directives) TRY(AppendDirective(directive));
    data_start_ = fixed_size + headers_.size();
  }

  const uint64_t total = fixed_size + headers_.size() + data_.size();
  if (total > 0xffffffffu) return base::Error("image larger than 4 GiB");
  wire::FixedHeaderV2 fixed{};
  fixed.v1.magic = wire::kMagic;
  fixed.v1.format_version = file.format_version;
  fixed.v1.variable_header_offset = static_cast<uint32_t>(fixed_size);
  fixed.v1.variable_header_size = static_cast<uint32_t>(headers_.size());
  fixed.v1.total_file_size = static_cast<uint32_t>(total);
  fixed.architecture = static_cast<uint32_t>(file.architecture);
  fixed.page_size = wire::kPageSize;

  std::vector<std::byte> out(fixed_size);
  std::memcpy(out.data(), &fixed, fixed_size);
  uint32_t crc = Crc32Update(0, out);
  crc = Crc32Update(crc, headers_);
  std::memcpy(out.data() + offsetof(wire::FixedHeaderV1, checksum), &crc, sizeof crc);
  out.insert(out.end(), headers_.begin(), headers_.end());
  out.insert(out.end(), data_.begin(), data_.end());
  return out;
}

}  // namespace

base::Result<std::vector<std::byte>> WriteIgvm(const IgvmFile& file) { return Writer().Write(file); }

}  // namespace igvm
