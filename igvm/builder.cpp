#include "builder.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <map>

#include "base/checked.h"
#include "platform_binding.h"
#include "reader.h"
#include "x86_context.h"

namespace igvm {
namespace {

using nlohmann::json;

constexpr uint32_t kVsmMask = 1, kSnpMask = 2, kTdxMask = 4;

base::Result<uint64_t> Number(const json& object, const char* key, const std::string& where,
                              std::optional<uint64_t> fallback = std::nullopt) {
  auto it = object.find(key);
  if (it == object.end()) {
    if (fallback) return *fallback;
    return base::Error(where + "." + key + " is missing");
  }
  if (it->is_number_unsigned()) return it->get<uint64_t>();
  if (it->is_string()) {
    const std::string text = it->get<std::string>();
    char* end = nullptr;
    errno = 0;
    const unsigned long long value = std::strtoull(text.c_str(), &end, 0);
    if (!text.empty() && *end == '\0' && errno == 0 && text[0] != '-') return value;
  }
  return base::Error(where + "." + key + " must be a non-negative integer or \"0x...\" string");
}

base::Result<const json*> Object(const json& parent, const char* key, const std::string& where,
                                 bool required) {
  auto it = parent.find(key);
  if (it == parent.end()) {
    if (required) return base::Error(where + "." + key + " is missing");
    return static_cast<const json*>(nullptr);
  }
  if (!it->is_object()) return base::Error(where + "." + key + " must be an object");
  return &*it;
}

base::Result<std::string> String(const json& object, const char* key, const std::string& where) {
  auto it = object.find(key);
  if (it == object.end() || !it->is_string())
    return base::Error(where + "." + key + " must be a string");
  return it->get<std::string>();
}

struct Region {
  uint64_t offset;
  uint64_t size;
  std::string name;
};

class Builder {
 public:
  Builder(const json& manifest, std::string base_directory)
      : manifest_(manifest), base_directory_(std::move(base_directory)) {}

  base::Result<IgvmFile> Build();

 private:
  base::Result<void> ReadPlatforms();
  base::Result<void> ReadMemory();
  base::Result<void> Place(const std::string& name, uint64_t offset, uint64_t size);
  void AddPages(uint64_t gpa, std::span<const std::byte> bytes, uint32_t mask);
  base::Result<void> LoadComponents();
  base::Result<void> AddCommandLine();
  base::Result<void> AddComponentTable();
  base::Result<void> AddParameterArea();
  base::Result<void> AddEntryState();
  base::Result<uint64_t> HighestFreePage() const;
  base::Result<void> AddPlatformBinding();
  base::Result<void> AddSnpVmsa();

