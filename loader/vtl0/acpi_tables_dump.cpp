// vtl0-acpi-tables-dump DIR [VPS]: VTL0's ACPI tables (acpi_tables.h), one
// file per table in DIR named by signature (RSDP.dat, XSDT.dat, FACP.dat,
// FACS.dat, DSDT.dat, APIC.dat), the form `iasl -d` reads.
#include <charconv>
#include <cstdio>
#include <string>
#include <string_view>

#include "acpi_tables.h"
#include "linux_loader.h"

int main(int argc, char** argv) {
  uint32_t vp_count = 1;
  const std::string_view vps = argc == 3 ? argv[2] : "1";
  const auto [end, ec] = std::from_chars(vps.data(), vps.data() + vps.size(), vp_count);
  if (argc < 2 || argc > 3 || ec != std::errc() || end != vps.data() + vps.size()) {
    std::fprintf(stderr, "usage: vtl0-acpi-tables-dump DIR [VPS]\n");
    return 2;
  }
  auto tables = loader::vtl0::BuildAcpiTables(loader::vtl0::kAcpiGpa, vp_count);
  if (!tables) {
    std::fprintf(stderr, "vtl0-acpi-tables-dump: %s\n", tables.error().message().c_str());
    return 1;
  }
  for (const loader::vtl0::AcpiTableSpan& table : tables->tables) {
    const std::string path = std::string(argv[1]) + "/" + table.signature + ".dat";
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
