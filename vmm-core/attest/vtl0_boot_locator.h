// Where the Linux that VTL0 is about to boot lies in VTL0's memory, read
// from its zero page and its entry point as the loader left them (Linux
// Documentation/arch/x86/boot.rst "64-bit Boot Protocol", zero-page.rst):
// the protected-mode kernel starts 0x200 bytes before the 64-bit entry
// (startup_64) and is syssize * 16 bytes long (the bzImage's payload after
// its setup sectors, as tools/build.c pads it); the initrd is
// ramdisk_image/ramdisk_size (with their ext_ high halves); the command
// line is cmd_line_ptr (with ext_cmd_line_ptr), NUL-terminated, at most
// cmdline_size bytes before the NUL.
//
// Measured boot (hcl/vtpm/measured_boot.h) hashes what these name, so
// VTL0 is measured from its own memory rather than on the loader's word.
// The zero page is the host's input: every field is checked (sizes, wrap,
// a kernel at least a page long); where the ranges lie is left to the
// memory gate that reads them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "base/result.h"

namespace attest {

struct Vtl0BootLocation {
  uint64_t kernel_gpa = 0;
  uint64_t kernel_bytes = 0;
  uint64_t initrd_gpa = 0;  // 0 bytes: no initrd
  uint64_t initrd_bytes = 0;
  uint64_t cmdline_gpa = 0;
  uint32_t cmdline_max_bytes = 0;  // without the NUL
};

inline constexpr size_t kZeroPageBytes = 4096;
inline constexpr uint64_t kMaxKernelBytes = uint64_t{1} << 30;
inline constexpr uint32_t kMaxCmdlineBytes = 64 * 1024;

base::Result<Vtl0BootLocation> LocateVtl0Boot(std::span<const std::byte> zero_page,
                                              uint64_t entry_rip);

}  // namespace attest
