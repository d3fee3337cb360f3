// The Linux x86 boot protocol, from the loader's side (Linux
// Documentation/arch/x86/boot.rst and zero-page.rst, protocol 2.12+): read
// a bzImage's setup header, and fill the zero page (struct boot_params)
// for the 64-bit entry point.
//
// Sans I/O: takes byte spans, returns a Status; the shim's main does the
// copying and the jump.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "status.h"

namespace shim {

struct KernelImage {
  uint16_t protocol = 0;          // boot protocol version, e.g. 0x020f
  uint32_t setup_bytes = 0;       // where the protected-mode kernel starts in the file
  uint32_t payload_bytes = 0;     // syssize * 16: the protected-mode kernel's length
  uint64_t pref_address = 0;      // where a non-relocatable kernel must run
  uint32_t init_size = 0;         // bytes the kernel needs from its load address
  uint32_t kernel_alignment = 0;
  uint32_t initrd_addr_max = 0;   // highest address the initrd's last byte may have
  uint32_t cmdline_size = 0;      // longest command line, without its NUL
  bool relocatable = false;
  uint32_t header_end = 0;        // end of the setup header in the file (0x202 + jump byte)
};

// Checks the header (boot_flag 0xAA55, "HdrS", protocol >= 2.12, a 64-bit
// entry point via XLF_KERNEL_64, LOADED_HIGH) and that the file holds what
// the header claims.
Expected<KernelImage> ParseBzImage(std::span<const std::byte> image);

struct E820Entry {
  uint64_t address;
  uint64_t size;
  uint32_t type;  // 1 RAM, 2 reserved
};
inline constexpr uint32_t kE820Ram = 1;
inline constexpr uint32_t kE820Reserved = 2;
inline constexpr size_t kMaxE820Entries = 128;  // E820_MAX_ENTRIES_ZEROPAGE

struct BootLayout {
  uint64_t command_line_gpa = 0;
  uint64_t initrd_gpa = 0;
  uint64_t initrd_size = 0;
  uint64_t acpi_rsdp_gpa = 0;  // 0 if none
  // boot.rst heap_end_ptr; nonzero also sets loadflags CAN_USE_HEAP. Only
  // the real-mode setup code uses the heap: the 64-bit entry skips it.
  uint16_t heap_end_ptr = 0;
  std::span<const E820Entry> e820;
};

inline constexpr size_t kZeroPageBytes = 4096;
// The 64-bit entry is 0x200 bytes past the protected-mode kernel's start.
inline constexpr uint64_t kEntry64Offset = 0x200;

// Fills `zero_page` (all 4096 bytes) for the 64-bit entry: the setup header
// copied from the image, loader type, initrd, command line, RSDP, e820.
Status BuildZeroPage(std::span<std::byte, kZeroPageBytes> zero_page,
                     std::span<const std::byte> image, const KernelImage& kernel,
                     const BootLayout& layout);

}  // namespace shim
