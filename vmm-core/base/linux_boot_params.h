// Offsets and flags of Linux's x86 boot protocol (Documentation/arch/x86/
// boot.rst, zero-page.rst), shared by the boot shim, which fills a zero
// page, and measured boot, which reads one (attest/vtl0_boot_locator.h).
// Header-only and freestanding.
#pragma once

#include <cstddef>
#include <cstdint>

namespace linux_boot_params {

// Offsets in the bzImage file, which are also the setup header's offsets
// inside boot_params (boot.rst, "THE REAL-MODE KERNEL HEADER").
inline constexpr size_t kSetupSects = 0x1F1;
inline constexpr size_t kSyssize = 0x1F4;
inline constexpr size_t kBootFlag = 0x1FE;
inline constexpr size_t kJump = 0x200;
inline constexpr size_t kHeaderMagic = 0x202;
inline constexpr size_t kVersion = 0x206;
inline constexpr size_t kTypeOfLoader = 0x210;
inline constexpr size_t kLoadflags = 0x211;
inline constexpr size_t kRamdiskImage = 0x218;
inline constexpr size_t kRamdiskSize = 0x21C;
inline constexpr size_t kHeapEndPtr = 0x224;
inline constexpr size_t kCmdLinePtr = 0x228;
inline constexpr size_t kInitrdAddrMax = 0x22C;
inline constexpr size_t kKernelAlignment = 0x230;
inline constexpr size_t kRelocatableKernel = 0x234;
inline constexpr size_t kXloadflags = 0x236;
inline constexpr size_t kCmdlineSize = 0x238;
inline constexpr size_t kPrefAddress = 0x258;
inline constexpr size_t kInitSize = 0x260;

// zero-page.rst offsets.
inline constexpr size_t kAcpiRsdpAddr = 0x070;
inline constexpr size_t kExtRamdiskImage = 0x0C0;
inline constexpr size_t kExtRamdiskSize = 0x0C4;
inline constexpr size_t kExtCmdLinePtr = 0x0C8;
inline constexpr size_t kE820EntriesCount = 0x1E8;
inline constexpr size_t kE820Table = 0x2D0;
inline constexpr size_t kE820EntryBytes = 20;

inline constexpr uint32_t kHdrS = 0x53726448;     // "HdrS"
inline constexpr uint8_t kLoadedHigh = 0x01;      // loadflags bit 0
inline constexpr uint8_t kCanUseHeap = 0x80;      // loadflags bit 7
inline constexpr uint16_t kXlfKernel64 = 0x0001;  // xloadflags bit 0: 64-bit entry at +0x200

}  // namespace linux_boot_params
