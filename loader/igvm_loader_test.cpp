#include "igvm_loader.h"

#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "base/le_bytes_result.h"
#include "testing/allocation_counter.h"
#include "x86_context.h"

namespace {

namespace wire = igvm::wire;
constexpr uint32_t kVsm = 0x1, kSnp = 0x2;
constexpr uint64_t kRamBytes = 4 << 20;

igvm::ParameterUsage Usage(wire::HeaderType type, uint32_t offset) {
  return {type, {0, offset}};
}

// A two-platform image: VSM and SNP share a page, each has one of its own.
igvm::IgvmFile SampleImage() {
  igvm::IgvmFile file;
  file.platforms.push_back({kVsm, 2, static_cast<uint8_t>(wire::PlatformType::kVsmIsolation), 1, 0});
  file.platforms.push_back({kSnp, 2, static_cast<uint8_t>(wire::PlatformType::kSevSnp), 1, 0});
  file.directives.push_back(wire::RequiredMemory{0x100000, kVsm | kSnp, 0x100000, 1, 0});
  std::vector<std::byte> shared(4096, std::byte{0x11});
  file.directives.push_back(igvm::PageDataDirective{{0x100000, kVsm | kSnp, 0, 0, 0, 0}, shared});
  std::vector<std::byte> snp_only(4096, std::byte{0x22});
  file.directives.push_back(igvm::PageDataDirective{{0x101000, kSnp, 0, 0, 0, 0}, snp_only});
  file.directives.push_back(igvm::PageDataDirective{{0x102000, kVsm, 0, 0, 0, 0}, {}});
  file.directives.push_back(igvm::ParameterAreaDirective{{0x2000, 0, 0}, {}});
  file.directives.push_back(Usage(wire::HeaderType::kVpCountParameter, 0));
  file.directives.push_back(Usage(wire::HeaderType::kEnvironmentInfo, 4));
  file.directives.push_back(Usage(wire::HeaderType::kMemoryMap, 0x100));
  file.directives.push_back(Usage(wire::HeaderType::kCommandLine, 0x1000));
  file.directives.push_back(Usage(wire::HeaderType::kMadt, 0x1800));
  file.directives.push_back(wire::ParameterInsert{0x110000, kVsm | kSnp, 0});
  igvm::X64EntryState entry;
  entry.rip = 0x100000;
  entry.rsp = 0x108000;
  entry.rsi = 0x110000;
  entry.cr3 = 0x120000;
  igvm::VpContextDirective context;
  context.header.compatibility_mask = kVsm;
  context.data = igvm::VbsVpContext(entry);
  file.directives.push_back(context);
  return file;
}

struct Ram {
  Ram() : bytes(kRamBytes, std::byte{0xAA}), memory(*mem::GuestMemory::Create(mem::Gpa{0}, bytes)) {}
  std::vector<std::byte> bytes;
  mem::GuestMemory memory;
  uint64_t U64(uint64_t gpa) { return *base::LoadLeOrError<uint64_t>(bytes, gpa); }
  uint32_t U32(uint64_t gpa) { return *base::LoadLeOrError<uint32_t>(bytes, gpa); }
};

}  // namespace

