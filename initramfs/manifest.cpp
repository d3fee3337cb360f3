#include "manifest.h"

#include <charconv>
#include <map>

namespace initramfs {
namespace {

base::Result<std::string> Expand(std::string_view field, const Defines& defines) {
  std::string out;
  while (!field.empty()) {
    const size_t start = field.find("${");
    if (start == std::string_view::npos) {
      out += field;
      break;
    }
    out += field.substr(0, start);
    const size_t end = field.find('}', start);
    if (end == std::string_view::npos) return base::Error("unterminated ${");
    const std::string_view name = field.substr(start + 2, end - start - 2);
    auto it = defines.find(name);
    if (it == defines.end()) return base::Error::Format("undefined name ${%.*s}",
                                                        static_cast<int>(name.size()),
                                                        name.data());
    out += it->second;
    field.remove_prefix(end + 1);
  }
  return out;
}

base::Result<uint32_t> ParseNumber(std::string_view text, int base_radix, uint32_t max,
                                   const char* what) {
  uint32_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value, base_radix);
  if (ec != std::errc() || end != text.data() + text.size() || value > max)
    return base::Error::Format("bad %s '%.*s'", what, static_cast<int>(text.size()),
                               text.data());
  return value;
}

std::vector<std::string_view> SplitFields(std::string_view line) {
  std::vector<std::string_view> fields;
  size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
    size_t j = i;
    while (j < line.size() && line[j] != ' ' && line[j] != '\t') ++j;
    if (j > i) fields.push_back(line.substr(i, j - i));
    i = j;
  }
  return fields;
}

// A path must be absolute and canonical: no empty, "." or ".." components,
// so that no entry escapes the archive root or names the same file twice.
bool IsCanonicalAbsolute(std::string_view path) {
  if (path.size() < 2 || path.front() != '/' || path.back() == '/') return false;
  size_t i = 1;
  while (i <= path.size()) {
    size_t j = path.find('/', i);
    if (j == std::string_view::npos) j = path.size();
    const std::string_view part = path.substr(i, j - i);
    if (part.empty() || part == "." || part == "..") return false;
    i = j + 1;
  }
  return true;
}

// Control characters (NUL above all) cannot appear in a cpio name or a
// symlink target, and in a manifest they are always a mistake.
bool HasControlCharacter(std::string_view text) {
  for (char c : text)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) return true;
  return false;
}

base::Result<ManifestEntry> ParseLine(std::vector<std::string_view> raw, const Defines& defines) {
  std::vector<std::string> fields;
  for (std::string_view field : raw) {
    fields.push_back(TRY(Expand(field, defines)));
    if (HasControlCharacter(fields.back()))
      return base::Error::Format("field %zu contains a control character", fields.size());
  }
  const std::string& verb = fields[0];

  auto expect_fields = [&](size_t count) -> base::Result<void> {
    if (fields.size() != count)
      return base::Error::Format("'%s' takes %zu fields, found %zu", verb.c_str(), count - 1,
                                 fields.size() - 1);
    return base::Ok();
  };

  ManifestEntry entry;
  if (verb == "dir") {
    TRY(expect_fields(3));
    entry.kind = CpioEntry::Kind::kDirectory;
    entry.permissions = TRY(ParseNumber(fields[2], 8, 07777, "mode"));
  } else if (verb == "file" || verb == "slink") {
    TRY(expect_fields(4));
    entry.kind = verb == "file" ? CpioEntry::Kind::kFile : CpioEntry::Kind::kSymlink;
    entry.source = fields[2];
    entry.permissions = TRY(ParseNumber(fields[3], 8, 07777, "mode"));
  } else if (verb == "nod") {
    TRY(expect_fields(6));
    entry.permissions = TRY(ParseNumber(fields[2], 8, 07777, "mode"));
    if (fields[3] == "c") {
      entry.kind = CpioEntry::Kind::kCharDevice;
    } else if (fields[3] == "b") {
      entry.kind = CpioEntry::Kind::kBlockDevice;
    } else {
      return base::Error::Format("device type must be c or b, not '%s'", fields[3].c_str());
    }
    entry.major = TRY(ParseNumber(fields[4], 10, 0xfff, "major"));
    entry.minor = TRY(ParseNumber(fields[5], 10, 0xfffff, "minor"));
  } else {
    return base::Error::Format("unknown entry type '%s'", verb.c_str());
  }
  entry.path = fields[1];
  if (!IsCanonicalAbsolute(entry.path))
    return base::Error::Format("path '%s' is not a canonical absolute path", entry.path.c_str());
  return entry;
}

}  // namespace

base::Result<std::vector<ManifestEntry>> ParseManifest(std::string_view text,
                                                       const Defines& defines) {
  std::vector<ManifestEntry> entries;
  std::map<std::string, CpioEntry::Kind, std::less<>> seen;
  int line_number = 0;
  while (!text.empty()) {
    ++line_number;
    size_t newline = text.find('\n');
    std::string_view line = text.substr(0, newline);
    text.remove_prefix(newline == std::string_view::npos ? text.size() : newline + 1);
    if (size_t hash = line.find('#'); hash != std::string_view::npos) line = line.substr(0, hash);
    auto fields = SplitFields(line);
    if (fields.empty()) continue;

    auto entry = ParseLine(std::move(fields), defines);
    if (!entry.ok())
      return std::move(entry).error().Context("line " + std::to_string(line_number));
    entry->line = line_number;
    if (!seen.emplace(entry->path, entry->kind).second)
      return base::Error::Format("line %d: '%s' listed twice", line_number, entry->path.c_str());
    entries.push_back(std::move(entry).value());
  }
  // Every parent directory must be listed: the kernel does not create
  // missing parents while unpacking.
  for (const ManifestEntry& entry : entries) {
    const std::string_view path = entry.path;
    const size_t slash = path.rfind('/');
    if (slash == 0) continue;
    const std::string_view parent = path.substr(0, slash);
    auto it = seen.find(parent);
    if (it == seen.end() || it->second != CpioEntry::Kind::kDirectory)
      return base::Error::Format("line %d: parent directory '%.*s' is not listed as a dir",
                                 entry.line, static_cast<int>(parent.size()), parent.data());
  }
  return entries;
}

}  // namespace initramfs
