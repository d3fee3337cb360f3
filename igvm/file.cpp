#include "file.h"

#include <algorithm>

namespace igvm {

SharedBytes::SharedBytes(std::vector<std::byte> bytes)
    : owner_(std::make_shared<const std::vector<std::byte>>(std::move(bytes))), view_(*owner_) {}

SharedBytes::SharedBytes(std::shared_ptr<const std::vector<std::byte>> buffer,
                         std::span<const std::byte> view)
    : owner_(std::move(buffer)), view_(view) {}

bool operator==(const SharedBytes& a, const SharedBytes& b) {
  return std::ranges::equal(a.view_, b.view_);
}

std::optional<wire::SupportedPlatform> IgvmFile::Platform(wire::PlatformType type) const {
  for (const auto& platform : platforms)
    if (platform.platform_type == static_cast<uint8_t>(type)) return platform;
  return std::nullopt;
}

const char* PlatformName(uint8_t platform_type) {
  switch (platform_type) {
    case 0: return "native";
    case 1: return "vsm";
    case 2: return "sev-snp";
    case 3: return "tdx";
    case 4: return "sev";
    case 5: return "sev-es";
    case 6: return "cca";
    default: return "unknown";
  }
}

const char* HeaderTypeName(uint32_t type) {
  switch (static_cast<wire::HeaderType>(type)) {
    case wire::HeaderType::kSupportedPlatform: return "SUPPORTED_PLATFORM";
    case wire::HeaderType::kGuestPolicy: return "GUEST_POLICY";
    case wire::HeaderType::kRelocatableRegion: return "RELOCATABLE_REGION";
    case wire::HeaderType::kPageTableRelocationRegion: return "PAGE_TABLE_RELOCATION_REGION";
    case wire::HeaderType::kCorimDocument: return "CORIM_DOCUMENT";
    case wire::HeaderType::kCorimSignature: return "CORIM_SIGNATURE";
    case wire::HeaderType::kCcaPolicy: return "CCA_POLICY";
    case wire::HeaderType::kParameterArea: return "PARAMETER_AREA";
    case wire::HeaderType::kPageData: return "PAGE_DATA";
    case wire::HeaderType::kParameterInsert: return "PARAMETER_INSERT";
    case wire::HeaderType::kVpContext: return "VP_CONTEXT";
    case wire::HeaderType::kRequiredMemory: return "REQUIRED_MEMORY";
    case wire::HeaderType::kVpCountParameter: return "VP_COUNT_PARAMETER";
    case wire::HeaderType::kSrat: return "SRAT";
    case wire::HeaderType::kMadt: return "MADT";
    case wire::HeaderType::kMmioRanges: return "MMIO_RANGES";
    case wire::HeaderType::kSnpIdBlock: return "SNP_ID_BLOCK";
    case wire::HeaderType::kMemoryMap: return "MEMORY_MAP";
    case wire::HeaderType::kErrorRange: return "ERROR_RANGE";
    case wire::HeaderType::kCommandLine: return "COMMAND_LINE";
    case wire::HeaderType::kSlit: return "SLIT";
    case wire::HeaderType::kPptt: return "PPTT";
    case wire::HeaderType::kVbsMeasurement: return "VBS_MEASUREMENT";
    case wire::HeaderType::kDeviceTree: return "DEVICE_TREE";
    case wire::HeaderType::kEnvironmentInfo: return "ENVIRONMENT_INFO_PARAMETER";
  }
  return "UNKNOWN";
}

}  // namespace igvm