TEST_CASE("the VSM platform loads its pages, parameters and entry state") {
  Ram ram;
  const loader::LoadOptions options{2, "console=ttyS0 debug", std::nullopt};
  const auto image = loader::LoadVsmPlatform(SampleImage(), options, ram.memory);
  REQUIRE(image.ok());
  CHECK(image->compatibility_mask == kVsm);
  CHECK(image->pages_loaded == 2);
  CHECK(image->parameter_pages == 2);
  CHECK(ram.bytes[0x100000] == std::byte{0x11});
  CHECK(ram.bytes[0x101000] == std::byte{0xAA});  // the SNP-only page is not loaded
  CHECK(ram.bytes[0x102000] == std::byte{0});     // a zero page is zeroed
  CHECK(ram.bytes[0x102FFF] == std::byte{0});
  // Parameters at the insert GPA.
  CHECK(ram.U32(0x110000) == 2);  // VP count
  CHECK(ram.U32(0x110004) == 0);  // environment info
  // Memory map (24-byte entries: first page, pages, type): [0, 64 KiB)
  // memory, [64 KiB, 128 KiB) VTL2 (the loader's low range for Linux's
  // real-mode trampoline, memory_layout.h), [128 KiB, 1 MiB) memory,
  // [1 MiB, 2 MiB) VTL2 (the image's), [2 MiB, 4 MiB) memory, terminator.
  struct Expected {
    uint64_t first_page, pages;
    uint32_t type;
  };
  const Expected expected[] = {
      {0, 0x10, 0}, {0x10, 0x10, 3}, {0x20, 0xE0, 0}, {0x100, 0x100, 3}, {0x200, 0x200, 0}};
  for (size_t i = 0; i < std::size(expected); ++i) {
    CAPTURE(i);
    const uint64_t at = 0x110100 + 24 * i;
    CHECK(ram.U64(at) == expected[i].first_page);
    CHECK(ram.U64(at + 8) == expected[i].pages);
    CHECK(ram.U32(at + 16) == expected[i].type);
  }
  CHECK(ram.U64(0x110100 + 24 * std::size(expected) + 8) == 0);  // terminator: no pages
  const std::string cmdline(reinterpret_cast<const char*>(ram.bytes.data() + 0x111000));
  CHECK(cmdline == "console=ttyS0 debug");
  CHECK(ram.U32(0x111800) == 0x43495041);  // "APIC"
  CHECK(ram.U32(0x111804) == 44 + 2 * 8);  // no I/O APIC asked for
  CHECK(image->bsp.rip == 0x100000);
  CHECK(image->bsp.rsi == 0x110000);
  CHECK(image->bsp.vtl == 2);
}

TEST_CASE("the MADT parameter lists the machine's I/O APIC when it has one") {
  Ram ram;
  const loader::LoadOptions options{1, "", loader::IoApicConfig{}};
  REQUIRE(loader::LoadVsmPlatform(SampleImage(), options, ram.memory).ok());
  CHECK(ram.U32(0x111804) == 44 + 8 + 12);
  CHECK(ram.bytes[0x111800 + 52] == std::byte{1});  // I/O APIC structure (ACPI 6.5 §5.2.12.3)
  CHECK(ram.U32(0x111800 + 56) == 0xFEC00000);
}

