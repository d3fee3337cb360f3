#include "net/toeplitz.h"

#include <array>

#include "net/checksum.h"

namespace net {

uint32_t ToeplitzHash(std::span<const std::byte, kRssKeyBytes> key,
                      std::span<const std::byte> input) {
  // For every set input bit i (most significant first), XOR in the 32
  // key bits starting at bit i. Inputs longer than the key's 288 usable
  // bits (36 bytes: an IPv6 4-tuple) are cut there.
  uint32_t hash = 0;
  uint64_t window = 0;  // key bits [i, i + 64)
  for (size_t k = 0; k < 8; ++k) window = (window << 8) | std::to_integer<uint8_t>(key[k]);
  size_t next_key_byte = 8;
  const size_t usable = std::min(input.size(), kRssKeyBytes - 4);
  for (size_t byte = 0; byte < usable; ++byte) {
    const auto value = std::to_integer<uint8_t>(input[byte]);
    for (int bit = 7; bit >= 0; --bit) {
      if ((value >> bit) & 1) hash ^= static_cast<uint32_t>(window >> 32);
      window <<= 1;
    }
    // Refill the low byte the eight shifts emptied.
    if (next_key_byte < kRssKeyBytes) window |= std::to_integer<uint8_t>(key[next_key_byte++]);
  }
  return hash;
}

RssHash HashFrame(std::span<const std::byte, kRssKeyBytes> key, std::span<const std::byte> frame,
                  uint32_t enabled) {
  const FrameLayout layout = ParseFrame(frame);
  if (!layout.ipv4 && !layout.ipv6) return {};
  std::array<std::byte, 36> input{};
  size_t length = 0;
  const auto append = [&](size_t offset, size_t bytes) {
    for (size_t i = 0; i < bytes; ++i) input[length++] = frame[offset + i];
  };
  const size_t address_bytes = layout.ipv4 ? 4 : 16;
  append(layout.l3_offset + (layout.ipv4 ? 12 : 8), 2 * address_bytes);
  uint32_t type = layout.ipv4 ? kHashIpv4 : kHashIpv6;
  if (layout.l4_offset != 0) {
    const uint32_t l4_type = layout.l4_protocol == kProtocolTcp
                                 ? (layout.ipv4 ? kHashTcpIpv4 : kHashTcpIpv6)
                                 : (layout.ipv4 ? kHashUdpIpv4 : kHashUdpIpv6);
    if ((enabled & l4_type) != 0) {
      append(layout.l4_offset, 4);  // source port, destination port
      type = l4_type;
    }
  }
  if ((enabled & type) == 0) return {};
  return {ToeplitzHash(key, std::span<const std::byte>(input.data(), length)), type};
}

}  // namespace net
