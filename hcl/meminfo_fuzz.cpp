// Fuzz target: the /proc/meminfo parser.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "base/fuzz_target.h"
#include "meminfo.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  if (auto figures = hcl::ParseMeminfo(text); figures && figures->available_kib > figures->total_kib)
    __builtin_trap();
  return 0;
}
