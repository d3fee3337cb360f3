// Receive-side scaling's hash (Microsoft's "RSS hashing types" /
// Toeplitz, as NDIS and MANA define it): a 40-byte secret key slid over
// the input bits. What the input is for a frame: IPv4/IPv6 source and
// destination addresses, then TCP/UDP source and destination ports when
// the packet has them (the 4-tuple), else the addresses only (2-tuple).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace net {

inline constexpr size_t kRssKeyBytes = 40;

uint32_t ToeplitzHash(std::span<const std::byte, kRssKeyBytes> key,
                      std::span<const std::byte> input);

// NDIS hash-type bits (what MANA's RX completion reports in rx_hashtype).
inline constexpr uint32_t kHashIpv4 = 1u << 0;
inline constexpr uint32_t kHashTcpIpv4 = 1u << 1;
inline constexpr uint32_t kHashUdpIpv4 = 1u << 2;
inline constexpr uint32_t kHashIpv6 = 1u << 3;
inline constexpr uint32_t kHashTcpIpv6 = 1u << 4;
inline constexpr uint32_t kHashUdpIpv6 = 1u << 5;
inline constexpr uint32_t kHashAll = (1u << 6) - 1;

struct RssHash {
  uint32_t value = 0;
  uint32_t type = 0;  // one kHash* bit; 0: not an IP frame, no hash
};
// Only the `enabled` types: a TCP/UDP frame whose 4-tuple type is not
// enabled is hashed on its addresses if that type is, else not at all
// (NDIS "RSS hashing types": the NIC falls back to the IP hash).
RssHash HashFrame(std::span<const std::byte, kRssKeyBytes> key, std::span<const std::byte> frame,
                  uint32_t enabled = kHashAll);

}  // namespace net