TEST_CASE("loading refuses what it cannot honour, naming it") {
  Ram ram;
  const loader::LoadOptions options{1, "", std::nullopt};
  SUBCASE("no VSM platform") {
    auto file = SampleImage();
    file.platforms.erase(file.platforms.begin());
    const auto image = loader::LoadVsmPlatform(file, options, ram.memory);
    REQUIRE_FALSE(image.ok());
    CHECK(image.error().message().find("VSM") != std::string::npos);
  }
  SUBCASE("RAM too small for the required memory") {
    std::vector<std::byte> small(1 << 20);
    auto memory = *mem::GuestMemory::Create(mem::Gpa{0}, small);
    CHECK_FALSE(loader::LoadVsmPlatform(SampleImage(), options, memory).ok());
  }
  SUBCASE("a parameter the loader does not fill") {
    auto file = SampleImage();
    file.directives.insert(file.directives.begin() + 5, Usage(wire::HeaderType::kSrat, 0x1F00));
    const auto image = loader::LoadVsmPlatform(file, options, ram.memory);
    REQUIRE_FALSE(image.ok());
    CHECK(image.error().message().find("SRAT") != std::string::npos);
  }
  SUBCASE("no VP context") {
    auto file = SampleImage();
    file.directives.pop_back();
    CHECK_FALSE(loader::LoadVsmPlatform(file, options, ram.memory).ok());
  }
  SUBCASE("a command line that does not fit its parameter") {
    const loader::LoadOptions long_line{1, std::string(0x900, 'x'), std::nullopt};
    CHECK_FALSE(loader::LoadVsmPlatform(SampleImage(), long_line, ram.memory).ok());
  }
  SUBCASE("a page outside RAM") {
    auto file = SampleImage();
    file.directives.push_back(igvm::PageDataDirective{{kRamBytes, kVsm, 0, 0, 0, 0}, {}});
    CHECK_FALSE(loader::LoadVsmPlatform(file, options, ram.memory).ok());
  }
  // Security review 2026-12, finding 15: not where VTL0 can reach.
  SUBCASE("page data outside the image's VTL2 memory") {
    for (const uint64_t gpa : {uint64_t{0x200000}, uint64_t{0xFF000}, uint64_t{0x10000}}) {
      CAPTURE(gpa);
      auto file = SampleImage();
      file.directives.insert(file.directives.begin() + 2,
                             igvm::PageDataDirective{{gpa, kVsm, 0, 0, 0, 0}, {}});
      const auto image = loader::LoadVsmPlatform(file, options, ram.memory);
      REQUIRE_FALSE(image.ok());
      CHECK(image.error().message().find("outside the image's VTL2 memory") != std::string::npos);
      CHECK(ram.bytes[gpa] == std::byte{0xAA});  // nothing written there
    }
  }
  SUBCASE("an SNP-only page outside VTL2 memory is not the VSM load's business") {
    auto file = SampleImage();
    file.directives.push_back(igvm::PageDataDirective{{0x300000, kSnp, 0, 0, 0, 0}, {}});
    CHECK(loader::LoadVsmPlatform(file, options, ram.memory).ok());
  }
  SUBCASE("a parameter insert reaching out of VTL2 memory") {
    auto file = SampleImage();
    for (auto& directive : file.directives)
      if (auto* insert = std::get_if<wire::ParameterInsert>(&directive))
        insert->gpa = 0x1FF000;  // the area's second page is past the end
    const auto image = loader::LoadVsmPlatform(file, options, ram.memory);
    REQUIRE_FALSE(image.ok());
    CHECK(image.error().message().find("PARAMETER_INSERT of area 0") != std::string::npos);
    CHECK(ram.bytes[0x200000] == std::byte{0xAA});
  }
  SUBCASE("two adjacent REQUIRED_MEMORY ranges make one VTL2 range") {
    auto file = SampleImage();
    file.directives.insert(file.directives.begin(),
                           wire::RequiredMemory{0x200000, kVsm, 0x100000, 1, 0});
    file.directives.push_back(igvm::PageDataDirective{{0x1FF000, kVsm, 0, 0, 0, 0}, {}});
    file.directives.push_back(igvm::PageDataDirective{{0x200000, kVsm, 0, 0, 0, 0}, {}});
    CHECK(loader::LoadVsmPlatform(file, options, ram.memory).ok());
  }
}

TEST_CASE("declared parameter areas cost nothing until inserted (review finding 6)") {
  // 32 areas of 1 MiB over the same bytes, as a hostile file can declare
  // them; one is inserted.
  auto file = SampleImage();
  const igvm::SharedBytes blob(std::vector<std::byte>(1 << 20, std::byte{0x5A}));
  for (uint32_t index = 1; index <= 32; ++index)
    file.directives.insert(file.directives.begin() + 1,
                           igvm::ParameterAreaDirective{{1 << 20, index, 0}, blob});
  file.directives.insert(file.directives.begin(),
                         wire::RequiredMemory{0x200000, kVsm, 0x100000, 1, 0});
  file.directives.push_back(wire::ParameterInsert{0x200000, kVsm, 7});
  Ram ram;
  const loader::LoadOptions options{1, "", std::nullopt};
  igvm::testing::AllocationCounter counter;
  const auto image = loader::LoadVsmPlatform(file, options, ram.memory);
  REQUIRE_MESSAGE(image.ok(), image.error().message());
  CHECK(ram.bytes[0x200000] == std::byte{0x5A});
  CHECK(ram.bytes[0x2FFFFF] == std::byte{0x5A});
  // The inserted area's buffer and small change, not 32 MiB.
  CHECK(counter.bytes() < (1 << 20) + (1 << 18));
}
