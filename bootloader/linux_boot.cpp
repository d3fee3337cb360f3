#include "linux_boot.h"

#include "base/linux_boot_params.h"
#include "bytes.h"

namespace shim {
namespace {

using namespace linux_boot_params;  // NOLINT: the boot protocol's offsets


constexpr uint8_t kLoaderUndefined = 0xFF;  // type_of_loader for loaders without an ID

}  // namespace

Expected<KernelImage> ParseBzImage(std::span<const std::byte> image) {
  uint16_t boot_flag = 0, version = 0, xloadflags = 0;
  uint32_t magic = 0, syssize = 0;
  uint8_t setup_sects = 0, jump_length = 0, loadflags = 0, relocatable = 0;
  if (!LoadLe(image, kBootFlag, boot_flag) || boot_flag != 0xAA55)
    return Status::Fail("kernel: no boot flag 0xAA55 (not a bzImage)");
  if (!LoadLe(image, kHeaderMagic, magic) || magic != kHdrS)
    return Status::Fail("kernel: no HdrS setup header");
  if (!LoadLe(image, kVersion, version) || version < 0x020C)
    return Status::Fail("kernel: boot protocol older than 2.12 (no 64-bit entry)");
  KernelImage kernel;
  kernel.protocol = version;
  if (!LoadLe(image, kSetupSects, setup_sects) || !LoadLe(image, kSyssize, syssize) ||
      !LoadLe(image, kJump + 1, jump_length) || !LoadLe(image, kLoadflags, loadflags) ||
      !LoadLe(image, kXloadflags, xloadflags) || !LoadLe(image, kRelocatableKernel, relocatable) ||
      !LoadLe(image, kKernelAlignment, kernel.kernel_alignment) ||
      !LoadLe(image, kInitrdAddrMax, kernel.initrd_addr_max) ||
      !LoadLe(image, kCmdlineSize, kernel.cmdline_size) ||
      !LoadLe(image, kPrefAddress, kernel.pref_address) || !LoadLe(image, kInitSize, kernel.init_size))
    return Status::Fail("kernel: setup header truncated");
  if (!(xloadflags & kXlfKernel64)) return Status::Fail("kernel: no 64-bit entry point");
  if (!(loadflags & kLoadedHigh)) return Status::Fail("kernel: not a high-loading bzImage");
  // boot.rst: setup_sects 0 means 4.
  kernel.setup_bytes = (static_cast<uint32_t>(setup_sects == 0 ? 4 : setup_sects) + 1) * 512;
  kernel.payload_bytes = syssize * 16;
  kernel.header_end = static_cast<uint32_t>(kJump + 2 + jump_length);
  kernel.relocatable = relocatable != 0;
  if (kernel.header_end > kernel.setup_bytes || kernel.payload_bytes == 0 ||
      !Fits(kernel.setup_bytes, kernel.payload_bytes, image.size()))
    return Status::Fail("kernel: file is shorter than its header says");
  if (kernel.init_size < kernel.payload_bytes) return Status::Fail("kernel: init_size too small");
  return kernel;
}

Status BuildZeroPage(std::span<std::byte, kZeroPageBytes> zero_page,
                     std::span<const std::byte> image, const KernelImage& kernel,
                     const BootLayout& layout) {
  for (std::byte& b : zero_page) b = std::byte{0};
  // The setup header, copied from the image (boot.rst, 64-bit protocol).
  if (!Fits(kSetupSects, kernel.header_end - kSetupSects, image.size()))
    return Status::Fail("kernel: setup header outside the image");
  for (size_t offset = kSetupSects; offset < kernel.header_end; ++offset)
    zero_page[offset] = image[offset];

  if (layout.e820.empty() || layout.e820.size() > kMaxE820Entries)
    return Status::Fail("e820: 1..128 entries required");
  uint8_t loadflags = 0;
  const uint8_t heap = layout.heap_end_ptr != 0 ? kCanUseHeap : 0;
  bool stored = LoadLe(std::span<const std::byte>(zero_page), kLoadflags, loadflags) &&
                StoreLe<uint8_t>(zero_page, kTypeOfLoader, kLoaderUndefined) &&
                StoreLe<uint8_t>(zero_page, kLoadflags, static_cast<uint8_t>(loadflags | kLoadedHigh | heap)) &&
                StoreLe<uint16_t>(zero_page, kHeapEndPtr, layout.heap_end_ptr) &&
                StoreLe<uint32_t>(zero_page, kRamdiskImage, static_cast<uint32_t>(layout.initrd_gpa)) &&
                StoreLe<uint32_t>(zero_page, kRamdiskSize, static_cast<uint32_t>(layout.initrd_size)) &&
                StoreLe<uint32_t>(zero_page, kExtRamdiskImage, static_cast<uint32_t>(layout.initrd_gpa >> 32)) &&
                StoreLe<uint32_t>(zero_page, kExtRamdiskSize, static_cast<uint32_t>(layout.initrd_size >> 32)) &&
                StoreLe<uint32_t>(zero_page, kCmdLinePtr, static_cast<uint32_t>(layout.command_line_gpa)) &&
                StoreLe<uint32_t>(zero_page, kExtCmdLinePtr, static_cast<uint32_t>(layout.command_line_gpa >> 32)) &&
                StoreLe<uint64_t>(zero_page, kAcpiRsdpAddr, layout.acpi_rsdp_gpa) &&
                StoreLe<uint8_t>(zero_page, kE820EntriesCount, static_cast<uint8_t>(layout.e820.size()));
  for (size_t i = 0; stored && i < layout.e820.size(); ++i) {
    const size_t at = kE820Table + i * kE820EntryBytes;
    stored = StoreLe(zero_page, at, layout.e820[i].address) &&
             StoreLe(zero_page, at + 8, layout.e820[i].size) &&
             StoreLe(zero_page, at + 16, layout.e820[i].type);
  }
  if (!stored) return Status::Fail("zero page: field out of range");
  return Status::Ok();
}

}  // namespace shim
