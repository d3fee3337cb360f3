// Fuzz target: a zero page and entry point as a host could leave them
// (8 bytes of RIP, then the page). Invariants: no crash; a location it
// returns never wraps and respects the documented limits.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>

#include "attest/vtl0_boot_locator.h"
#include "base/fuzz_target.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 8) return 0;
  uint64_t rip = 0;
  std::memcpy(&rip, data, 8);
  const auto page = std::as_bytes(std::span(data + 8, size - 8));
  auto where = attest::LocateVtl0Boot(page, rip);
  if (!where.ok()) return 0;
  if (where->kernel_gpa + where->kernel_bytes < where->kernel_gpa) __builtin_trap();
  if (where->kernel_bytes > attest::kMaxKernelBytes) __builtin_trap();
  if (where->initrd_gpa + where->initrd_bytes < where->initrd_gpa) __builtin_trap();
  if (where->cmdline_max_bytes > attest::kMaxCmdlineBytes) __builtin_trap();
  return 0;
}
