// A minimal bzImage for tests and fuzz seeds: a setup header per boot.rst
// ("THE REAL-MODE KERNEL HEADER") and a payload of NOPs. Not for the shim
// itself (it allocates).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "bytes.h"

namespace shim::testing {

struct FakeBzImageOptions {
  uint16_t protocol = 0x020f;
  uint16_t xloadflags = 0x1;  // XLF_KERNEL_64
  uint8_t setup_sects = 3;
  uint32_t payload_bytes = 0x800;
  uint32_t kernel_alignment = 0x200000;
  bool relocatable = false;
  uint64_t pref_address = 0x1400000;
  uint32_t init_size = 0xdc1000;
  uint32_t initrd_addr_max = 0x7fffffff;
  uint32_t cmdline_size = 2047;
};

inline std::vector<std::byte> FakeBzImage(const FakeBzImageOptions& options = {}) {
  std::vector<std::byte> image((options.setup_sects + 1u) * 512u + options.payload_bytes,
                               std::byte{0x90});
  std::span<std::byte> bytes(image);
  // Every offset lies inside the 2 KiB of setup sectors: the stores cannot fail.
  (void)(StoreLe<uint8_t>(bytes, 0x1F1, options.setup_sects) &&
         StoreLe<uint32_t>(bytes, 0x1F4, options.payload_bytes / 16) &&
         StoreLe<uint16_t>(bytes, 0x1FE, 0xAA55) && StoreLe<uint8_t>(bytes, 0x200, 0xEB) &&
         StoreLe<uint8_t>(bytes, 0x201, 0x66) &&  // header ends at 0x202 + 0x66
         StoreLe<uint32_t>(bytes, 0x202, 0x53726448) &&
         StoreLe<uint16_t>(bytes, 0x206, options.protocol) &&
         StoreLe<uint8_t>(bytes, 0x211, 0x01) &&  // LOADED_HIGH
         StoreLe<uint32_t>(bytes, 0x22C, options.initrd_addr_max) &&
         StoreLe<uint32_t>(bytes, 0x230, options.kernel_alignment) &&
         StoreLe<uint8_t>(bytes, 0x234, options.relocatable ? 1 : 0) &&
         StoreLe<uint16_t>(bytes, 0x236, options.xloadflags) &&
         StoreLe<uint32_t>(bytes, 0x238, options.cmdline_size) &&
         StoreLe<uint64_t>(bytes, 0x258, options.pref_address) &&
         StoreLe<uint32_t>(bytes, 0x260, options.init_size));
  return image;
}

}  // namespace shim::testing
