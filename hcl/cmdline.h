// Kernel command line → hcl options.
//
// The command line comes from the host (and on isolated platforms the host
// is untrusted), so parsing is total: any text yields options plus warnings,
// never a failure that stops PID 1.
#pragma once

#include <string>
#include <string_view>
#include <vector>

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

  std::vector<std::string> warnings;
};

Options ParseOptions(std::string_view kernel_command_line);

}  // namespace hcl
