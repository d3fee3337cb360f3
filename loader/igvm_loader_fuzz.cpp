// Fuzz target: a hostile IGVM file through everything hcl-loader does with
// it before a vCPU runs: the strict reader, the VSM directive digest and
// the platform binding check (image_trust.h's step 3), then LoadVsmPlatform
// into a small guest RAM: the directive walk, the VTL2-range confinement,
// the parameter writers (VP count, environment info, memory map, command
// line, MADT) and the VBS VP context parser (vp_context.cpp). The SNP ID
// block signature check is left out: it is mbedTLS's ECDSA over hashes of
// the file, and costs milliseconds per input.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <span>
#include <vector>

#include "base/fuzz_target.h"
#include "crc32.h"
#include "igvm_loader.h"
#include "platform_binding.h"
#include "reader.h"

namespace {

namespace wire = igvm::wire;

// Most mutations break the CRC and stop at the first check; a copy with the
// CRC recomputed reaches the loader (as in igvm/reader_fuzz.cpp).
std::vector<std::byte> WithRepairedChecksum(std::span<const std::byte> bytes) {
  std::vector<std::byte> copy(bytes.begin(), bytes.end());
  wire::FixedHeaderV1 fixed;
  if (copy.size() < sizeof fixed) return copy;
  std::memcpy(&fixed, copy.data(), sizeof fixed);
  const size_t fixed_size =
      fixed.format_version == 2 ? sizeof(wire::FixedHeaderV2) : sizeof(wire::FixedHeaderV1);
  if (copy.size() < fixed_size || fixed.variable_header_offset > copy.size() ||
      fixed.variable_header_size > copy.size() - fixed.variable_header_offset)
    return copy;
  std::memset(copy.data() + offsetof(wire::FixedHeaderV1, checksum), 0, 4);
  uint32_t crc = igvm::Crc32Update(0, std::span(copy).subspan(0, fixed_size));
  crc = igvm::Crc32Update(
      crc, std::span(copy).subspan(fixed.variable_header_offset, fixed.variable_header_size));
  std::memcpy(copy.data() + offsetof(wire::FixedHeaderV1, checksum), &crc, 4);
  return copy;
}

void Exercise(std::span<const std::byte> bytes) {
  auto file = igvm::ReadIgvm(bytes);
  if (!file) return;
  const auto digest = igvm::DirectiveDigest(*file, wire::PlatformType::kVsmIsolation);
  const auto binding = igvm::VerifyBinding(*file, wire::PlatformType::kVsmIsolation);
  // A binding that verifies holds the digest just computed.
  if (binding && (!digest || binding->digest != *digest)) __builtin_trap();

  // 8 MiB of guest RAM: the corpus images keep VTL2 at 1 MiB.
  constexpr size_t kRamBytes = 8u << 20;
  static const auto backing = std::make_unique_for_overwrite<std::byte[]>(kRamBytes);
  auto ram = mem::GuestMemory::Create(mem::Gpa{0}, std::span(backing.get(), kRamBytes));
  if (!ram) __builtin_trap();
  loader::LoadOptions options;
  options.vp_count = 2;
  options.vtl2_command_line = "console=ttyS0 hcl.poweroff=ready";
  options.io_apic = loader::IoApicConfig{};
  auto image = loader::LoadVsmPlatform(*file, options, *ram);
  if (!image) return;
  // What loads is confined to the image's VTL2 memory (finding 15): none,
  // nothing loads.
  if (image->required_memory.empty() && image->pages_loaded + image->parameter_pages != 0)
    __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto bytes = std::as_bytes(std::span(data, size));
  Exercise(bytes);
  Exercise(WithRepairedChecksum(bytes));
  return 0;
}
