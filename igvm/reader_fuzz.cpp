// Fuzz target: the strict IGVM reader, and everything downstream of a
// successful parse (writer round trip, measurements, dump).
#include <cstddef>
#include <cstdint>
#include <span>

#include "base/fuzz_target.h"
#include "dump.h"
#include "measure.h"
#include "reader.h"
#include "writer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto bytes = std::as_bytes(std::span(data, size));
  auto file = igvm::ReadIgvm(bytes);
  if (!file.ok()) return 0;

  // Anything the reader accepts, the writer can write, and the result reads
  // back to a model that writes the same bytes again.
  auto written = igvm::WriteIgvm(*file);
  if (!written.ok()) __builtin_trap();
  auto reread = igvm::ReadIgvm(*written);
  if (!reread.ok()) __builtin_trap();
  auto rewritten = igvm::WriteIgvm(*reread);
  if (!rewritten.ok() || *rewritten != *written) __builtin_trap();

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
  return 0;
}
