#include "dump.h"

#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <map>

#include "base/string_printf.h"
#include "digest.h"

namespace igvm {
namespace {

using nlohmann::json;

std::string Hex(uint64_t value) { return base::StringPrintf("0x%" PRIx64, value); }

std::string HexBytes(const uint8_t* bytes, size_t length) {
  return ToHex(std::span<const uint8_t>(bytes, length));
}

json PageDataFlags(uint32_t flags) {
  json names = json::array();
  if (flags & wire::kPageData2Mb) names.push_back("2mb");
  if (flags & wire::kPageDataUnmeasured) names.push_back("unmeasured");
  if (flags & wire::kPageDataShared) names.push_back("shared");
  return names;
}

const char* PageDataTypeName(uint16_t type) {
  switch (type) {
    case 0: return "normal";
    case 1: return "secrets";
    case 2: return "cpuid_data";
    case 3: return "cpuid_xf";
    default: return "unknown";
  }
}

json InitJson(const InitHeader& init) {
  if (const auto* policy = std::get_if<wire::GuestPolicy>(&init))
    return {{"type", "GUEST_POLICY"}, {"mask", Hex(policy->compatibility_mask)},
            {"policy", Hex(policy->policy)}};
  if (const auto* region = std::get_if<wire::RelocatableRegion>(&init))
    return {{"type", "RELOCATABLE_REGION"}, {"mask", Hex(region->compatibility_mask)},
            {"vp_index", region->vp_index}, {"vtl", region->vtl}, {"flags", region->flags},
            {"alignment", Hex(region->relocation_alignment)},
            {"gpa", Hex(region->relocation_region_gpa)},
            {"size", Hex(region->relocation_region_size)},
            {"min_gpa", Hex(region->minimum_relocation_gpa)},
            {"max_gpa", Hex(region->maximum_relocation_gpa)}};
  if (const auto* table = std::get_if<wire::PageTableRelocation>(&init))
    return {{"type", "PAGE_TABLE_RELOCATION_REGION"}, {"mask", Hex(table->compatibility_mask)},
            {"vp_index", table->vp_index}, {"vtl", table->vtl}, {"gpa", Hex(table->gpa)},
            {"size", Hex(table->size)}, {"used_size", Hex(table->used_size)}};
  if (const auto* corim = std::get_if<CorimHeader>(&init))
    return {{"type", HeaderTypeName(static_cast<uint32_t>(corim->type))},
            {"mask", Hex(corim->header.compatibility_mask)}, {"size", corim->data.size()}};
  const auto& cca = std::get<wire::CcaPolicy>(init);
  return {{"type", "CCA_POLICY"}, {"mask", Hex(cca.compatibility_mask)},
          {"required_zeroes", Hex(cca.attributes_required_zeroes)},
          {"required_ones", Hex(cca.attributes_required_ones)},
          {"hash_algorithm", cca.hash_algorithm}, {"lfa_policy", cca.lfa_policy}};
}

json DirectiveJson(const Directive& directive) {
  if (const auto* page = std::get_if<PageDataDirective>(&directive))
    return {{"type", "PAGE_DATA"}, {"mask", Hex(page->header.compatibility_mask)},
            {"gpa", Hex(page->header.gpa)}, {"flags", PageDataFlags(page->header.flags)},
            {"data_type", PageDataTypeName(page->header.data_type)},
            {"data", page->data.empty() ? "zero" : "4096 bytes"}};
  if (const auto* area = std::get_if<ParameterAreaDirective>(&directive))
    return {{"type", "PARAMETER_AREA"}, {"index", area->header.parameter_area_index},
            {"bytes", Hex(area->header.number_of_bytes)},
            {"initial_data", !area->initial_data.empty()}};
  if (const auto* insert = std::get_if<wire::ParameterInsert>(&directive))
    return {{"type", "PARAMETER_INSERT"}, {"mask", Hex(insert->compatibility_mask)},
            {"gpa", Hex(insert->gpa)}, {"index", insert->parameter_area_index}};
  if (const auto* context = std::get_if<VpContextDirective>(&directive))
    return {{"type", "VP_CONTEXT"}, {"mask", Hex(context->header.compatibility_mask)},
            {"gpa", Hex(context->header.gpa)}, {"vp_index", context->header.vp_index},
            {"bytes", context->data.size()}};
  if (const auto* memory = std::get_if<wire::RequiredMemory>(&directive))
    return {{"type", "REQUIRED_MEMORY"}, {"mask", Hex(memory->compatibility_mask)},
            {"gpa", Hex(memory->gpa)}, {"bytes", Hex(memory->number_of_bytes)},
            {"vtl2_protectable", (memory->flags & 1) != 0}};
  if (const auto* usage = std::get_if<ParameterUsage>(&directive))
    return {{"type", HeaderTypeName(static_cast<uint32_t>(usage->type))},
            {"index", usage->header.parameter_area_index},
            {"byte_offset", Hex(usage->header.byte_offset)}};
  if (const auto* boxed = std::get_if<SnpIdBlockDirective>(&directive)) {
    const wire::SnpIdBlock* block = &**boxed;
    return {{"type", "SNP_ID_BLOCK"}, {"mask", Hex(block->compatibility_mask)},
            {"ld", HexBytes(block->ld, 48)}, {"family_id", HexBytes(block->family_id, 16)},
            {"image_id", HexBytes(block->image_id, 16)}, {"version", block->version},
            {"guest_svn", block->guest_svn}, {"author_key_enabled", block->author_key_enabled != 0},
            {"id_key_algorithm", block->id_key_algorithm}};
  }
  if (const auto* range = std::get_if<wire::ErrorRange>(&directive))
    return {{"type", "ERROR_RANGE"}, {"mask", Hex(range->compatibility_mask)},
            {"gpa", Hex(range->gpa)}, {"bytes", Hex(range->size_bytes)}};
  const wire::VbsMeasurement& vbs = *std::get<VbsMeasurementDirective>(directive);
  return {{"type", "VBS_MEASUREMENT"}, {"mask", Hex(vbs.compatibility_mask)},
          {"version", vbs.version}, {"svn", vbs.security_version},
          {"digest", HexBytes(vbs.boot_measurement_digest, 32)}};
}

struct LayoutRow {
  uint64_t gpa = 0;
  uint64_t pages = 0;
  std::string what;
};

// Coalesces consecutive pages of the same kind into rows, per platform.
std::map<uint32_t, std::vector<LayoutRow>> Layout(const IgvmFile& file) {
  std::map<uint32_t, uint64_t> area_sizes;
  for (const auto& directive : file.directives)
    if (const auto* area = std::get_if<ParameterAreaDirective>(&directive))
      area_sizes[area->header.parameter_area_index] = area->header.number_of_bytes;

  std::map<uint32_t, std::vector<LayoutRow>> rows;
  auto add = [&](uint32_t mask, uint64_t gpa, uint64_t pages, std::string what) {
    for (const auto& platform : file.platforms) {
      if ((platform.compatibility_mask & mask) == 0) continue;
      auto& list = rows[platform.compatibility_mask];
      if (!list.empty() && list.back().what == what &&
          list.back().gpa + list.back().pages * wire::kPageSize == gpa) {
        list.back().pages += pages;
      } else {
        list.push_back({gpa, pages, what});
      }
    }
  };
  for (const auto& directive : file.directives) {
    if (const auto* page = std::get_if<PageDataDirective>(&directive)) {
      std::string what = PageDataTypeName(page->header.data_type);
      if (page->header.flags & wire::kPageDataUnmeasured) what += ", unmeasured";
      if (page->header.flags & wire::kPageDataShared) what += ", shared";
      if (page->data.empty()) what += ", zero";
      add(page->header.compatibility_mask, page->header.gpa,
          page->header.flags & wire::kPageData2Mb ? 512 : 1, "page data (" + what + ")");
    } else if (const auto* insert = std::get_if<wire::ParameterInsert>(&directive)) {
      add(insert->compatibility_mask, insert->gpa,
          area_sizes[insert->parameter_area_index] / wire::kPageSize,
          "parameter area " + std::to_string(insert->parameter_area_index));
    } else if (const auto* context = std::get_if<VpContextDirective>(&directive)) {
      if (context->header.gpa != 0)
        add(context->header.compatibility_mask, context->header.gpa, 1,
            "VP context (VP " + std::to_string(context->header.vp_index) + ")");
    } else if (const auto* memory = std::get_if<wire::RequiredMemory>(&directive)) {
      add(memory->compatibility_mask, memory->gpa, memory->number_of_bytes / wire::kPageSize,
          "required memory");
    }
  }
  for (auto& [mask, list] : rows)
    std::sort(list.begin(), list.end(), [](const auto& a, const auto& b) { return a.gpa < b.gpa; });
  return rows;
}

}  // namespace

nlohmann::json DumpJson(const IgvmFile& file) {
  json out;
  out["format_version"] = file.format_version;
  out["architecture"] = file.architecture == wire::Architecture::kX64 ? "x64" : "aarch64";
  out["platforms"] = json::array();
  for (const auto& platform : file.platforms)
    out["platforms"].push_back({{"mask", Hex(platform.compatibility_mask)},
                                {"type", PlatformName(platform.platform_type)},
                                {"highest_vtl", platform.highest_vtl},
                                {"version", platform.platform_version},
                                {"shared_gpa_boundary", Hex(platform.shared_gpa_boundary)}});
  out["initialization"] = json::array();
  for (const auto& init : file.initialization) out["initialization"].push_back(InitJson(init));
  out["directives"] = json::array();
  for (const auto& directive : file.directives)
    out["directives"].push_back(DirectiveJson(directive));
  out["skipped_optional_headers"] = json::array();
  for (const auto& skipped : file.skipped)
    out["skipped_optional_headers"].push_back(
        {{"type", Hex(skipped.type)}, {"offset", Hex(skipped.file_offset)}});
  out["warnings"] = file.warnings;
  json layout = json::object();
  for (const auto& [mask, rows] : Layout(file)) {
    json list = json::array();
    for (const auto& row : rows)
      list.push_back({{"gpa", Hex(row.gpa)}, {"pages", row.pages}, {"what", row.what}});
    layout[Hex(mask)] = list;
  }
  out["layout"] = layout;
  return out;
}

std::string DumpText(const IgvmFile& file) {
  std::string out;
  char line[256];
  std::snprintf(line, sizeof line, "IGVM format %u, %s\n", file.format_version,
                file.architecture == wire::Architecture::kX64 ? "x64" : "aarch64");
  out += line;
  out += "\nplatforms:\n";
  for (const auto& platform : file.platforms) {
    std::snprintf(line, sizeof line, "  mask %#x  %-8s highest VTL %u  shared GPA boundary %#" PRIx64 "\n",
                  platform.compatibility_mask, PlatformName(platform.platform_type),
                  platform.highest_vtl, platform.shared_gpa_boundary);
    out += line;
  }
  out += "\ninitialization:\n";
  for (const auto& init : file.initialization) out += "  " + InitJson(init).dump() + "\n";
  out += "\ndirectives:\n";
  for (const auto& directive : file.directives)
    out += "  " + DirectiveJson(directive).dump() + "\n";
  for (const auto& skipped : file.skipped) {
    std::snprintf(line, sizeof line, "  skipped optional header %#x at offset %#x\n", skipped.type,
                  skipped.file_offset);
    out += line;
  }
  for (const auto& warning : file.warnings) out += "warning: " + warning + "\n";
  for (const auto& [mask, rows] : Layout(file)) {
    const char* name = "?";
    for (const auto& platform : file.platforms)
      if (platform.compatibility_mask == mask) name = PlatformName(platform.platform_type);
    std::snprintf(line, sizeof line, "\nmemory layout, platform %#x (%s):\n", mask, name);
    out += line;
    std::snprintf(line, sizeof line, "  %-18s %-18s %8s  %s\n", "start", "end", "pages", "contents");
    out += line;
    for (const auto& row : rows) {
      std::snprintf(line, sizeof line, "  %#018" PRIx64 " %#018" PRIx64 " %8" PRIu64 "  %s\n", row.gpa,
                    row.gpa + row.pages * wire::kPageSize - 1, row.pages, row.what.c_str());
      out += line;
    }
  }
  return out;
}

}  // namespace igvm
