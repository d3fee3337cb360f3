#include "cmdline.h"

#include <charconv>
#include <optional>

#include "base/checked.h"
#include "base/page.h"

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

// "START-END,..." in hex (with or without 0x): page-aligned, non-empty,
// sorted and disjoint. The boot shim's ParseVtl0Ranges accepts a subset of
// this and reads the same ranges from it.
base::Result<std::vector<Options::Range>> ParseRanges(std::string_view text, size_t max_ranges) {
  std::vector<Options::Range> ranges;
  auto hex = [](std::string_view digits) -> std::optional<uint64_t> {
    if (digits.starts_with("0x") || digits.starts_with("0X")) digits.remove_prefix(2);
    uint64_t value = 0;
    const auto [end, ec] =
        std::from_chars(digits.data(), digits.data() + digits.size(), value, 16);
    if (digits.empty() || ec != std::errc() || end != digits.data() + digits.size())
      return std::nullopt;
    return value;
  };
  while (!text.empty()) {
    const size_t comma = text.find(',');
    const std::string_view item = text.substr(0, comma);
    text = comma == std::string_view::npos ? std::string_view() : text.substr(comma + 1);
    const size_t dash = item.find('-');
    if (dash == std::string_view::npos) return base::Error("a range without '-'");
    const auto start = hex(item.substr(0, dash));
    const auto end = hex(item.substr(dash + 1));
    if (!start || !end) return base::Error("a range that is not START-END in hex");
    if (*end <= *start || !base::IsAligned(*start, base::kPageSize) ||
        !base::IsAligned(*end, base::kPageSize))
      return base::Error("an empty or unaligned range");
    if (!ranges.empty() && *start < ranges.back().end)
      return base::Error("ranges not sorted and disjoint");
    if (ranges.size() == max_ranges) return base::Error("too many ranges");
    ranges.push_back({*start, *end});
  }
  if (ranges.empty()) return base::Error("no ranges");
  return ranges;
}

Options ParseOptions(std::string_view kernel_command_line) {
  Options options;
  auto warn = [&](std::string text) {
    if (options.warnings.size() < kMaxWarnings) options.warnings.push_back(std::move(text));
  };
  for (const KernelParam& param : SplitKernelCommandLine(kernel_command_line)) {
    if (param.key.rfind("hcl.", 0) != 0) continue;  // the kernel's, not ours
    if (param.key == "hcl.vtl0_ram") {
      auto ranges = ParseRanges(param.value, Options::kMaxVtl0RamRanges);
      if (ranges.ok()) {
        options.vtl0_ram = std::move(ranges).value();
      } else {
        warn("hcl.vtl0_ram: " + ranges.error().message() + ", ignored");
      }
    } else if (param.key == "hcl.vtl0_deny") {
      auto ranges = ParseRanges(param.value, Options::kMaxVtl0DenyRanges);
      if (ranges.ok()) {
        options.vtl0_deny = std::move(ranges).value();
      } else {
        warn("hcl.vtl0_deny: " + ranges.error().message() + ", ignored");
      }
    } else if (param.key == "hcl.trace") {
      if (param.value == "intercepts") {
        options.trace_intercepts = true;
      } else {
        warn("hcl.trace: unknown value '" + param.value.substr(0, 64) + "', ignored");
      }
    } else if (param.key == "hcl.netvsp") {
      if (param.value == "unbacked") {
        options.netvsp_unbacked = true;
      } else {
        warn("hcl.netvsp: unknown value '" + param.value.substr(0, 64) +
             "' (expected 'unbacked'), ignored");
      }
    } else if (param.key == "hcl.poweroff") {
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
