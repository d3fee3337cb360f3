// Kernel command line → hcl options.
//
// The command line comes from the host (and on isolated platforms the host
// is untrusted), so parsing is total: any text yields options plus warnings,
// never a failure that stops PID 1.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"

namespace hcl {

struct KernelParam {
  std::string key;
  std::string value;  // empty when the word had no '='
  bool has_value = false;
};

// Splits like Linux's next_arg(): blanks separate words, double quotes group
// blanks into a word and are removed.
std::vector<KernelParam> SplitKernelCommandLine(std::string_view text);

struct Options {
  // hcl.poweroff=ready: power the VM off as soon as hcl is ready. Used by
  // boot tests and boot-time measurements.
  enum class PowerOff { kNever, kWhenReady };
  PowerOff power_off = PowerOff::kNever;

  // hcl.vtl0_ram=START-END[,START-END...] (hex, END exclusive, page
  // aligned, sorted, at most kMaxVtl0RamRanges): the guest-physical RAM of
  // VTL0, which hcl maps and serves. Absent: no VTL0 to run. The host's
  // word on VSM: the boot shim passes it only if every range is RAM in the
  // memory map and clear of VTL2's ranges (bootloader/command_line.h), and
  // the driver refuses VTL2's memory and MMIO (MSHV_ADD_VTL0_MEMORY).
  struct Range {
    uint64_t start = 0;
    uint64_t end = 0;
  };
  // The driver takes at most MV_MAX_VTL0_RANGES ranges
  // (kernel-config/mshv_vtl/mshv_vtl_main.c) and the shim passes at most
  // its kMaxVtl0RamRanges: the same number (bootloader/test-vtl0-range-caps).
  static constexpr size_t kMaxVtl0RamRanges = 16;
  // hcl.vtl0_deny=START-END[,...] (hex, page aligned, at most
  // kMaxVtl0DenyRanges): VTL0 pages hcl takes all access to away
  // (HvCallModifyVtlProtectionMask) before VTL0 starts; VTL0 touching them
  // gets #GP. For the protection path's tests and diagnostics.
  static constexpr size_t kMaxVtl0DenyRanges = 32;
  std::vector<Range> vtl0_deny;
  // hcl.trace=intercepts: one console line per VTL0 intercept hcl
  // emulates (diagnostics; slow).
  bool trace_intercepts = false;
  // hcl.netvsp=unbacked: offer VTL0 a synthetic NIC with no back end yet
  // (devices/network_adapter.h; issue 11), for tests of NVSP and RNDIS
  // against the stock hv_netvsc.
  bool netvsp_unbacked = false;
  std::vector<Range> vtl0_ram;

  std::vector<std::string> warnings;
};

// Later words replace earlier ones: the boot shim puts the image's measured
// command line after the host's options, so the measured one wins.
Options ParseOptions(std::string_view kernel_command_line);
// "START-END,..." in hex: page aligned, non-empty, sorted, disjoint, at most
// `max_ranges` of them.
base::Result<std::vector<Options::Range>> ParseRanges(std::string_view text, size_t max_ranges);

}  // namespace hcl
