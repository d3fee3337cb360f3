// Fuzz target: the strict IGVM reader, and everything downstream of a
// successful parse (writer round trip, measurements, directive digests,
// dump).
#include <cstddef>
#include <cstdint>
#include <span>

#include <cstring>
#include <vector>

#include "base/fuzz_target.h"
#include "crc32.h"
#include "dump.h"
#include "measure.h"
#include "platform_binding.h"
#include "reader.h"
#include "writer.h"

namespace {

// Most mutations break the CRC and stop at the first check. A copy with the
// CRC recomputed lets the fuzzer reach every later check too.
std::vector<std::byte> WithRepairedChecksum(std::span<const std::byte> bytes) {
  std::vector<std::byte> copy(bytes.begin(), bytes.end());
  igvm::wire::FixedHeaderV1 fixed;
  if (copy.size() < sizeof fixed) return copy;
  std::memcpy(&fixed, copy.data(), sizeof fixed);
  const size_t fixed_size = fixed.format_version == 2 ? sizeof(igvm::wire::FixedHeaderV2)
                                                      : sizeof(igvm::wire::FixedHeaderV1);
  if (copy.size() < fixed_size || fixed.variable_header_offset > copy.size() ||
      fixed.variable_header_size > copy.size() - fixed.variable_header_offset)
    return copy;
  std::memset(copy.data() + 0x14, 0, 4);
  uint32_t crc = igvm::Crc32Update(0, std::span(copy).subspan(0, fixed_size));
  crc = igvm::Crc32Update(
      crc, std::span(copy).subspan(fixed.variable_header_offset, fixed.variable_header_size));
  std::memcpy(copy.data() + 0x14, &crc, 4);
  return copy;
}

void Exercise(std::span<const std::byte> bytes) {
  auto file = igvm::ReadIgvm(bytes);
  if (!file.ok()) return;

  // Anything the reader accepts, the writer can write, and the result reads
  // back to a model that writes the same bytes again.
  auto written = igvm::WriteIgvm(*file);
  if (!written.ok()) __builtin_trap();
  auto reread = igvm::ReadIgvm(*written);
  if (!reread.ok()) __builtin_trap();
  auto rewritten = igvm::WriteIgvm(*reread);
  if (!rewritten.ok() || *rewritten != *written) __builtin_trap();
  // Directive digests do not depend on where the writer put the data (the
  // binding page must survive igvmtool sign's rewrite).
  for (const auto& platform : file->platforms) {
    const auto type = static_cast<igvm::wire::PlatformType>(platform.platform_type);
    auto before = igvm::DirectiveDigest(*file, type);
    auto after = igvm::DirectiveDigest(*reread, type);
    if (before.ok() != after.ok() || (before.ok() && *before != *after)) __builtin_trap();
  }

  // Measurements must not crash; keep their cost bounded for the fuzzer
  // (the reader already caps unbacked pages for real callers).
  size_t pages = 0;
  for (const auto& directive : file->directives) {
    if (const auto* area = std::get_if<igvm::ParameterAreaDirective>(&directive))
      pages += area->header.number_of_bytes / igvm::wire::kPageSize;
    if (const auto* range = std::get_if<igvm::wire::ErrorRange>(&directive))
      pages += range->size_bytes / igvm::wire::kPageSize;
  }
  if (pages <= 1024) {
    (void)igvm::MeasureSnp(*file);
    (void)igvm::MeasureSnp(*file, igvm::VmsaOrder::kAfterAllPages);
    (void)igvm::MeasureTdx(*file);
    (void)igvm::MeasureVbs(*file);
  }
  (void)igvm::DumpText(*file);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto bytes = std::as_bytes(std::span(data, size));
  Exercise(bytes);
  Exercise(WithRepairedChecksum(bytes));
  return 0;
}
