// ShimMain: the boot shim, called from entry.S with a stack and RDI = the
// parameter-area GPA (RSI at image entry).
//
// Reads what it needs (VP count, memory map and host command line from the
// parameter area; kernel and initramfs from the measured component table),
// checks every value against VTL2 memory, builds Linux's zero page, places
// the kernel at its load address and enters it through the 64-bit boot
// protocol. Each stage logs "shim: <stage> tsc=<n>" to COM1, the format the
// boot timeline reads. On any error it logs "shim: boot failed: <why>" and
// halts.
#include <cstddef>
#include <cstdint>
#include <span>

#include "acpi_tables.h"
#include "boot_info.h"
#include "command_line.h"
#include "layout.h"
#include "linux_boot.h"
#include "port_io.h"
#include "serial.h"
#include "status.h"

extern "C" [[noreturn]] void ShimMain(uint64_t parameter_area);
extern "C" char shim_image_base[];  // shim.ld: the image's first byte

namespace shim {
namespace {

constexpr size_t kMaxRanges = 64;
constexpr size_t kCommandLineBytes = 4096;
constexpr size_t kLoggedDrops = 8;  // dropped host options logged one by one

// VTL2 memory is identity-mapped (the image's page tables), so a GPA is a
// pointer. Every span built here has been bounds-checked against VTL2
// memory first; this is the only place the shim turns addresses into bytes.
std::span<std::byte> Bytes(uint64_t gpa, uint64_t size) {
  return {reinterpret_cast<std::byte*>(gpa), static_cast<size_t>(size)};
}

void LogStage(Serial16550& console, const char* stage) {
  console.Write("shim: ");
  console.Write(stage);
  console.Write(" tsc=");
  console.WriteDecimal(ReadTsc());
  console.Write("\n");
}

bool Overlaps(uint64_t a, uint64_t a_size, uint64_t b, uint64_t b_size) {
  return a < b + b_size && b < a + a_size;
}

[[noreturn]] void EnterLinux(uint64_t entry, uint64_t zero_page) {
  // boot.rst, 64-bit protocol: interrupts off, RSI = boot_params; CS and the
  // data segments already hold __BOOT_CS/__BOOT_DS (igvm/x86_context.h).
  asm volatile("cli; cld; jmp *%0" : : "r"(entry), "S"(zero_page) : "memory");
  __builtin_unreachable();
}

Status Boot(Serial16550& console, uint64_t image_base, uint64_t parameter_area) {
  using namespace layout;
  if (parameter_area != image_base + kParameterArea)
    return Status::Fail("parameter area is not where the image put it");
  const auto area = Bytes(parameter_area, kParameterAreaBytes);

  auto vp_count = ParseVpCount(area, kVpCountOffset);
  if (!vp_count.ok()) return vp_count.status();

  MemoryRange ranges[kMaxRanges];
  auto range_count =
      ParseMemoryMap(area.subspan(kMemoryMapOffset, kParameterPageBytes), ranges);
  if (!range_count.ok()) return range_count.status();
  const std::span<const MemoryRange> memory_map(ranges, range_count.value());
  auto vtl2 = FindVtl2Range(memory_map, image_base);
  if (!vtl2.ok()) return vtl2.status();

  const auto table = Bytes(image_base + kComponentTable, 4096);
  auto kernel = FindComponent(table, "kernel", vtl2.value());
  if (!kernel.ok()) return kernel.status();
  auto initrd = FindComponent(table, "initramfs", vtl2.value());
  if (!initrd.ok()) return initrd.status();

  const auto kernel_file = Bytes(kernel.value().gpa, kernel.value().size);
  auto image = ParseBzImage(kernel_file);
  if (!image.ok()) return image.status();
  // This kernel is built non-relocatable: it runs at its preferred address,
  // which must leave room for init_size inside VTL2 memory, clear of the
  // initramfs and of the pages the shim hands over (zero page, command line).
  const uint64_t load = image.value().pref_address;
  const uint64_t load_size = image.value().init_size;
  const MemoryRange& vtl2_range = vtl2.value();
  if (load < vtl2_range.base || load_size > vtl2_range.size ||
      load - vtl2_range.base > vtl2_range.size - load_size)
    return Status::Fail("kernel load range is outside VTL2 memory");
  if (Overlaps(load, load_size, initrd.value().gpa, initrd.value().size) ||
      Overlaps(load, load_size, image_base, kParameterArea + kParameterAreaBytes))
    return Status::Fail("kernel load range overlaps the initramfs or the boot pages");

  // Command line (command_line.h): the host's allow-listed options, then
  // the image's measured line, so the measured one wins; the host's other
  // words are dropped, one log line each.
  const auto static_line = Bytes(image_base + kStaticCommandLine, kCommandLineBytes);
  auto static_length = ParseCommandLine(static_line);
  if (!static_length.ok()) return static_length.status();
  const auto host_area = area.subspan(kCommandLineOffset, kParameterPageBytes);
  auto host_length = ParseCommandLine(host_area);
  std::span<const std::byte> host_line;
  if (!host_length.ok()) {
    console.Write("shim: host command line ignored: ");
    console.Write(host_length.status().message());
    console.Write("\n");
  } else {
    host_line = host_area.first(host_length.value());
  }
  MergeInputs merge;
  merge.measured = static_line.first(static_length.value());
  merge.host = host_line;
  merge.memory_map = memory_map;
  merge.max_length = image.value().cmdline_size;
  DroppedOption dropped[kLoggedDrops];
  const std::span<char> command_line(reinterpret_cast<char*>(image_base + kKernelCommandLine),
                                     kCommandLineBytes);
  auto merged = MergeCommandLine(merge, command_line, dropped);
  if (!merged.ok()) return merged.status();
  const size_t length = merged.value().length;
  for (size_t i = 0; i < merged.value().dropped && i < kLoggedDrops; ++i) {
    console.Write("shim: host option dropped (");
    console.Write(DropReasonText(dropped[i].reason));
    console.Write("): ");
    console.Write(dropped[i].word());
    console.Write("\n");
  }
  if (merged.value().dropped > kLoggedDrops) {
    console.Write("shim: ");
    console.WriteDecimal(merged.value().dropped - kLoggedDrops);
    console.Write(" more host options dropped\n");
  }

  // ACPI tables (acpi_tables.h) in VTL2 memory, the MADT from the host's
  // parameter; their pages are e820 type 3 (ACPI), the parameter area's
  // type 2 (reserved), so the kernel allocates neither.
  const uint64_t acpi_gpa = image_base + kAcpiTables;
  auto acpi_tables = acpi::BuildAcpiTables(Bytes(acpi_gpa, kAcpiTablesBytes), acpi_gpa,
                                           area.subspan(kMadtOffset, kParameterPageBytes));
  if (!acpi_tables.ok()) return acpi_tables.status();

  constexpr uint32_t kE820Acpi = 3;
  const E820Range carve_outs[] = {{acpi_gpa, kAcpiTablesBytes, kE820Acpi},
                                  {parameter_area, kParameterAreaBytes, kE820Reserved}};
  static_assert(kAcpiTables + kAcpiTablesBytes <= kParameterArea, "carve-outs must be sorted");
  E820Range e820[kMaxRanges];
  auto e820_count = BuildVtl2E820(memory_map, carve_outs, e820);
  if (!e820_count.ok()) return e820_count.status();
  E820Entry entries[kMaxRanges];
  for (size_t i = 0; i < e820_count.value(); ++i)
    entries[i] = {e820[i].address, e820[i].size, e820[i].type};

  BootLayout boot;
  boot.command_line_gpa = image_base + kKernelCommandLine;
  boot.initrd_gpa = initrd.value().gpa;
  boot.initrd_size = initrd.value().size;
  boot.e820 = std::span<const E820Entry>(entries, e820_count.value());
  boot.acpi_rsdp_gpa = acpi_tables.value().rsdp_gpa;
  const uint64_t zero_page_gpa = image_base + kZeroPage;
  auto zero_page = Bytes(zero_page_gpa, kZeroPageBytes).first<kZeroPageBytes>();
  if (Status built = BuildZeroPage(zero_page, kernel_file, image.value(), boot); !built.ok())
    return built;

  // The protected-mode kernel moves to its load address; the copy may
  // overlap the file (memmove semantics).
  const auto payload = kernel_file.subspan(image.value().setup_bytes, image.value().payload_bytes);
  __builtin_memmove(reinterpret_cast<void*>(load), payload.data(), payload.size());

  console.Write("shim: vps=");
  console.WriteDecimal(vp_count.value());
  console.Write(" vtl2=");
  console.WriteHex(vtl2_range.base);
  console.Write("+");
  console.WriteHex(vtl2_range.size);
  console.Write(" cmdline=\"");
  console.Write(std::string_view(command_line.data(), length));
  console.Write("\"\n");
  console.Write("shim: acpi rsdp=");
  console.WriteHex(acpi_tables.value().rsdp_gpa);
  console.Write(" e820=");
  console.WriteDecimal(e820_count.value());
  console.Write("\n");
  LogStage(console, "starting kernel");
  EnterLinux(load + kEntry64Offset, zero_page_gpa);
}

}  // namespace
}  // namespace shim

extern "C" [[noreturn]] void ShimMain(uint64_t parameter_area) {
  shim::Serial16550 console(0x3f8);
  console.Initialize();
  shim::LogStage(console, "entered");
  const shim::Status failure =
      shim::Boot(console, reinterpret_cast<uint64_t>(shim_image_base), parameter_area);
  console.Write("shim: boot failed: ");
  console.Write(failure.message());
  console.Write("\n");
  for (;;) asm volatile("cli; hlt");
}
