// acpi-tables-dump DIR [VPS]: the ACPI tables VTL2 gets, end to end from
// this tree's code (hcl-loader's MADT, loader/acpi_madt.h, handed to the
// boot shim's table builder, bootloader/acpi_tables.h), one file per table
// in DIR, named by signature (RSDP.dat, XSDT.dat, FACP.dat, FACS.dat,
// DSDT.dat, APIC.dat), the form `iasl -d` reads (test-acpi-iasl).
#include <charconv>
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

#include "acpi_madt.h"
#include "acpi_tables.h"
#include "base/le_bytes.h"

namespace {

bool WriteFile(const std::string& path, std::span<const std::byte> bytes) {
  std::FILE* file = std::fopen(path.c_str(), "wb");
  if (file == nullptr) return false;
  const bool ok = std::fwrite(bytes.data(), 1, bytes.size(), file) == bytes.size();
  return std::fclose(file) == 0 && ok;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || argc > 3) {
    std::fprintf(stderr, "usage: acpi-tables-dump DIR [VPS]\n");
    return 2;
  }
  const std::string dir = argv[1];
  loader::MadtConfig config;
  config.io_apic = loader::IoApicConfig{};  // as hcl-loader's machine has (main.cpp)
  if (argc == 3) {
    const std::string_view text = argv[2];
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), config.vp_count);
    if (ec != std::errc() || end != text.data() + text.size()) {
      std::fprintf(stderr, "acpi-tables-dump: bad VP count\n");
      return 2;
    }
  }
  std::vector<std::byte> madt(4096);
  if (auto written = loader::WriteMadt(madt, config); !written) {
    std::fprintf(stderr, "acpi-tables-dump: %s\n", written.error().message().c_str());
    return 1;
  }
  constexpr uint64_t kGpa = 0x1014000;  // where the shim puts them (layout.h)
  std::vector<std::byte> out(0x3000);
  auto set = shim::acpi::BuildAcpiTables(out, kGpa, madt);
  if (!set.ok()) {
    std::fprintf(stderr, "acpi-tables-dump: %s\n", set.status().message());
    return 1;
  }
  const std::span<const std::byte> bytes(out);
  struct Table {
    const char* name;
    uint64_t gpa;
  };
  const Table tables[] = {{"RSDP", set.value().rsdp_gpa}, {"XSDT", set.value().xsdt_gpa},
                          {"FACP", set.value().fadt_gpa}, {"FACS", set.value().facs_gpa},
                          {"DSDT", set.value().dsdt_gpa}, {"APIC", set.value().madt_gpa}};
  for (const Table& table : tables) {
    const size_t at = static_cast<size_t>(table.gpa - kGpa);
    // RSDP: 36 bytes (revision 2); every other table carries its length.
    uint32_t length = 36;
    if (std::string_view(table.name) != "RSDP" && !base::LoadLe(bytes, at + 4, length)) return 1;
    if (at + length > bytes.size()) return 1;
    const std::string path = dir + "/" + table.name + ".dat";
    if (!WriteFile(path, bytes.subspan(at, length))) {
      std::fprintf(stderr, "acpi-tables-dump: cannot write %s\n", path.c_str());
      return 1;
    }
  }
  return 0;
}
