#include "meminfo.h"

#include <charconv>

namespace hcl {
namespace {

// The value of "Key:   1234 kB" lines; nullopt if absent or malformed.
std::optional<uint64_t> FieldKib(std::string_view text, std::string_view key) {
  size_t at = 0;
  while (at < text.size()) {
    size_t end = text.find('\n', at);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(at, end - at);
    at = end + 1;
    if (line.size() <= key.size() || line.substr(0, key.size()) != key || line[key.size()] != ':')
      continue;
    line.remove_prefix(key.size() + 1);
    while (!line.empty() && line.front() == ' ') line.remove_prefix(1);
    uint64_t value = 0;
    auto [rest, error] = std::from_chars(line.data(), line.data() + line.size(), value);
    if (error != std::errc()) return std::nullopt;
    if (std::string_view(rest, static_cast<size_t>(line.data() + line.size() - rest)) != " kB")
      return std::nullopt;
    return value;
  }
  return std::nullopt;
}

}  // namespace

std::optional<MemoryFigures> ParseMeminfo(std::string_view text) {
  auto total = FieldKib(text, "MemTotal");
  auto available = FieldKib(text, "MemAvailable");
  if (!total || !available || *available > *total) return std::nullopt;
  return MemoryFigures{*total, *available};
}

}  // namespace hcl
