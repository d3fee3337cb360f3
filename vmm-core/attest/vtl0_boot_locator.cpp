#include "attest/vtl0_boot_locator.h"

#include <algorithm>

#include "base/le_bytes.h"
#include "base/linux_boot_params.h"

namespace attest {
namespace {

using namespace linux_boot_params;  // NOLINT: the boot protocol's offsets
constexpr uint64_t kEntryOffset = 0x200;

uint64_t Wide(std::span<const std::byte> page, size_t low, size_t high) {
  uint32_t lo = 0, hi = 0;
  (void)base::LoadLe(page, low, lo);
  (void)base::LoadLe(page, high, hi);
  return uint64_t{hi} << 32 | lo;
}

}  // namespace

base::Result<Vtl0BootLocation> LocateVtl0Boot(std::span<const std::byte> zero_page,
                                              uint64_t entry_rip) {
  if (zero_page.size() < kZeroPageBytes) return base::Error("zero page: shorter than a page");
  uint32_t magic = 0, syssize = 0, cmdline_size = 0;
  if (!base::LoadLe(zero_page, kHeaderMagic, magic) || magic != kHdrS)
    return base::Error("zero page: no setup header (HdrS)");
  (void)base::LoadLe(zero_page, kSyssize, syssize);
  (void)base::LoadLe(zero_page, kCmdlineSize, cmdline_size);
  Vtl0BootLocation where;
  if (entry_rip < kEntryOffset) return base::Error("entry point below the kernel's 0x200");
  where.kernel_gpa = entry_rip - kEntryOffset;
  where.kernel_bytes = uint64_t{syssize} * 16;
  if (where.kernel_bytes < 4096 || where.kernel_bytes > kMaxKernelBytes)
    return base::Error::Format("zero page: syssize %u is not a kernel's", syssize);
  if (where.kernel_gpa + where.kernel_bytes < where.kernel_gpa)
    return base::Error("kernel range wraps");
  where.initrd_gpa = Wide(zero_page, kRamdiskImage, kExtRamdiskImage);
  where.initrd_bytes = Wide(zero_page, kRamdiskSize, kExtRamdiskSize);
  if (where.initrd_bytes == 0) where.initrd_gpa = 0;
  if (where.initrd_gpa + where.initrd_bytes < where.initrd_gpa)
    return base::Error("initrd range wraps");
  where.cmdline_gpa = Wide(zero_page, kCmdLinePtr, kExtCmdLinePtr);
  if (where.cmdline_gpa == 0) return base::Error("zero page: no command line");
  where.cmdline_max_bytes = std::min(cmdline_size, kMaxCmdlineBytes);
  return where;
}

}  // namespace attest
