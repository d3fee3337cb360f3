// The VTL2 kernel's command line: the host's options (IGVM COMMAND_LINE
// parameter, untrusted on isolated platforms) merged with the image's
// measured command line (security review finding 9).
//
// The result is "HOST_WORDS MEASURED": the host's words first, so that for
// every option both name, the measured one, which comes later, wins (Linux
// and hcl's parser both take the last occurrence). Only host options in
// kHostOptions (command_line.cpp: the table, and why each one is there)
// are passed on; any other host word is dropped and reported, so the host
// cannot set init=, rdinit=, memmap=, mitigations=, "--" (which would turn
// the measured options into init's arguments), and so on. hcl.vtl0_ram is
// checked against the memory map: each range must be normal memory there
// and overlap no VTL2 range, else the whole option is dropped (finding 8).
//
// Sans I/O: spans in, the merged text and the list of dropped words out;
// the shim logs the drops. Does not check the measured line (it is the
// image's own, covered by the launch measurement).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "boot_info.h"
#include "status.h"

namespace shim {

// hcl.vtl0_ram may list at most this many ranges. The same number as hcl's
// Options::kMaxVtl0RamRanges (hcl/cmdline.h) and the driver's
// MV_MAX_VTL0_RANGES (kernel-config/mshv_vtl/mshv_vtl_main.c): a list the
// shim passes is one hcl parses and the driver takes
// (test-vtl0-range-caps checks the three agree).
inline constexpr size_t kMaxVtl0RamRanges = 16;

enum class DropReason {
  kNotAllowed,    // not in the allow-list
  kQuoted,        // has a '"': quoting could swallow the measured line
  kBadValue,      // allow-listed name, value not of the accepted form
  kOverlapsVtl2,  // hcl.vtl0_ram: a range overlaps a VTL2 range of the memory map
  kNotRam,        // hcl.vtl0_ram: a range is not normal memory in the memory map
  kNoRoom,        // would push the measured line past what the kernel takes
};
const char* DropReasonText(DropReason reason);

struct DroppedOption {
  static constexpr size_t kTextBytes = 64;
  char text[kTextBytes] = {};  // the host's word, cut at kTextBytes
  size_t text_length = 0;
  DropReason reason = DropReason::kNotAllowed;
  std::string_view word() const { return {text, text_length}; }
};

struct MergeInputs {
  std::span<const std::byte> measured;  // printable ASCII, no NUL (ParseCommandLine)
  std::span<const std::byte> host;      // host-controlled; printable when ParseCommandLine looked
  std::span<const MemoryRange> memory_map;
  size_t max_length = 0;  // longest result without its NUL (bzImage cmdline_size)
};

struct MergeResult {
  size_t length = 0;   // bytes written to `out`, without the NUL after them
  size_t dropped = 0;  // host words dropped; the first ones are in `dropped_out`
};

// Writes the merged line and a NUL into `out`. Fails only if the measured
// line alone does not fit (`out` or max_length); host words that do not fit
// are dropped (kNoRoom). Each host word is copied into `out` first and
// checked there, so a host changing its page meanwhile gains nothing.
Expected<MergeResult> MergeCommandLine(const MergeInputs& inputs, std::span<char> out,
                                       std::span<DroppedOption> dropped_out);

struct Vtl0Range {
  uint64_t start = 0;
  uint64_t end = 0;  // exclusive
};

// hcl.vtl0_ram's value as hcl/cmdline.cpp ParseRanges reads it, at most
// stricter: START-END[,START-END...], hex with an optional 0x, page aligned,
// non-empty, sorted, disjoint, 1..kMaxVtl0RamRanges ranges. Returns the count.
Expected<size_t> ParseVtl0Ranges(std::string_view text, std::span<Vtl0Range> out);

// Whether VTL0 may have `range`: normal memory in the memory map (one entry
// or adjacent ones) and clear of every VTL2 range. If not, `reason` says why
// (kOverlapsVtl2 or kNotRam).
bool CheckVtl0Range(const Vtl0Range& range, std::span<const MemoryRange> memory_map,
                    DropReason& reason);

}  // namespace shim
