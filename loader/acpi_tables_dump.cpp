// acpi-tables-dump DIR [VPS]: the ACPI tables VTL2 gets, end to end from
// this tree's code (hcl-loader's MADT, loader/acpi_madt.h, handed to the
// boot shim's table builder, bootloader/acpi_tables.h), one file per table
// in DIR, named by signature (RSDP.dat, XSDT.dat, FACP.dat, FACS.dat,
// DSDT.dat, APIC.dat), the form `iasl -d` reads (test-acpi-iasl).
// --help explains the arguments. Exit: 0 written, 1 failed, 2 bad usage.
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

// g++ 12 reports a "potential null pointer dereference" inside std::string
// as CLI11 (header-only) is inlined here: a false positive of
// -Wnull-dereference at -O2 (as in loader/cli_options.cpp).
#pragma GCC diagnostic ignored "-Wnull-dereference"
#include <CLI/CLI.hpp>

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
  std::string dir;
  loader::MadtConfig config;
  config.io_apic = loader::IoApicConfig{};  // as hcl-loader's machine has (main.cpp)
  CLI::App app{"acpi-tables-dump: writes the ACPI tables VTL2 gets (the boot shim's RSDP, XSDT, "
               "FADT, FACS and DSDT around hcl-loader's MADT, with its I/O APIC) into DIR, one "
               "SIGNATURE.dat file per table, as `iasl -d` reads them. Exit status: 0 written, "
               "1 failed, 2 bad usage.",
               "acpi-tables-dump"};
  app.add_option("DIR", dir, "an existing directory for the .dat files")->required();
  app.add_option("VPS", config.vp_count,
                 "virtual processors in the MADT (default 1; APIC IDs from 255 on get "
                 "x2APIC entries)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    std::printf("%s", app.help().c_str());
    return 0;
  } catch (const CLI::ParseError& error) {
    std::fprintf(stderr, "acpi-tables-dump: %s (acpi-tables-dump --help)\n", error.what());
    return 2;
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
