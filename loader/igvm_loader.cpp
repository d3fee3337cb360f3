#include "igvm_loader.h"

#include <algorithm>
#include <functional>
#include <map>
#include <span>
#include <type_traits>
#include <variant>

#include "acpi_madt.h"
#include "base/checked.h"
#include "base/string_printf.h"
#include "parameter_areas.h"
#include "vp_context.h"

namespace loader {
namespace {

using igvm::wire::HeaderType;
namespace wire = igvm::wire;

constexpr uint64_t kPage = wire::kPageSize;

// A declared area. Its buffer exists only while its insert is written:
// declarations cost no memory (an image may declare many large areas,
// even over the same file bytes), inserts are capped by the reader.
struct ParameterArea {
  uint64_t size_bytes = 0;
  igvm::SharedBytes initial_data;  // empty: zeros
  std::vector<igvm::ParameterUsage> usages;
  bool inserted = false;
};

// VTL2's memory: the union of the VSM platform's REQUIRED_MEMORY ranges,
// as sorted, merged [start, end) intervals.
class Vtl2Memory {
 public:
  explicit Vtl2Memory(std::span<const RequiredRange> ranges) {
    std::vector<std::pair<uint64_t, uint64_t>> sorted;
    for (const RequiredRange& range : ranges)
      if (range.size_bytes != 0) sorted.emplace_back(range.gpa, range.gpa + range.size_bytes);
    std::sort(sorted.begin(), sorted.end());
    for (const auto& [start, end] : sorted) {
      if (!merged_.empty() && start <= merged_.back().second) {
        merged_.back().second = std::max(merged_.back().second, end);
      } else {
        merged_.emplace_back(start, end);
      }
    }
  }
  // [gpa, gpa + size_bytes) lies inside one merged range.
  bool Contains(uint64_t gpa, uint64_t size_bytes) const {
    const auto end = base::CheckedAdd(gpa, size_bytes);
    if (!end) return false;
    return std::any_of(merged_.begin(), merged_.end(), [&](const auto& range) {
      return gpa >= range.first && *end <= range.second;
    });
  }

 private:
  std::vector<std::pair<uint64_t, uint64_t>> merged_;
};

// The loader's state across the directive walk.
class VsmLoad {
 public:
  VsmLoad(const LoadOptions& options, mem::GuestMemory& ram, LoadedImage& image)
      : options_(options), ram_(ram), image_(image), vtl2_(image.required_memory) {}

  bool Applies(uint32_t mask) const { return (mask & image_.compatibility_mask) != 0; }

  base::Result<void> operator()(const igvm::PageDataDirective& page) {
    if (!Applies(page.header.compatibility_mask)) return base::Ok();
    if ((page.header.flags & wire::kPageData2Mb) != 0)
      return base::Error::Format("PAGE_DATA at 0x%llx: 2 MiB pages are not supported",
                                 static_cast<unsigned long long>(page.header.gpa));
    if (page.header.data_type != static_cast<uint16_t>(wire::PageDataType::kNormal))
      return base::Error::Format("PAGE_DATA at 0x%llx: data type %u is not for the VSM platform",
                                 static_cast<unsigned long long>(page.header.gpa),
                                 page.header.data_type);
    // Finding 15 of the 2026-12 review: the image's code and data go only
    // where VTL0 cannot reach, the VTL2 memory the image itself declares.
    if (!vtl2_.Contains(page.header.gpa, kPage))
      return base::Error::Format(
          "PAGE_DATA at 0x%llx lies outside the image's VTL2 memory (its REQUIRED_MEMORY)",
          static_cast<unsigned long long>(page.header.gpa));
    const mem::Gpa gpa{page.header.gpa};
    if (page.data.empty()) {
      TRY(ram_.Fill(gpa, kPage, std::byte{0}));
    } else {
      if (page.data.size() > kPage) return base::Error("PAGE_DATA larger than a page");
      TRY(ram_.Write(gpa, page.data));
      if (page.data.size() < kPage)
        TRY(ram_.Fill(mem::Gpa{page.header.gpa + page.data.size()}, kPage - page.data.size(),
                      std::byte{0}));
    }
    ++image_.pages_loaded;
    return base::Ok();
  }

