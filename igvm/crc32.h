// CRC-32 as IGVM uses it (spec digest §1.1): IEEE 802.3 / zlib, reflected
// polynomial 0xEDB88320, initial value and final XOR 0xFFFFFFFF.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace igvm {

// Continues a CRC over more bytes; start with crc = 0.
uint32_t Crc32Update(uint32_t crc, std::span<const std::byte> bytes);

}  // namespace igvm
