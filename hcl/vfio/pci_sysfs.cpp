#include "vfio/pci_sysfs.h"

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <system_error>

#include "base/hex.h"
#include "base/string_printf.h"

namespace hcl::vfio {
namespace {

// `text` is exactly `digits` lower-case hex digits; their value.
bool FixedHex(std::string_view text, size_t digits, uint32_t& value) {
  if (text.size() != digits) return false;
  value = 0;
  for (char c : text) {
    if (c >= 'A' && c <= 'F') return false;
    const int digit = base::HexDigitValue(c);
    if (digit < 0) return false;
    value = value * 16 + static_cast<uint32_t>(digit);
  }
  return true;
}

}  // namespace

base::Result<uint32_t> ParseSysfsHex(std::string_view text, uint32_t max) {
  if (!text.empty() && text.back() == '\n') text.remove_suffix(1);
  if (text.size() < 3 || text.substr(0, 2) != "0x" || text.size() > 2 + 8)
    return base::Error("not a 0x-prefixed hex value of at most 8 digits");
  uint64_t value = 0;
  for (char c : text.substr(2)) {
    const int digit = base::HexDigitValue(c);
    if (digit < 0) return base::Error("not a 0x-prefixed hex value of at most 8 digits");
    value = value * 16 + static_cast<uint64_t>(digit);
  }
  if (value > max) return base::Error::Format("value 0x%llx above 0x%x",
                                              static_cast<unsigned long long>(value), max);
  return static_cast<uint32_t>(value);
}

bool IsPciAddress(std::string_view name) {
  // DDDD:BB:DD.F
  if (name.size() != 12 || name[4] != ':' || name[7] != ':' || name[10] != '.') return false;
  uint32_t domain = 0, bus = 0, device = 0, function = 0;
  return FixedHex(name.substr(0, 4), 4, domain) && FixedHex(name.substr(5, 2), 2, bus) &&
         FixedHex(name.substr(8, 2), 2, device) && FixedHex(name.substr(11, 1), 1, function) &&
         device < 32 && function < 8;
}

std::string Describe(const PciFunction& function) {
  return base::StringPrintf("%s %04x:%04x class %06x", function.address.c_str(),
                            function.vendor, function.device, function.class_code);
}

base::Result<std::string> ReadSysfs(const std::string& path) {
  std::ifstream in(path);
  if (!in) return base::Error::FromErrno("open " + path, errno);
  std::stringstream text;
  text << in.rdbuf();
  if (in.bad()) return base::Error("read " + path + " failed");
  return text.str();
}

base::Result<void> WriteSysfs(const std::string& path, std::string_view text) {
  std::ofstream out(path);
  if (!out) return base::Error::FromErrno("open " + path, errno);
  out << text;
  out.flush();
  // A sysfs store's error comes back from write(2), which flush made.
  if (!out) return base::Error::FromErrno("write '" + std::string(text) + "' to " + path, errno);
  return base::Ok();
}

base::Result<std::vector<PciFunction>> ListPciFunctions(const std::string& devices_dir,
                                                         std::vector<std::string>& skipped) {
  std::error_code error;
  std::filesystem::directory_iterator entries(devices_dir, error);
  if (error) return base::Error("listing " + devices_dir + ": " + error.message());
  std::vector<PciFunction> functions;
  for (const auto& entry : entries) {
    const std::string name = entry.path().filename().string();
    if (!IsPciAddress(name)) {
      skipped.push_back(name + ": not a PCI address");
      continue;
    }
    const std::string dir = devices_dir + "/" + name + "/";
    auto field = [&](const char* file, uint32_t max) -> base::Result<uint32_t> {
      auto text = ReadSysfs(dir + file);
      if (!text.ok()) return std::move(text).error();
      auto value = ParseSysfsHex(*text, max);
      if (!value.ok()) return std::move(value).error().Context(dir + file);
      return value;
    };
    auto vendor = field("vendor", 0xFFFF);
    auto device = field("device", 0xFFFF);
    auto class_code = field("class", 0xFFFFFF);
    if (!vendor.ok() || !device.ok() || !class_code.ok()) {
      skipped.push_back(name + ": " +
                        (!vendor.ok()   ? vendor.error().message()
                         : !device.ok() ? device.error().message()
                                        : class_code.error().message()));
      continue;
    }
    functions.push_back(PciFunction{name, static_cast<uint16_t>(*vendor),
                                    static_cast<uint16_t>(*device), *class_code});
  }
  std::sort(functions.begin(), functions.end(),
            [](const PciFunction& a, const PciFunction& b) { return a.address < b.address; });
  return functions;
}

}  // namespace hcl::vfio