  base::Result<void> operator()(const igvm::ParameterAreaDirective& area) {
    const uint32_t index = area.header.parameter_area_index;
    if (areas_.contains(index))
      return base::Error::Format("parameter area %u declared twice", index);
    if (area.header.number_of_bytes == 0 || !base::IsAligned(area.header.number_of_bytes, kPage))
      return base::Error::Format("parameter area %u is not a whole number of pages", index);
    if (!area.initial_data.empty() && area.initial_data.size() != area.header.number_of_bytes)
      return base::Error::Format("parameter area %u initial data has the wrong size", index);
    ParameterArea& slot = areas_[index];
    slot.size_bytes = area.header.number_of_bytes;
    slot.initial_data = area.initial_data;
    return base::Ok();
  }

  base::Result<void> operator()(const igvm::ParameterUsage& usage) {
    ParameterArea& area = TRY(Area(usage.header.parameter_area_index));
    if (area.inserted)
      return base::Error::Format("parameter for area %u after its insert",
                                 usage.header.parameter_area_index);
    if (usage.header.byte_offset >= area.size_bytes)
      return base::Error::Format("parameter offset 0x%x lies outside area %u",
                                 usage.header.byte_offset, usage.header.parameter_area_index);
    area.usages.push_back(usage);
    return base::Ok();
  }

  base::Result<void> operator()(const wire::ParameterInsert& insert) {
    if (!Applies(insert.compatibility_mask)) return base::Ok();
    ParameterArea& area = TRY(Area(insert.parameter_area_index));
    if (area.inserted)
      return base::Error::Format("parameter area %u inserted twice", insert.parameter_area_index);
    area.inserted = true;
    if (!vtl2_.Contains(insert.gpa, area.size_bytes))
      return base::Error::Format(
          "PARAMETER_INSERT of area %u at 0x%llx lies outside the image's VTL2 memory (its "
          "REQUIRED_MEMORY)",
          insert.parameter_area_index, static_cast<unsigned long long>(insert.gpa));
    // Inside VTL2 memory, hence inside RAM (BuildMemoryMap): the buffer is
    // at most what the guest has.
    std::vector<std::byte> bytes(static_cast<size_t>(area.size_bytes), std::byte{0});
    std::copy(area.initial_data.begin(), area.initial_data.end(), bytes.begin());
    for (const igvm::ParameterUsage& usage : area.usages) {
      // A parameter owns the bytes from its offset up to the next
      // parameter's offset in the same area (or the area's end), so one
      // value can never spill over another.
      size_t end = bytes.size();
      for (const igvm::ParameterUsage& other : area.usages) {
        if (&other == &usage) continue;
        if (other.header.byte_offset == usage.header.byte_offset)
          return base::Error::Format("two parameters at offset 0x%x of area %u",
                                     usage.header.byte_offset, insert.parameter_area_index);
        if (other.header.byte_offset > usage.header.byte_offset && other.header.byte_offset < end)
          end = other.header.byte_offset;
      }
      const std::span<std::byte> out = std::span(bytes).subspan(
          usage.header.byte_offset, end - usage.header.byte_offset);
      auto written = FillParameter(usage.type, out);
      if (!written)
        return std::move(written).error().Context(
            base::StringPrintf("%s parameter at area %u offset 0x%x",
                               igvm::HeaderTypeName(static_cast<uint32_t>(usage.type)),
                               insert.parameter_area_index, usage.header.byte_offset));
    }
    TRY(ram_.Write(mem::Gpa{insert.gpa}, bytes));
    image_.parameter_pages += bytes.size() / kPage;
    return base::Ok();
  }

  base::Result<void> operator()(const igvm::VpContextDirective& context) {
    if (!Applies(context.header.compatibility_mask)) return base::Ok();
    if (context.header.vp_index != 0)
      return base::Error::Format("VP_CONTEXT for VP %u: only VP 0 is supported yet",
                                 context.header.vp_index);
    if (seen_bsp_context_) return base::Error("two VP_CONTEXTs for VP 0");
    seen_bsp_context_ = true;
    image_.bsp = TRY(ParseVbsVpContext(context.data));
    // The image is the paravisor: it starts in VTL2 (TLFS "Virtual Secure
    // Mode"); an entry state for another VTL is not this loader's to run.
    if (image_.bsp.vtl != 2)
      return base::Error::Format("VP 0's entry state is for VTL %u: the image must start in VTL2",
                                 image_.bsp.vtl);
    return base::Ok();
  }

