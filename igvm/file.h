// IgvmFile: an IGVM image as typed headers plus the data they point at.
//
// The model the reader produces, the writer serializes, the measurers walk
// and igvmtool prints. File offsets are not part of it: the reader resolves
// them into byte vectors and the writer assigns new ones (deduplicating
// identical pages), so a model can be edited without bookkeeping.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string>
#include <variant>
#include <vector>

#include "wire.h"

namespace igvm {

struct PageDataDirective {
  wire::PageData header{};       // file_offset is ignored; see `data`
  std::vector<std::byte> data;   // empty (a zero page) or exactly 4096 bytes
};

struct ParameterAreaDirective {
  wire::ParameterArea header{};
  std::vector<std::byte> initial_data;  // empty (zeros) or number_of_bytes long
};

struct VpContextDirective {
  wire::VpContext header{};
  std::vector<std::byte> data;  // platform-specific: SNP VMSA page, VBS registers, ...
};

// Every IGVM_VHS_PARAMETER-shaped header: which one is `type`.
struct ParameterUsage {
  wire::HeaderType type{};
  wire::Parameter header{};
};

struct CorimHeader {
  wire::HeaderType type{};  // kCorimDocument or kCorimSignature
  wire::CorimData header{};
  std::vector<std::byte> data;
};

using InitHeader = std::variant<wire::GuestPolicy, wire::RelocatableRegion,
                                wire::PageTableRelocation, CorimHeader, wire::CcaPolicy>;

using Directive =
    std::variant<PageDataDirective, ParameterAreaDirective, wire::ParameterInsert,
                 VpContextDirective, wire::RequiredMemory, ParameterUsage, wire::SnpIdBlock,
                 wire::ErrorRange, wire::VbsMeasurement>;

// An optional-bit header of a type we do not know, kept for reporting.
struct SkippedHeader {
  uint32_t type = 0;
  uint32_t file_offset = 0;
};

struct IgvmFile {
  uint32_t format_version = 1;
  wire::Architecture architecture = wire::Architecture::kX64;
  std::vector<wire::SupportedPlatform> platforms;
  std::vector<InitHeader> initialization;
  std::vector<Directive> directives;
  std::vector<SkippedHeader> skipped;
  std::vector<std::string> warnings;  // accepted oddities, e.g. undeclared mask bits

  // The platform header of a given type, if the file supports it.
  std::optional<wire::SupportedPlatform> Platform(wire::PlatformType type) const;
};

const char* PlatformName(uint8_t platform_type);
const char* HeaderTypeName(uint32_t type);

}  // namespace igvm
