// vtl0-acpi-tables-dump DIR [VPS]: VTL0's ACPI tables (acpi_tables.h), one
// file per table in DIR named by signature (RSDP.dat, XSDT.dat, FACP.dat,
// FACS.dat, DSDT.dat, APIC.dat), the form `iasl -d` reads. --help explains
// the arguments. Exit: 0 written, 1 failed, 2 bad usage.
#include <cstdio>
#include <string>

// g++ 12 reports a "potential null pointer dereference" inside std::string
// as CLI11 (header-only) is inlined here: a false positive of
// -Wnull-dereference at -O2 (as in loader/cli_options.cpp).
#pragma GCC diagnostic ignored "-Wnull-dereference"
#include <CLI/CLI.hpp>

#include "acpi_tables.h"
#include "linux_loader.h"

int main(int argc, char** argv) {
  std::string dir;
  uint32_t vp_count = 1;
  CLI::App app{"vtl0-acpi-tables-dump: writes the ACPI tables hcl-loader gives VTL0 (RSDP, "
               "XSDT, FADT, FACS, a DSDT with the VMBus device and COM1, and the MADT) into "
               "DIR, one SIGNATURE.dat file per table, as `iasl -d` reads them. Exit status: "
               "0 written, 1 failed, 2 bad usage.",
               "vtl0-acpi-tables-dump"};
  app.add_option("DIR", dir, "an existing directory for the .dat files")->required();
  app.add_option("VPS", vp_count, "virtual processors in the MADT (default 1)");
  bool pci = false;
  app.add_flag("--pci", pci, "also describe the PCI host bridge of --disk-vtl0 (Device PCI0)");
  bool tpm = false;
  app.add_flag("--tpm", tpm, "also describe the vTPM (Device TPM0 and the TPM2 table)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    std::printf("%s", app.help().c_str());
    return 0;
  } catch (const CLI::ParseError& error) {
    std::fprintf(stderr, "vtl0-acpi-tables-dump: %s (vtl0-acpi-tables-dump --help)\n",
                 error.what());
    return 2;
  }
  auto tables = loader::vtl0::BuildAcpiTables(
      loader::vtl0::kAcpiGpa, vp_count,
      pci ? std::optional(loader::vtl0::kVtl0PciWindow) : std::nullopt, tpm);
  if (!tables) {
    std::fprintf(stderr, "vtl0-acpi-tables-dump: %s\n", tables.error().message().c_str());
    return 1;
  }
  for (const loader::vtl0::AcpiTableSpan& table : tables->tables) {
    const std::string path = dir + "/" + table.signature + ".dat";
    std::FILE* file = std::fopen(path.c_str(), "wb");
    const bool ok = file != nullptr &&
                    std::fwrite(tables->bytes.data() + table.offset, 1, table.length, file) ==
                        table.length;
    if (file == nullptr || std::fclose(file) != 0 || !ok) {
      std::fprintf(stderr, "vtl0-acpi-tables-dump: cannot write %s\n", path.c_str());
      return 1;
    }
  }
  return 0;
}