  // Handled before the walk (the memory map needs all of them up front).
  base::Result<void> operator()(const wire::RequiredMemory&) { return base::Ok(); }
  // Attestation data: nothing to load for VSM.
  base::Result<void> operator()(const igvm::SnpIdBlockDirective&) { return base::Ok(); }
  base::Result<void> operator()(const igvm::VbsMeasurementDirective&) { return base::Ok(); }
  // A host-visible range for error reports; nothing to load.
  base::Result<void> operator()(const wire::ErrorRange&) { return base::Ok(); }

  base::Result<void> Finish() {
    if (!seen_bsp_context_) return base::Error("the VSM platform has no VP_CONTEXT for VP 0");
    for (const auto& [index, area] : areas_)
      if (!area.inserted && !area.usages.empty())
        return base::Error::Format("parameter area %u is never inserted", index);
    return base::Ok();
  }

 private:
  base::Result<std::reference_wrapper<ParameterArea>> Area(uint32_t index) {
    auto it = areas_.find(index);
    if (it == areas_.end()) return base::Error::Format("parameter area %u is not declared", index);
    return std::ref(it->second);
  }

  base::Result<void> FillParameter(HeaderType type, std::span<std::byte> out) {
    switch (type) {
      case HeaderType::kVpCountParameter:
        return WriteVpCount(out, options_.vp_count);
      case HeaderType::kEnvironmentInfo:
        // Bit 0 memory_is_shared: VSM memory is private to the guest.
        return WriteEnvironmentInfo(out, 0);
      case HeaderType::kMemoryMap:
        return WriteMemoryMap(out, image_.memory_map);
      case HeaderType::kCommandLine:
        return WriteCommandLine(out, options_.vtl2_command_line);
      case HeaderType::kMadt: {
        MadtConfig config;
        config.vp_count = options_.vp_count;
        config.io_apic = options_.io_apic;
        TRY(WriteMadt(out, config));
        return base::Ok();
      }
      default:
        return base::Error("not supported by this loader yet");
    }
  }

  const LoadOptions& options_;
  mem::GuestMemory& ram_;
  LoadedImage& image_;
  Vtl2Memory vtl2_;
  std::map<uint32_t, ParameterArea> areas_;
  bool seen_bsp_context_ = false;
};

}  // namespace

base::Result<wire::SupportedPlatform> FindVsmPlatform(const igvm::IgvmFile& file) {
  const auto platform = file.Platform(wire::PlatformType::kVsmIsolation);
  if (!platform) return base::Error("the image has no VSM (non-isolated Hyper-V) platform");
  return *platform;
}

namespace {

std::vector<RequiredRange> RequiredMemory(const igvm::IgvmFile& file, uint32_t mask) {
  std::vector<RequiredRange> ranges;
  for (const igvm::Directive& directive : file.directives)
    if (const auto* required = std::get_if<wire::RequiredMemory>(&directive);
        required != nullptr && (required->compatibility_mask & mask) != 0)
      ranges.push_back({required->gpa, required->number_of_bytes, (required->flags & 1u) != 0});
  return ranges;
}

}  // namespace

base::Result<std::vector<RequiredRange>> Vtl2Ranges(const igvm::IgvmFile& file) {
  const auto platform = TRY(FindVsmPlatform(file));
  std::vector<RequiredRange> ranges = RequiredMemory(file, platform.compatibility_mask);
  ranges.push_back(kVtl2LowMemory);
  return ranges;
}

base::Result<LoadedImage> LoadVsmPlatform(const igvm::IgvmFile& file, const LoadOptions& options,
                                          mem::GuestMemory& ram) {
  if (mem::ToU64(ram.base()) != 0) return base::Error("guest RAM must start at GPA 0");
  if (options.vp_count == 0) return base::Error("at least one VP is needed");
  const auto platform = TRY(FindVsmPlatform(file));
  LoadedImage image;
  image.compatibility_mask = platform.compatibility_mask;
  image.highest_vtl = platform.highest_vtl;
  image.required_memory = RequiredMemory(file, image.compatibility_mask);
  std::vector<RequiredRange> vtl2_ranges = image.required_memory;
  vtl2_ranges.push_back(kVtl2LowMemory);
  image.memory_map = TRY(BuildMemoryMap(ram.size_bytes(), vtl2_ranges));

  VsmLoad load(options, ram, image);
  for (size_t i = 0; i < file.directives.size(); ++i) {
    auto done = std::visit(load, file.directives[i]);
    if (!done) return std::move(done).error().Context(base::StringPrintf("directive %zu", i));
  }
  TRY(load.Finish());
  return image;
}

}  // namespace loader
