#include "test_images.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <random>

#include "base/le_bytes.h"
#include "builder.h"
#include "platform_binding.h"
#include "snp_id_block.h"

namespace igvm::testing {
namespace {

constexpr const char* kManifest = R"({
  "platforms": {"vsm": {"highest_vtl": 2}, "snp": {"policy": "0x30000"}, "tdx": {}},
  "vtl2_memory": {"base": "0x100000", "size": "0x100000"},
  "components": [{"name": "shim", "path": "shim.bin", "offset": "0x0"},
                 {"name": "kernel", "path": "kernel.bin", "offset": "0x40000"}],
  "command_line": {"offset": "0x10000", "text": "console=ttyS0"},
  "component_table": {"offset": "0x11000"},
  "platform_binding": {"offset": "0x12000"},
  "parameter_area": {"offset": "0x20000", "pages": 4, "parameters": [
    {"kind": "vp_count", "byte_offset": "0x0"},
    {"kind": "environment_info", "byte_offset": "0x8"},
    {"kind": "memory_map", "byte_offset": "0x1000"},
    {"kind": "command_line", "byte_offset": "0x2000"},
    {"kind": "madt", "byte_offset": "0x3000"}]},
  "entry": {"component": "shim", "offset": "0x0", "stack_top": "0x30000", "page_tables": "0x31000"}
})";

void WriteRandom(const std::filesystem::path& path, size_t size, uint32_t seed) {
  std::mt19937 random(seed);
  std::ofstream out(path, std::ios::binary);
  for (size_t i = 0; i < size; ++i) out.put(static_cast<char>(random() & 0xff));
}

}  // namespace

base::Result<IgvmFile> BuildSampleImage() {
  static int serial = 0;
  const auto directory = std::filesystem::temp_directory_path() /
                         ("igvm-sample-" + std::to_string(::getpid()) + "-" +
                          std::to_string(serial++));
  std::filesystem::create_directories(directory);
  WriteRandom(directory / "shim.bin", 9000, 1);
  WriteRandom(directory / "kernel.bin", 5 * 4096 + 100, 2);
  auto built = BuildFromManifest(kManifest, directory.string());
  std::error_code ignored;
  std::filesystem::remove_all(directory, ignored);
  return built;
}

base::Result<void> SignImage(IgvmFile& file, const EcdsaP384Key& id_key,
                             const EcdsaP384Key* author_key) {
  if (NeedsBinding(file)) TRY(RefreshBinding(file));
  IdBlockIdentity identity;
  identity.image_id[0] = 0x42;
  const auto block = TRY(SignIdBlock(file, id_key, author_key, identity,
                                     VmsaOrder::kDirectiveOrder));
  InstallIdBlock(file, block);
  return base::Ok();
}

base::Result<size_t> VsmVpContextOffset(const std::vector<std::byte>& bytes) {
  // The poc's walk (security review, poc/tamper_vsm_context.py), checked.
  uint32_t offset = 0, size = 0;
  if (!base::LoadLe(bytes, 8, offset) || !base::LoadLe(bytes, 12, size))
    return base::Error("no fixed header");
  const uint64_t end = uint64_t{offset} + size;
  uint32_t vsm_mask = 0;
  while (offset + 8 <= end) {
    uint32_t type = 0, length = 0;
    if (!base::LoadLe(bytes, offset, type) || !base::LoadLe(bytes, offset + 4, length))
      return base::Error("truncated header");
    const uint32_t payload = offset + 8;
    uint32_t mask = 0;
    if (type == static_cast<uint32_t>(wire::HeaderType::kSupportedPlatform)) {
      uint8_t platform_type = 0;
      if (base::LoadLe(bytes, payload, mask) && base::LoadLe(bytes, payload + 5, platform_type) &&
          platform_type == static_cast<uint8_t>(wire::PlatformType::kVsmIsolation))
        vsm_mask = mask;
    }
    uint32_t file_offset = 0;
    if (type == static_cast<uint32_t>(wire::HeaderType::kVpContext) &&
        base::LoadLe(bytes, payload + 8, mask) && base::LoadLe(bytes, payload + 12, file_offset) &&
        mask == vsm_mask)
      return size_t{file_offset};
    offset = payload + ((length + 7) & ~7u);
  }
  return base::Error("no VSM VP_CONTEXT");
}

}  // namespace igvm::testing