  const json& manifest_;
  std::string base_directory_;
  IgvmFile file_;
  uint32_t all_masks_ = 0;
  uint64_t base_ = 0, size_ = 0;
  std::vector<Region> regions_;
  std::map<std::string, uint64_t> component_offsets_;
  struct Loaded {
    std::string name;
    uint64_t gpa;
    uint64_t size;
  };
  std::vector<Loaded> loaded_;
  uint64_t parameter_area_gpa_ = 0;
  X64EntryState entry_state_;
  json snp_config_, tdx_config_;
};

base::Result<void> Builder::ReadPlatforms() {
  const json* platforms = TRY(Object(manifest_, "platforms", "manifest", true));
  for (const auto& [name, config] : platforms->items()) {
    const std::string where = "platforms." + name;
    if (!config.is_object()) return base::Error(where + " must be an object");
    wire::SupportedPlatform platform{};
    platform.platform_version = 1;
    platform.highest_vtl = static_cast<uint8_t>(TRY(Number(config, "highest_vtl", where, 2)));
    if (platform.highest_vtl != 0 && platform.highest_vtl != 2)
      return base::Error(where + ".highest_vtl must be 0 or 2");
    if (name == "vsm") {
      platform.compatibility_mask = kVsmMask;
      platform.platform_type = static_cast<uint8_t>(wire::PlatformType::kVsmIsolation);
    } else if (name == "snp") {
      platform.compatibility_mask = kSnpMask;
      platform.platform_type = static_cast<uint8_t>(wire::PlatformType::kSevSnp);
      platform.shared_gpa_boundary = TRY(Number(config, "shared_gpa_boundary", where, 0));
      const uint64_t policy = TRY(Number(config, "policy", where, 0x30000));
      // SNP ABI: policy bit 17 is reserved and must be 1.
      if (!(policy & (1u << 17))) return base::Error(where + ".policy must set bit 17 (SNP ABI)");
      file_.initialization.emplace_back(wire::GuestPolicy{policy, kSnpMask, 0});
      snp_config_ = config;
    } else if (name == "tdx") {
      platform.compatibility_mask = kTdxMask;
      platform.platform_type = static_cast<uint8_t>(wire::PlatformType::kTdx);
      platform.shared_gpa_boundary = TRY(Number(config, "shared_gpa_boundary", where, 0));
      const uint64_t policy = TRY(Number(config, "policy", where, 0));
      if (policy & ~uint64_t{7}) return base::Error(where + ".policy has unknown TDX bits");
      if (policy != 0) file_.initialization.emplace_back(wire::GuestPolicy{policy, kTdxMask, 0});
      tdx_config_ = config;
    } else {
      return base::Error(where + ": unknown platform (vsm, snp or tdx)");
    }
    all_masks_ |= platform.compatibility_mask;
    file_.platforms.push_back(platform);
  }
  if (file_.platforms.empty()) return base::Error("manifest.platforms is empty");
  // Platforms in a fixed order, so the output does not depend on key order.
  std::sort(file_.platforms.begin(), file_.platforms.end(),
            [](const auto& a, const auto& b) { return a.compatibility_mask < b.compatibility_mask; });
  return base::Ok();
}

base::Result<void> Builder::ReadMemory() {
  const json* memory = TRY(Object(manifest_, "vtl2_memory", "manifest", true));
  base_ = TRY(Number(*memory, "base", "vtl2_memory"));
  size_ = TRY(Number(*memory, "size", "vtl2_memory"));
  if (base_ % wire::kPageSize || size_ % wire::kPageSize || size_ == 0)
    return base::Error("vtl2_memory.base and size must be nonzero multiples of 4 KiB");
  if (!base::CheckedAdd(base_, size_) || base_ + size_ > (uint64_t{1} << 32))
    return base::Error("vtl2_memory must lie below 4 GiB (the identity map covers 0-4 GiB)");
  if (size_ > 0xFFFFFFFF) return base::Error("vtl2_memory.size must fit 32 bits");
  file_.directives.emplace_back(wire::RequiredMemory{base_, all_masks_,
                                                     static_cast<uint32_t>(size_),
                                                     all_masks_ & kVsmMask ? 1u : 0u, 0});
  if (const json* relocation = TRY(Object(*memory, "relocation", "vtl2_memory", false))) {
    if (!(all_masks_ & kVsmMask))
      return base::Error("vtl2_memory.relocation needs the vsm platform");
    wire::RelocatableRegion region{};
    region.compatibility_mask = kVsmMask;
    region.vtl = 2;
    region.flags = 1 | 2 | 4;  // IS_VTL2, APPLY_RIP, APPLY_GDTR
    region.relocation_alignment = TRY(Number(*relocation, "alignment", "relocation"));
    region.relocation_region_gpa = base_;
    region.relocation_region_size = size_;
    region.minimum_relocation_gpa = TRY(Number(*relocation, "min", "relocation"));
    region.maximum_relocation_gpa = TRY(Number(*relocation, "max", "relocation"));
    file_.initialization.emplace_back(region);
  }
  return base::Ok();
}

base::Result<void> Builder::Place(const std::string& name, uint64_t offset, uint64_t size) {
  if (offset % wire::kPageSize) return base::Error(name + ": offset must be 4 KiB aligned");
  const uint64_t pages_bytes = base::AlignUp<uint64_t>(size, wire::kPageSize).value_or(0);
  if (!base::RangeFits(offset, pages_bytes, size_))
    return base::Error::Format("%s (%#llx bytes at offset %#llx) does not fit in VTL2 memory (%#llx bytes)",
                               name.c_str(), static_cast<unsigned long long>(size),
                               static_cast<unsigned long long>(offset),
                               static_cast<unsigned long long>(size_));
  for (const Region& other : regions_)
    if (offset < other.offset + other.size && other.offset < offset + pages_bytes)
      return base::Error(name + " overlaps " + other.name);
  regions_.push_back({offset, pages_bytes, name});
  return base::Ok();
}

void Builder::AddPages(uint64_t gpa, std::span<const std::byte> bytes, uint32_t mask) {
  for (uint64_t done = 0; done < bytes.size(); done += wire::kPageSize) {
    const auto chunk = bytes.subspan(done, std::min<size_t>(wire::kPageSize, bytes.size() - done));
    file_.directives.emplace_back(PageDataDirective{{gpa + done, mask, 0, 0, 0, 0},
                                                    std::vector<std::byte>(chunk.begin(), chunk.end())});
  }
}

base::Result<void> Builder::LoadComponents() {
  auto it = manifest_.find("components");
  if (it == manifest_.end() || !it->is_array() || it->empty())
    return base::Error("manifest.components must be a nonempty array");
  for (size_t i = 0; i < it->size(); ++i) {
    const json& component = (*it)[i];
    const std::string where = "components[" + std::to_string(i) + "]";
    if (!component.is_object()) return base::Error(where + " must be an object");
    const std::string name = TRY(String(component, "name", where));
    std::string path = TRY(String(component, "path", where));
    if (!path.empty() && path[0] != '/') path = base_directory_ + "/" + path;
    const uint64_t offset = TRY(Number(component, "offset", where));
    const auto bytes = TRY(ReadFileBytes(path));
    if (bytes.empty()) return base::Error(where + ": " + path + " is empty");
    TRY(Place(name, offset, bytes.size()));
    if (!component_offsets_.emplace(name, offset).second)
      return base::Error(where + ": component name '" + name + "' is used twice");
    AddPages(base_ + offset, bytes, all_masks_);
    loaded_.push_back({name, base_ + offset, bytes.size()});
  }
  return base::Ok();
}

base::Result<void> Builder::AddComponentTable() {
  const json* table = TRY(Object(manifest_, "component_table", "manifest", false));
  if (!table) return base::Ok();
  const uint64_t offset = TRY(Number(*table, "offset", "component_table"));
  TRY(Place("component_table", offset, wire::kPageSize));
  constexpr size_t kEntryBytes = 16 + kComponentNameBytes;
  if (8 + loaded_.size() * kEntryBytes > wire::kPageSize)
    return base::Error("component_table: too many components for one page");
  std::vector<std::byte> page(8 + loaded_.size() * kEntryBytes);
  const uint32_t count = static_cast<uint32_t>(loaded_.size());
  std::memcpy(page.data(), &kComponentTableMagic, 4);
  std::memcpy(page.data() + 4, &count, 4);
  for (size_t i = 0; i < loaded_.size(); ++i) {
    std::byte* entry = page.data() + 8 + i * kEntryBytes;
    if (loaded_[i].name.size() >= kComponentNameBytes)
      return base::Error("component_table: name '" + loaded_[i].name + "' is 16 bytes or more");
    std::memcpy(entry, &loaded_[i].gpa, 8);
    std::memcpy(entry + 8, &loaded_[i].size, 8);
    std::memcpy(entry + 16, loaded_[i].name.data(), loaded_[i].name.size());
  }
  AddPages(base_ + offset, page, all_masks_);
  return base::Ok();
}

base::Result<void> Builder::AddCommandLine() {
  const json* command_line = TRY(Object(manifest_, "command_line", "manifest", false));
  if (!command_line) return base::Ok();
  const std::string text = TRY(String(*command_line, "text", "command_line"));
  if (text.size() >= wire::kPageSize) return base::Error("command_line.text is 4 KiB or more");
  if (text.find('\0') != std::string::npos) return base::Error("command_line.text contains NUL");
  const uint64_t offset = TRY(Number(*command_line, "offset", "command_line"));
  TRY(Place("command_line", offset, wire::kPageSize));
  std::vector<std::byte> page(text.size() + 1);  // NUL-terminated, measured
  std::memcpy(page.data(), text.data(), text.size());
  AddPages(base_ + offset, page, all_masks_);
  return base::Ok();
}

base::Result<void> Builder::AddParameterArea() {
  const json* area = TRY(Object(manifest_, "parameter_area", "manifest", false));
  if (!area) return base::Ok();
  const uint64_t offset = TRY(Number(*area, "offset", "parameter_area"));
  const uint64_t pages = TRY(Number(*area, "pages", "parameter_area"));
  if (pages == 0 || pages > 256) return base::Error("parameter_area.pages must be 1..256");
  TRY(Place("parameter_area", offset, pages * wire::kPageSize));
  file_.directives.emplace_back(ParameterAreaDirective{{pages * wire::kPageSize, 0, 0}, {}});
  static const std::map<std::string, wire::HeaderType> kKinds = {
      {"vp_count", wire::HeaderType::kVpCountParameter},
      {"memory_map", wire::HeaderType::kMemoryMap},
      {"command_line", wire::HeaderType::kCommandLine},
      {"madt", wire::HeaderType::kMadt},
      {"srat", wire::HeaderType::kSrat},
      {"slit", wire::HeaderType::kSlit},
      {"pptt", wire::HeaderType::kPptt},
      {"mmio_ranges", wire::HeaderType::kMmioRanges},
      {"device_tree", wire::HeaderType::kDeviceTree},
      {"environment_info", wire::HeaderType::kEnvironmentInfo},
  };
  auto list = area->find("parameters");
  if (list == area->end() || !list->is_array())
    return base::Error("parameter_area.parameters must be an array");
  for (size_t i = 0; i < list->size(); ++i) {
    const std::string where = "parameter_area.parameters[" + std::to_string(i) + "]";
    const std::string kind = TRY(String((*list)[i], "kind", where));
    auto type = kKinds.find(kind);
    if (type == kKinds.end()) return base::Error(where + ": unknown kind '" + kind + "'");
    const uint64_t byte_offset = TRY(Number((*list)[i], "byte_offset", where));
    if (byte_offset >= pages * wire::kPageSize)
      return base::Error(where + ".byte_offset is outside the area");
    file_.directives.emplace_back(
        ParameterUsage{type->second, {0, static_cast<uint32_t>(byte_offset)}});
  }
  parameter_area_gpa_ = base_ + offset;
  // One insert for every platform: an area can be inserted once (igvm_defs).
  file_.directives.emplace_back(wire::ParameterInsert{parameter_area_gpa_, all_masks_, 0});
  return base::Ok();
}

base::Result<void> Builder::AddEntryState() {
  const json* entry = TRY(Object(manifest_, "entry", "manifest", true));
  const std::string component = TRY(String(*entry, "component", "entry"));
  auto found = component_offsets_.find(component);
  if (found == component_offsets_.end())
    return base::Error("entry.component '" + component + "' is not a component");
  const uint64_t entry_offset = TRY(Number(*entry, "offset", "entry", 0));
  const uint64_t stack_top = TRY(Number(*entry, "stack_top", "entry"));
  const uint64_t tables = TRY(Number(*entry, "page_tables", "entry"));
  if (stack_top == 0 || stack_top > size_ || stack_top % 16)
    return base::Error("entry.stack_top must be a 16-aligned offset inside VTL2 memory");
  TRY(Place("page_tables", tables, (kPageTablePages + 1) * wire::kPageSize));

  X64EntryState state;
  state.rip = base_ + found->second + entry_offset;
  state.rsp = base_ + stack_top;
  state.rsi = parameter_area_gpa_;
  state.cr3 = base_ + tables;
  state.gdt_base = state.cr3 + kPageTablePages * wire::kPageSize;
  AddPages(state.cr3, IdentityPageTables(state.cr3), all_masks_);
  AddPages(state.gdt_base, GdtPage(), all_masks_);

  if (all_masks_ & kVsmMask)
    file_.directives.emplace_back(VpContextDirective{{0, kVsmMask, 0, 0, 0}, VbsVpContext(state)});
  if (all_masks_ & kTdxMask) {
    const auto reset_page = TRY(TdxResetPage(state));
    AddPages(kTdxResetPageGpa, reset_page, kTdxMask);
  }
  entry_state_ = state;
  return base::Ok();
}

base::Result<uint64_t> Builder::HighestFreePage() const {
  for (uint64_t offset = size_; offset >= wire::kPageSize;) {
    offset -= wire::kPageSize;
    const Region* taken = nullptr;
    for (const Region& region : regions_)
      if (offset < region.offset + region.size && region.offset < offset + wire::kPageSize)
        taken = &region;
    if (taken == nullptr) return offset;
    offset = taken->offset;  // skip below the region that holds this page
  }
  return base::Error("no free page in VTL2 memory for the platform binding");
}

// The platform binding page (platform_binding.h): SNP-only page data
// holding the VSM and TDX directive digests, so the SNP ID block's
// signature covers those platforms too. Added after every VSM and TDX
// directive (they are final here) and before the SNP VMSA.
base::Result<void> Builder::AddPlatformBinding() {
  const json* binding = TRY(Object(manifest_, "platform_binding", "manifest", false));
  if (!NeedsBinding(file_)) {
    if (binding != nullptr)
      return base::Error("platform_binding needs the snp platform and vsm or tdx");
    return base::Ok();
  }
  // Default: the highest free page of VTL2 memory, away from anything the
  // boot path uses early.
  const uint64_t offset = binding != nullptr ? TRY(Number(*binding, "offset", "platform_binding"))
                                             : TRY(HighestFreePage());
  TRY(Place("platform_binding", offset, wire::kPageSize));
  AddPages(base_ + offset, TRY(MakeBindingPage(file_)), kSnpMask);
  return base::Ok();
}

base::Result<void> Builder::AddSnpVmsa() {
  if (!(all_masks_ & kSnpMask)) return base::Ok();
  // Last among SNP directives: Hyper-V (directive order) and KVM (VMSAs
  // after all pages) then measure the same launch digest.
  const uint64_t vmsa_gpa = TRY(Number(snp_config_, "vmsa_gpa", "platforms.snp", 0xFFFFFFFFF000));
  const uint64_t sev_features = TRY(Number(snp_config_, "sev_features", "platforms.snp", 1));
  if (vmsa_gpa % wire::kPageSize) return base::Error("platforms.snp.vmsa_gpa must be 4 KiB aligned");
  file_.directives.emplace_back(
      VpContextDirective{{vmsa_gpa, kSnpMask, 0, 0, 0}, SnpVmsa(entry_state_, sev_features)});
  return base::Ok();
}

base::Result<IgvmFile> Builder::Build() {
  if (!manifest_.is_object()) return base::Error("manifest must be a JSON object");
  const uint64_t version = TRY(Number(manifest_, "format_version", "manifest", 1));
  if (version != 1 && version != 2) return base::Error("manifest.format_version must be 1 or 2");
  file_.format_version = static_cast<uint32_t>(version);
  TRY(ReadPlatforms());
  TRY(ReadMemory());
  TRY(AddParameterArea());
  TRY(LoadComponents());
  TRY(AddCommandLine());
  TRY(AddComponentTable());
  TRY(AddEntryState());
  TRY(AddPlatformBinding());
  TRY(AddSnpVmsa());
  return std::move(file_);
}

}  // namespace

base::Result<IgvmFile> BuildFromManifest(const std::string& manifest_text,
                                         const std::string& base_directory) {
  const json manifest = json::parse(manifest_text, nullptr, /*allow_exceptions=*/false);
  if (manifest.is_discarded()) return base::Error("manifest is not valid JSON");
  return Builder(manifest, base_directory).Build();
}

base::Result<IgvmFile> BuildFromManifestFile(const std::string& path) {
  const auto bytes = TRY(ReadFileBytes(path));
  const std::string text(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  std::string directory = std::filesystem::path(path).parent_path().string();
  if (directory.empty()) directory = ".";
  auto file = BuildFromManifest(text, directory);
  if (!file.ok()) return std::move(file).error().Context(path);
  return file;
}

}  // namespace igvm
