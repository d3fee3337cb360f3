// Fuzz target: hcl's kernel command-line parser takes any bytes.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "base/fuzz_target.h"
#include "cmdline.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const hcl::Options options = hcl::ParseOptions(text);
  // The warning bound must hold for every input.
  if (options.warnings.size() > 8) __builtin_trap();
  return 0;
}
