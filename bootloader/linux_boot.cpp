#include "linux_boot.h"

#include "bytes.h"

namespace shim {
namespace {

// Offsets in the bzImage file, which are also the setup header's offsets
// inside boot_params (boot.rst, "THE REAL-MODE KERNEL HEADER").
constexpr size_t kSetupSects = 0x1F1;
constexpr size_t kSyssize = 0x1F4;
constexpr size_t kBootFlag = 0x1FE;
constexpr size_t kJump = 0x200;
constexpr size_t kHeaderMagic = 0x202;
constexpr size_t kVersion = 0x206;
constexpr size_t kTypeOfLoader = 0x210;
constexpr size_t kLoadflags = 0x211;
constexpr size_t kRamdiskImage = 0x218;
constexpr size_t kRamdiskSize = 0x21C;
constexpr size_t kHeapEndPtr = 0x224;
constexpr size_t kCmdLinePtr = 0x228;
constexpr size_t kInitrdAddrMax = 0x22C;
constexpr size_t kKernelAlignment = 0x230;
constexpr size_t kRelocatableKernel = 0x234;
constexpr size_t kXloadflags = 0x236;
constexpr size_t kCmdlineSize = 0x238;
constexpr size_t kPrefAddress = 0x258;
constexpr size_t kInitSize = 0x260;

// zero-page.rst offsets.
constexpr size_t kAcpiRsdpAddr = 0x070;
constexpr size_t kExtRamdiskImage = 0x0C0;
constexpr size_t kExtRamdiskSize = 0x0C4;
constexpr size_t kExtCmdLinePtr = 0x0C8;
constexpr size_t kE820EntriesCount = 0x1E8;
constexpr size_t kE820Table = 0x2D0;
constexpr size_t kE820EntryBytes = 20;

constexpr uint32_t kHdrS = 0x53726448;     // "HdrS"
constexpr uint8_t kLoadedHigh = 0x01;      // loadflags bit 0
constexpr uint8_t kCanUseHeap = 0x80;      // loadflags bit 7
constexpr uint16_t kXlfKernel64 = 0x0001;  // xloadflags bit 0: 64-bit entry at +0x200
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
