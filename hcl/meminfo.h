// /proc/meminfo → the figures hcl reports when ready (boot measurements:
// how much of VTL2's memory the kernel and hcl use).
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace hcl {

struct MemoryFigures {
  uint64_t total_kib = 0;      // MemTotal: RAM the kernel manages
  uint64_t available_kib = 0;  // MemAvailable: what new work could still use
  uint64_t used_kib() const { return total_kib - available_kib; }
};

// Needs MemTotal and MemAvailable with a kB unit, available <= total;
// anything else gives nullopt (the kernel's text is trusted, but the parser
// never assumes its shape).
std::optional<MemoryFigures> ParseMeminfo(std::string_view text);

}  // namespace hcl
