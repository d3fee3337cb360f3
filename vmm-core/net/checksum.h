// The Internet checksum (RFC 1071) and the frame parsing that offloads
// need: where an Ethernet frame's IP and TCP/UDP headers are, checked
// against the frame's length (a guest or the network wrote every byte).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

namespace net {

inline constexpr uint16_t kEtherTypeIpv4 = 0x0800;
inline constexpr uint16_t kEtherTypeIpv6 = 0x86DD;
inline constexpr uint16_t kEtherTypeVlan = 0x8100;
inline constexpr uint8_t kProtocolTcp = 6;
inline constexpr uint8_t kProtocolUdp = 17;
inline constexpr size_t kEthernetHeaderBytes = 14;

// One's-complement sum of `bytes` as big-endian 16-bit words (an odd last
// byte padded with zero), added to `sum`; not folded.
uint32_t AddChecksumWords(std::span<const std::byte> bytes, uint32_t sum = 0);
// Folds a sum to 16 bits (RFC 1071 §4.1), not complemented.
uint16_t FoldChecksum(uint64_t sum);

struct FrameLayout {
  size_t l3_offset = 0;  // after the Ethernet header (and one VLAN tag)
  uint16_t ethertype = 0;
  bool ipv4 = false;
  bool ipv6 = false;
  size_t l3_header_bytes = 0;
  // IPv4: more-fragments or a fragment offset (no L4 header to trust).
  bool fragment = false;
  uint8_t l4_protocol = 0;  // valid when l4_offset != 0
  size_t l4_offset = 0;     // 0: no TCP/UDP header found
  size_t l4_bytes = 0;      // the L4 segment as the IP header bounds it
  size_t tcp_header_bytes = 0;  // TCP only: doff * 4, inside l4_bytes
};

// Where an IP packet's length comes from: its header (a received frame),
// or the frame's end (a TSO frame, whose IP length fields the driver
// zeroed for the device to fill in).
enum class IpLength { kFromHeader, kFromFrame };

// Where the headers of an Ethernet II frame are. IPv4 (options allowed)
// and IPv6 without extension headers; anything else yields only l3_offset
// and ethertype. Lengths that lie (IHL < 5, total length past the frame,
// TCP data offset past the segment) yield no L4 header.
FrameLayout ParseFrame(std::span<const std::byte> frame,
                       IpLength length = IpLength::kFromHeader);

// The pseudo-header sum (RFC 793 §3.1, RFC 8200 §8.1) for `layout`'s
// L4 segment of `l4_bytes` bytes, not folded.
uint32_t PseudoHeaderSum(std::span<const std::byte> frame, const FrameLayout& layout,
                         size_t l4_bytes);

// What a receiving NIC reports about a frame's checksums (MANA's RX
// completion flags, NDIS's receive checksum info).
struct ChecksumVerdict {
  bool ip_ok = false, ip_failed = false;
  bool tcp_ok = false, tcp_failed = false;
  bool udp_ok = false, udp_failed = false;
};
ChecksumVerdict VerifyChecksums(std::span<const std::byte> frame);

}  // namespace net
