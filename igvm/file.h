// IgvmFile: an IGVM image as typed headers plus the data they point at.
//
// The model the reader produces, the writer serializes, the measurers walk
// and igvmtool prints. File offsets are not part of it: the reader resolves
// them into byte views and the writer assigns new ones (deduplicating
// identical pages), so a model can be edited without bookkeeping.
//
// What a model costs in memory is bounded by the file it came from
// (reader.h): header data is a SharedBytes view into the one buffer the
// file was read into, so any number of headers pointing at the same file
// bytes share them; the two large headers (SNP ID block, VBS measurement)
// are boxed, so a Directive is 64 bytes whatever its kind.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <variant>
#include <vector>

#include "wire.h"

namespace igvm {

// Immutable bytes with shared ownership: a view into a buffer that stays
// alive as long as any view does. The reader's views share the file's
// buffer; a view made from a vector owns that vector. Copies share.
class SharedBytes {
 public:
  SharedBytes() = default;
  // Takes the bytes (implicit, so a model can be written with vectors).
  SharedBytes(std::vector<std::byte> bytes);  // NOLINT(google-explicit-constructor)
  // A view of `view`, which must lie inside *buffer.
  SharedBytes(std::shared_ptr<const std::vector<std::byte>> buffer,
              std::span<const std::byte> view);

  std::span<const std::byte> span() const { return view_; }
  operator std::span<const std::byte>() const { return view_; }  // NOLINT
  const std::byte* data() const { return view_.data(); }
  size_t size() const { return view_.size(); }
  bool empty() const { return view_.empty(); }
  auto begin() const { return view_.begin(); }
  auto end() const { return view_.end(); }
  const std::byte& operator[](size_t index) const { return view_[index]; }
  std::vector<std::byte> ToVector() const { return {view_.begin(), view_.end()}; }

  // Equal contents (not identity).
  friend bool operator==(const SharedBytes& a, const SharedBytes& b);

 private:
  std::shared_ptr<const std::vector<std::byte>> owner_;
  std::span<const std::byte> view_;
};

// A large header kept behind a pointer, with value semantics (copies are
// deep), so the Directive variant stays small.
template <typename T>
class Boxed {
 public:
  Boxed(const T& value) : value_(std::make_unique<T>(value)) {}  // NOLINT: implicit
  Boxed(const Boxed& other) : value_(std::make_unique<T>(*other)) {}
  Boxed(Boxed&&) noexcept = default;
  Boxed& operator=(const Boxed& other) {
    value_ = std::make_unique<T>(*other);
    return *this;
  }
  Boxed& operator=(Boxed&&) noexcept = default;
  ~Boxed() = default;

  T& operator*() { return *value_; }
  const T& operator*() const { return *value_; }
  T* operator->() { return value_.get(); }
  const T* operator->() const { return value_.get(); }

 private:
  std::unique_ptr<T> value_;
};

using SnpIdBlockDirective = Boxed<wire::SnpIdBlock>;
using VbsMeasurementDirective = Boxed<wire::VbsMeasurement>;

struct PageDataDirective {
  wire::PageData header{};  // file_offset is ignored; see `data`
  SharedBytes data;         // empty (a zero page) or at most 4096 bytes (zero-padded)
};

struct ParameterAreaDirective {
  wire::ParameterArea header{};
  SharedBytes initial_data;  // empty (zeros) or number_of_bytes long
};

struct VpContextDirective {
  wire::VpContext header{};
  SharedBytes data;  // platform-specific: SNP VMSA page, VBS registers, ...
};

// Every IGVM_VHS_PARAMETER-shaped header: which one is `type`.
struct ParameterUsage {
  wire::HeaderType type{};
  wire::Parameter header{};
};

struct CorimHeader {
  wire::HeaderType type{};  // kCorimDocument or kCorimSignature
  wire::CorimData header{};  // file_offset and size_bytes are the writer's; see `data`
  SharedBytes data;
};

using InitHeader = std::variant<wire::GuestPolicy, wire::RelocatableRegion,
                                wire::PageTableRelocation, CorimHeader, wire::CcaPolicy>;

using Directive =
    std::variant<PageDataDirective, ParameterAreaDirective, wire::ParameterInsert,
                 VpContextDirective, wire::RequiredMemory, ParameterUsage, SnpIdBlockDirective,
                 wire::ErrorRange, VbsMeasurementDirective>;
static_assert(sizeof(Directive) <= 64, "what a 16-byte header costs in memory (reader.h)");

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
