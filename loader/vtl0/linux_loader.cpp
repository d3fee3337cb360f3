#include "linux_loader.h"

#include <algorithm>
#include <array>
#include <cinttypes>
#include <optional>

#include "base/checked.h"
#include "base/page.h"
#include "base/string_printf.h"
#include "bootloader/linux_boot.h"
#include "vp_context.h"
#include "x86_context.h"

namespace loader::vtl0 {
namespace {

constexpr uint64_t kTwoMiB = 2u << 20;

constexpr uint64_t kFourGiB = uint64_t{1} << 32;
// The decompressor runs the kernel at a multiple of kernel_alignment, and
// boot.rst asks for the 64-bit load address to be 2 MiB aligned in any case
// (the kernel is mapped with 2 MiB pages).
constexpr uint64_t kMinKernelAlignment = 0x200000;
// boot.rst: heap_end_ptr is an offset from the real-mode code's start,
// minus 0x200; 0xE000 - 0x200 is the conventional end of setup's heap.
constexpr uint16_t kHeapEndPtr = 0xDE00;

struct Span {
  uint64_t gpa = 0;
  uint64_t size_bytes = 0;
  uint64_t end() const { return gpa + size_bytes; }
};

bool Overlaps(const Span& a, const Span& b) { return a.gpa < b.end() && b.gpa < a.end(); }

bool InRam(std::span<const RamRange> ram, const Span& span) {
  for (const RamRange& range : ram)
    if (span.gpa >= range.gpa && span.end() <= range.gpa + range.size_bytes) return true;
  return false;
}

bool ClearOf(std::span<const Span> taken, const Span& span) {
  return std::none_of(taken.begin(), taken.end(), [&](const Span& t) { return Overlaps(t, span); });
}

constexpr uint64_t AlignDown(uint64_t value, uint64_t alignment) {
  return value / alignment * alignment;
}

// Ranges are sorted, page-aligned, nonempty, below 4 GiB, inside `memory`.
base::Result<void> CheckRam(std::span<const RamRange> ram, const mem::GuestMemory& memory) {
  if (ram.empty()) return base::Error("vtl0 boot: no RAM ranges");
  uint64_t previous_end = 0;
  const uint64_t memory_start = mem::ToU64(memory.base());
  for (const RamRange& range : ram) {
    if (range.size_bytes == 0 || !base::IsAligned(range.gpa, base::kPageSize) ||
        !base::IsAligned(range.size_bytes, base::kPageSize) || range.gpa < previous_end ||
        range.size_bytes > kFourGiB || range.gpa > kFourGiB - range.size_bytes)
      return base::Error::Format("vtl0 boot: RAM range %#" PRIx64 "+%#" PRIx64
                                 " is empty, unaligned, unsorted or above 4 GiB",
                                 range.gpa, range.size_bytes);
    if (range.gpa < memory_start ||
        !base::RangeFits(range.gpa - memory_start, range.size_bytes, memory.size_bytes()))
      return base::Error::Format("vtl0 boot: RAM range %#" PRIx64 "+%#" PRIx64
                                 " is outside guest memory",
                                 range.gpa, range.size_bytes);
    previous_end = range.gpa + range.size_bytes;
  }
  return base::Ok();
}

// The lowest `alignment`-aligned address >= `floor` where `size` bytes are
// RAM and clear of `taken`. Candidates: each range's first aligned address,
// and the first aligned address past each taken span.
std::optional<uint64_t> FindLowest(std::span<const RamRange> ram, std::span<const Span> taken,
                                   uint64_t floor, uint64_t size, uint64_t alignment) {
  std::vector<uint64_t> starts;
  for (const RamRange& range : ram) starts.push_back(std::max(range.gpa, floor));
  for (const Span& t : taken) starts.push_back(std::max(t.end(), floor));
  std::sort(starts.begin(), starts.end());
  for (uint64_t start : starts) {
    const auto aligned = base::AlignUp(start, alignment);
    if (!aligned || *aligned >= kFourGiB || size > kFourGiB - *aligned) continue;
    const Span candidate{*aligned, size};
    if (InRam(ram, candidate) && ClearOf(taken, candidate)) return *aligned;
  }
  return std::nullopt;
}

// The highest page-aligned address where `size` bytes end at or below
// `limit`, are RAM and clear of `taken`. Candidate ends: each range's end
// (capped at limit) and each taken span's start.
std::optional<uint64_t> FindHighest(std::span<const RamRange> ram, std::span<const Span> taken,
                                    uint64_t limit, uint64_t size) {
  std::vector<uint64_t> ends;
  for (const RamRange& range : ram) ends.push_back(std::min(range.gpa + range.size_bytes, limit));
  for (const Span& t : taken) ends.push_back(std::min(t.gpa, limit));
  std::sort(ends.begin(), ends.end(), std::greater<>());
  for (uint64_t end : ends) {
    if (end < size) continue;
    const Span candidate{AlignDown(end - size, base::kPageSize), size};
    if (InRam(ram, candidate) && ClearOf(taken, candidate)) return candidate.gpa;
  }
  return std::nullopt;
}

base::Result<void> Write(mem::GuestMemory& memory, uint64_t gpa, std::span<const std::byte> bytes,
                         const char* what) {
  if (bytes.empty()) return base::Ok();
  auto written = memory.Write(mem::Gpa{gpa}, bytes);
  if (!written) return std::move(written).error().Context(what);
  return base::Ok();
}

}  // namespace

std::string LinuxBootLayout::Describe() const {
  std::string text = base::StringPrintf(
      "boot protocol %u.%02u\n"
      "kernel      0x%08" PRIx64 " file %#" PRIx64 " init_size %#" PRIx64 "\n"
      "initrd      0x%08" PRIx64 " %#" PRIx64 " bytes\n"
      "zero page   0x%08" PRIx64 "\ncmdline     0x%08" PRIx64 "\ngdt         0x%08" PRIx64
      "\npage tables 0x%08" PRIx64 "\nacpi        0x%08" PRIx64 " %#" PRIx64
      " bytes, rsdp %#" PRIx64 "\n",
      protocol >> 8, protocol & 0xFF, kernel_gpa, kernel_file_bytes, kernel_init_bytes,
      initrd_gpa, initrd_bytes, zero_page_gpa, command_line_gpa, gdt_gpa, page_tables_gpa,
      acpi_gpa, acpi_bytes, acpi_rsdp_gpa);
  for (const E820Range& range : e820)
    text += base::StringPrintf("e820 0x%08" PRIx64 "-0x%08" PRIx64 " type %u\n", range.gpa,
                               range.gpa + range.size_bytes - 1,
                               static_cast<uint32_t>(range.type));
  return text;
}

base::Result<std::vector<E820Range>> BuildE820(std::span<const RamRange> ram,
                                               std::span<const E820Range> carve) {
  std::vector<E820Range> sorted(carve.begin(), carve.end());
  std::sort(sorted.begin(), sorted.end(),
            [](const E820Range& a, const E820Range& b) { return a.gpa < b.gpa; });
  std::vector<E820Range> out;
  size_t next = 0;
  for (const RamRange& range : ram) {
    const uint64_t end = range.gpa + range.size_bytes;
    uint64_t cursor = range.gpa;
    for (; next < sorted.size() && sorted[next].gpa < end; ++next) {
      const E820Range& c = sorted[next];
      if (c.size_bytes == 0 || c.gpa < cursor || c.size_bytes > end - c.gpa)
        return base::Error::Format("vtl0 e820: %#" PRIx64 "+%#" PRIx64
                                   " overlaps another range or leaves RAM",
                                   c.gpa, c.size_bytes);
      if (c.gpa > cursor) out.push_back({cursor, c.gpa - cursor, E820Type::kRam});
      out.push_back(c);
      cursor = c.gpa + c.size_bytes;
    }
    if (cursor < end) out.push_back({cursor, end - cursor, E820Type::kRam});
  }
  if (next != sorted.size())
    return base::Error::Format("vtl0 e820: %#" PRIx64 " is not in RAM", sorted[next].gpa);
  return out;
}

base::Result<LinuxBoot> LoadLinux(const LinuxBootInputs& inputs, mem::GuestMemory& memory) {
  TRY(CheckRam(inputs.ram, memory));
  const auto parsed = shim::ParseBzImage(inputs.kernel);
  if (!parsed.ok()) return base::Error::Format("vtl0 boot: %s", parsed.status().message());
  const shim::KernelImage& kernel = parsed.value();

  LinuxBootLayout layout;
  layout.protocol = kernel.protocol;
  layout.zero_page_gpa = kBootDataGpa + kZeroPageOffset;
  layout.command_line_gpa = kBootDataGpa + kCommandLineOffset;
  layout.gdt_gpa = kBootDataGpa + kGdtOffset;
  layout.page_tables_gpa = kBootDataGpa + kPageTablesOffset;
  static_assert(kPageTablesOffset + igvm::kPageTablePages * base::kPageSize == kBootDataBytes);

  // What is placed first: the boot data and the ACPI tables.
  std::vector<Span> taken{{kBootDataGpa, kBootDataBytes}};
  if (!InRam(inputs.ram, taken[0]))
    return base::Error::Format("vtl0 boot: boot data at %#" PRIx64 " is not in VTL0 RAM",
                               kBootDataGpa);
  std::vector<E820Range> carve{{kBootDataGpa, kBootDataBytes, E820Type::kReserved}};
  if (!inputs.acpi_tables.empty()) {
    const uint64_t size = inputs.acpi_tables.size();
    const Span acpi{inputs.acpi_gpa, *base::AlignUp<uint64_t>(size, base::kPageSize)};
    if (size > kAcpiMaxBytes || !base::IsAligned(inputs.acpi_gpa, base::kPageSize) ||
        acpi.gpa >= kFourGiB || !InRam(inputs.ram, acpi) || !ClearOf(taken, acpi))
      return base::Error::Format("vtl0 boot: ACPI tables at %#" PRIx64 "+%#" PRIx64
                                 " are unaligned, too large, outside RAM or over the boot data",
                                 acpi.gpa, size);
    if (inputs.acpi_rsdp_gpa < acpi.gpa || inputs.acpi_rsdp_gpa - acpi.gpa > size - 36)
      return base::Error("vtl0 boot: RSDP outside the ACPI tables");
    taken.push_back(acpi);
    carve.push_back({acpi.gpa, acpi.size_bytes, E820Type::kAcpi});
    layout.acpi_gpa = acpi.gpa;
    layout.acpi_bytes = size;
    layout.acpi_rsdp_gpa = inputs.acpi_rsdp_gpa;
  }
  for (const RamRange& range : inputs.reserved) {
    const Span span{range.gpa, range.size_bytes};
    if (range.size_bytes == 0 || !base::IsAligned(range.gpa, base::kPageSize) ||
        !base::IsAligned(range.size_bytes, base::kPageSize) || !InRam(inputs.ram, span) ||
        !ClearOf(taken, span))
      return base::Error::Format("vtl0 boot: reserved range %#" PRIx64 "+%#" PRIx64
                                 " is unaligned, outside RAM or over other boot data",
                                 range.gpa, range.size_bytes);
    taken.push_back(span);
    carve.push_back({range.gpa, range.size_bytes, E820Type::kReserved});
  }

  // Command line: boot.rst, cmdline_size is the longest without the NUL.
  if (inputs.command_line.size() >= base::kPageSize ||
      inputs.command_line.size() > kernel.cmdline_size ||
      inputs.command_line.find('\0') != std::string_view::npos)
    return base::Error::Format("vtl0 boot: command line of %zu bytes (the kernel takes %u, "
                               "no NUL inside)",
                               inputs.command_line.size(), kernel.cmdline_size);

  // The kernel: everything after the setup sectors, needing init_size.
  const auto file = inputs.kernel.subspan(kernel.setup_bytes);
  if (file.size() > kernel.init_size)
    return base::Error::Format("vtl0 boot: kernel file part %#zx exceeds init_size %#x",
                               file.size(), kernel.init_size);
  layout.kernel_file_bytes = file.size();
  layout.kernel_init_bytes = kernel.init_size;
  uint64_t alignment = kernel.kernel_alignment;
  if (kernel.relocatable && (alignment == 0 || (alignment & (alignment - 1)) != 0))
    return base::Error::Format("vtl0 boot: kernel_alignment %#x is not a power of two",
                               kernel.kernel_alignment);
  alignment = std::max(alignment, kMinKernelAlignment);
  if (kernel.relocatable) {
    // The decompressor never runs below pref_address (LOAD_PHYSICAL_ADDR,
    // arch/x86/boot/compressed/head_64.S): load at or above it.
    auto at = FindLowest(inputs.ram, taken, kernel.pref_address, kernel.init_size, alignment);
    if (!at)
      return base::Error::Format("vtl0 boot: no %#" PRIx64 "-aligned %#x bytes of VTL0 RAM at or "
                                 "above %#" PRIx64 " for the kernel",
                                 alignment, kernel.init_size, kernel.pref_address);
    layout.kernel_gpa = *at;
  } else {
    // x86-64 kernels are linked at a multiple of CONFIG_PHYSICAL_ALIGN,
    // itself a multiple of 2 MiB (arch/x86/Kconfig); anything else is not
    // a kernel this loader should start.
    if (kernel.pref_address % kTwoMiB != 0)
      return base::Error::Format("vtl0 boot: the kernel is not relocatable and its load address %#" PRIx64
                                 " is not 2 MiB aligned",
                                 kernel.pref_address);
    const Span fixed{kernel.pref_address, kernel.init_size};
    if (kernel.pref_address >= kFourGiB || !InRam(inputs.ram, fixed) || !ClearOf(taken, fixed))
      return base::Error::Format("vtl0 boot: the kernel is not relocatable and its %#" PRIx64
                                 "+%#x is not free VTL0 RAM",
                                 kernel.pref_address, kernel.init_size);
    layout.kernel_gpa = kernel.pref_address;
  }
  taken.push_back({layout.kernel_gpa, kernel.init_size});

  // The initrd: as high as possible, its last byte at most initrd_addr_max.
  if (!inputs.initrd.empty()) {
    const uint64_t limit = uint64_t{kernel.initrd_addr_max} + 1;
    auto at = FindHighest(inputs.ram, taken, limit, inputs.initrd.size());
    if (!at)
      return base::Error::Format("vtl0 boot: no room for a %#zx-byte initrd in VTL0 RAM below "
                                 "%#" PRIx64,
                                 inputs.initrd.size(), limit);
    layout.initrd_gpa = *at;
    layout.initrd_bytes = inputs.initrd.size();
  }

  layout.e820 = TRY(BuildE820(inputs.ram, carve));
  if (layout.e820.size() > shim::kMaxE820Entries)
    return base::Error::Format("vtl0 boot: %zu e820 entries, the zero page holds %zu",
                               layout.e820.size(), shim::kMaxE820Entries);
  std::vector<shim::E820Entry> e820;
  for (const E820Range& range : layout.e820)
    e820.push_back({range.gpa, range.size_bytes, static_cast<uint32_t>(range.type)});

  shim::BootLayout boot;
  boot.command_line_gpa = layout.command_line_gpa;
  boot.initrd_gpa = layout.initrd_gpa;
  boot.initrd_size = layout.initrd_bytes;
  boot.acpi_rsdp_gpa = layout.acpi_rsdp_gpa;
  boot.heap_end_ptr = kHeapEndPtr;
  boot.e820 = e820;
  std::array<std::byte, shim::kZeroPageBytes> zero_page;
  if (auto status = shim::BuildZeroPage(zero_page, inputs.kernel, kernel, boot); !status.ok())
    return base::Error::Format("vtl0 boot: %s", status.message());

  std::vector<std::byte> command_line(base::kPageSize);
  for (size_t i = 0; i < inputs.command_line.size(); ++i)
    command_line[i] = static_cast<std::byte>(static_cast<unsigned char>(inputs.command_line[i]));

  TRY(Write(memory, layout.kernel_gpa, file, "vtl0 kernel"));
  TRY(Write(memory, layout.initrd_gpa, inputs.initrd, "vtl0 initrd"));
  TRY(Write(memory, layout.zero_page_gpa, zero_page, "vtl0 zero page"));
  TRY(Write(memory, layout.command_line_gpa, command_line, "vtl0 command line"));
  TRY(Write(memory, layout.gdt_gpa, igvm::GdtPage(), "vtl0 gdt"));
  TRY(Write(memory, layout.page_tables_gpa, igvm::IdentityPageTables(layout.page_tables_gpa),
            "vtl0 page tables"));
  TRY(Write(memory, layout.acpi_gpa, inputs.acpi_tables, "vtl0 acpi tables"));

  // The BSP: the same 64-bit entry state the image builder gives VTL2's
  // (igvm/x86_context.h), through the same VP-context encoding the loader
  // parses for VTL2, so both VTLs start from one definition. boot.rst
  // needs no stack; the kernel sets its own before its first call. The
  // one given grows down from the boot data into plain RAM.
  igvm::X64EntryState entry;
  entry.rip = layout.kernel_gpa + shim::kEntry64Offset;
  entry.rsp = kBootDataGpa;
  entry.rsi = layout.zero_page_gpa;
  entry.cr3 = layout.page_tables_gpa;
  entry.gdt_base = layout.gdt_gpa;
  entry.vtl = 0;
  LinuxBoot boot_state;
  boot_state.bsp = TRY(ParseVbsVpContext(igvm::VbsVpContext(entry)));
  boot_state.layout = std::move(layout);
  return boot_state;
}

}  // namespace loader::vtl0
