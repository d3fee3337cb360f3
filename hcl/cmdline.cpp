#include "cmdline.h"

namespace hcl {
namespace {

bool IsBlank(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

// Bounds how many warnings a hostile command line can make us print.
constexpr size_t kMaxWarnings = 8;

}  // namespace

std::vector<KernelParam> SplitKernelCommandLine(std::string_view text) {
  std::vector<KernelParam> params;
  size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && IsBlank(text[i])) ++i;
    if (i == text.size()) break;
    std::string word;
    bool quoted = false;
    for (; i < text.size() && (quoted || !IsBlank(text[i])); ++i) {
      if (text[i] == '"') {
        quoted = !quoted;
      } else {
        word += text[i];
      }
    }
    KernelParam param;
    const size_t eq = word.find('=');
    if (eq == std::string::npos) {
      param.key = std::move(word);
    } else {
      param.key = word.substr(0, eq);
      param.value = word.substr(eq + 1);
      param.has_value = true;
    }
    params.push_back(std::move(param));
  }
  return params;
}

Options ParseOptions(std::string_view kernel_command_line) {
  Options options;
  auto warn = [&](std::string text) {
    if (options.warnings.size() < kMaxWarnings) options.warnings.push_back(std::move(text));
  };
  for (const KernelParam& param : SplitKernelCommandLine(kernel_command_line)) {
    if (param.key.rfind("hcl.", 0) != 0) continue;  // the kernel's, not ours
    if (param.key == "hcl.poweroff") {
      if (param.value == "ready") {
        options.power_off = Options::PowerOff::kWhenReady;
      } else {
        warn("hcl.poweroff: unknown value '" + param.value.substr(0, 64) +
             "' (expected 'ready'), ignored");
      }
    } else {
      warn("unknown option '" + param.key.substr(0, 64) + "', ignored");
    }
  }
  return options;
}

}  // namespace hcl
