#include "builder.h"

#include <doctest/doctest.h>

#include <cstring>
#include <filesystem>
#include <fstream>

#include <unistd.h>

#include "measure.h"
#include "x86_context.h"

namespace {

using namespace igvm;

class TempDir {
 public:
  TempDir() : path_(std::filesystem::temp_directory_path() / ("igvm-builder-" + std::to_string(::getpid()))) {
    std::filesystem::create_directories(path_);
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  std::string Write(const std::string& name, size_t size, uint8_t fill) const {
    std::ofstream out(path_ / name, std::ios::binary);
    for (size_t i = 0; i < size; ++i) out.put(static_cast<char>(fill));
    return (path_ / name).string();
  }
  std::string path() const { return path_.string(); }

 private:
  std::filesystem::path path_;
};

const PageDataDirective* PageAt(const IgvmFile& file, uint64_t gpa) {
  for (const auto& directive : file.directives)
    if (const auto* page = std::get_if<PageDataDirective>(&directive))
      if (page->header.gpa == gpa) return page;
  return nullptr;
}

constexpr const char* kManifest = R"({
  "platforms": {"vsm": {}, "snp": {}, "tdx": {}},
  "vtl2_memory": {"base": "0x1000000", "size": "0x800000"},
  "components": [{"name": "shim", "path": "shim.bin", "offset": 0},
                 {"name": "kernel", "path": "kernel.bin", "offset": "0x100000"}],
  "component_table": {"offset": "0x11000"},
  "entry": {"component": "shim", "offset": "0x40", "stack_top": "0x60000", "page_tables": "0x30000"}
})";

}  // namespace

TEST_CASE("the builder lays out components, a measured component table and entry state") {
  TempDir dir;
  dir.Write("shim.bin", 5000, 0x11);
  dir.Write("kernel.bin", 4096 * 3 + 1, 0x22);
  auto built = BuildFromManifest(kManifest, dir.path());
  REQUIRE_MESSAGE(built.ok(), built.error().message());

  // Components are split into pages at base + offset; the last is short.
  const auto* kernel_tail = PageAt(*built, 0x1100000 + 3 * 4096);
  REQUIRE(kernel_tail != nullptr);
  CHECK(kernel_tail->data.size() == 1);
  CHECK(kernel_tail->header.compatibility_mask == 7);  // shared by all platforms

  // The component table names each component's GPA and exact size.
  const auto* table = PageAt(*built, 0x1011000);
  REQUIRE(table != nullptr);
  uint32_t magic, count;
  std::memcpy(&magic, table->data.data(), 4);
  std::memcpy(&count, table->data.data() + 4, 4);
  CHECK(magic == kComponentTableMagic);
  REQUIRE(count == 2);
  uint64_t gpa, size;
  std::memcpy(&gpa, table->data.data() + 8 + 32, 8);
  std::memcpy(&size, table->data.data() + 8 + 32 + 8, 8);
  CHECK(gpa == 0x1100000);
  CHECK(size == 4096 * 3 + 1);
  CHECK(std::string(reinterpret_cast<const char*>(table->data.data()) + 8 + 32 + 16) == "kernel");

  // VBS entry state: RIP at the shim's entry offset, RSP at stack_top.
  const VpContextDirective* vbs = nullptr;
  for (const auto& directive : built->directives)
    if (const auto* context = std::get_if<VpContextDirective>(&directive))
      if (context->header.compatibility_mask == 1) vbs = context;
  REQUIRE(vbs != nullptr);
  uint32_t registers;
  std::memcpy(&registers, vbs->data.data(), 4);
  bool saw_rip = false;
  for (uint32_t i = 0; i < registers; ++i) {
    wire::VbsVpContextRegister reg;
    std::memcpy(&reg, vbs->data.data() + 4 + i * sizeof reg, sizeof reg);
    uint64_t value;
    std::memcpy(&value, reg.value, 8);
    if (reg.register_name == wire::hv_register::kRip) {
      CHECK(value == 0x1000040);
      saw_rip = true;
    }
    if (reg.register_name == wire::hv_register::kRsp) CHECK(value == 0x1060000);
    if (reg.register_name == wire::hv_register::kCr3) CHECK(value == 0x1030000);
  }
  CHECK(saw_rip);
  // The TDX reset page is present and the SNP VMSA measures.
  CHECK(PageAt(*built, kTdxResetPageGpa) != nullptr);
  CHECK(MeasureSnp(*built).ok());
}

TEST_CASE("the builder refuses overlapping and out-of-range placements with the field named") {
  TempDir dir;
  dir.Write("shim.bin", 0x20000, 0x11);  // reaches into the component table
  dir.Write("kernel.bin", 100, 0x22);
  auto overlap = BuildFromManifest(kManifest, dir.path());
  REQUIRE_FALSE(overlap.ok());
  CHECK(overlap.error().message() == "component_table overlaps shim");

  dir.Write("shim.bin", 100, 0x11);
  dir.Write("kernel.bin", 0x800000, 0x22);  // past the end of VTL2 memory
  auto too_big = BuildFromManifest(kManifest, dir.path());
  REQUIRE_FALSE(too_big.ok());
  CHECK(too_big.error().message().find("kernel (0x800000 bytes at offset 0x100000) does not fit") == 0);

  CHECK(BuildFromManifest("{not json", dir.path()).error().message() == "manifest is not valid JSON");
}
