#include "net/checksum.h"

#include "base/be_bytes.h"

namespace net {
namespace {

uint16_t Be16(std::span<const std::byte> bytes, size_t offset) {
  return base::LoadBe<uint16_t>(bytes, offset);
}

}  // namespace

uint32_t AddChecksumWords(std::span<const std::byte> bytes, uint32_t sum) {
  uint64_t total = sum;
  size_t i = 0;
  for (; i + 1 < bytes.size(); i += 2) total += Be16(bytes, i);
  if (i < bytes.size()) total += std::to_integer<uint32_t>(bytes[i]) << 8;
  return FoldChecksum(total);
}

uint16_t FoldChecksum(uint64_t sum) {
  while (sum >> 16) sum = (sum & 0xFFFF) + (sum >> 16);
  return static_cast<uint16_t>(sum);
}

FrameLayout ParseFrame(std::span<const std::byte> frame, IpLength length) {
  FrameLayout layout;
  if (frame.size() < kEthernetHeaderBytes) return layout;
  size_t offset = 12;
  uint16_t ethertype = Be16(frame, offset);
  if (ethertype == kEtherTypeVlan) {
    if (frame.size() < kEthernetHeaderBytes + 4) return layout;
    offset += 4;
    ethertype = Be16(frame, offset);
  }
  layout.ethertype = ethertype;
  layout.l3_offset = offset + 2;
  const std::span<const std::byte> l3 = frame.subspan(layout.l3_offset);
  size_t l4_bytes = 0;
  if (ethertype == kEtherTypeIpv4) {
    // RFC 791 §3.1.
    if (l3.size() < 20 || (std::to_integer<uint8_t>(l3[0]) >> 4) != 4) return layout;
    const size_t ihl = (std::to_integer<size_t>(l3[0]) & 0xF) * 4;
    const size_t total = length == IpLength::kFromHeader ? Be16(l3, 2) : l3.size();
    if (ihl < 20 || total < ihl || total > l3.size()) return layout;
    layout.ipv4 = true;
    layout.l3_header_bytes = ihl;
    layout.fragment = (Be16(l3, 6) & 0x3FFF) != 0;
    layout.l4_protocol = std::to_integer<uint8_t>(l3[9]);
    l4_bytes = total - ihl;
  } else if (ethertype == kEtherTypeIpv6) {
    // RFC 8200 §3: a fixed 40-byte header; extension headers not followed.
    if (l3.size() < 40 || (std::to_integer<uint8_t>(l3[0]) >> 4) != 6) return layout;
    const size_t payload = length == IpLength::kFromHeader ? Be16(l3, 4) : l3.size() - 40;
    if (payload > l3.size() - 40) return layout;
    layout.ipv6 = true;
    layout.l3_header_bytes = 40;
    layout.l4_protocol = std::to_integer<uint8_t>(l3[6]);
    l4_bytes = payload;
  } else {
    return layout;
  }
  if (layout.fragment) return layout;
  const size_t l4_offset = layout.l3_offset + layout.l3_header_bytes;
  if (layout.l4_protocol == kProtocolTcp) {
    if (l4_bytes < 20) return layout;
    const size_t doff = (std::to_integer<size_t>(frame[l4_offset + 12]) >> 4) * 4;
    if (doff < 20 || doff > l4_bytes) return layout;
    layout.tcp_header_bytes = doff;
  } else if (layout.l4_protocol == kProtocolUdp) {
    if (l4_bytes < 8) return layout;
  } else {
    return layout;
  }
  layout.l4_offset = l4_offset;
  layout.l4_bytes = l4_bytes;
  return layout;
}

uint32_t PseudoHeaderSum(std::span<const std::byte> frame, const FrameLayout& layout,
                         size_t l4_bytes) {
  const std::span<const std::byte> l3 = frame.subspan(layout.l3_offset);
  uint64_t sum = 0;
  if (layout.ipv4) {
    sum = AddChecksumWords(l3.subspan(12, 8));  // source, destination
  } else {
    sum = AddChecksumWords(l3.subspan(8, 32));
  }
  sum += layout.l4_protocol;
  sum += (l4_bytes >> 16) + (l4_bytes & 0xFFFF);
  return FoldChecksum(sum);
}

ChecksumVerdict VerifyChecksums(std::span<const std::byte> frame) {
  ChecksumVerdict verdict;
  const FrameLayout layout = ParseFrame(frame);
  if (layout.ipv4) {
    const bool good =
        FoldChecksum(AddChecksumWords(frame.subspan(layout.l3_offset, layout.l3_header_bytes))) ==
        0xFFFF;
    verdict.ip_ok = good;
    verdict.ip_failed = !good;
    if (!good) return verdict;
  }
  if (layout.l4_offset == 0) return verdict;
  const std::span<const std::byte> l4 = frame.subspan(layout.l4_offset, layout.l4_bytes);
  const bool udp = layout.l4_protocol == kProtocolUdp;
  // UDP over IPv4 may carry no checksum (RFC 768): nothing to verify.
  if (udp && layout.ipv4 && Be16(l4, 6) == 0) return verdict;
  const uint64_t sum = uint64_t{PseudoHeaderSum(frame, layout, layout.l4_bytes)} +
                       AddChecksumWords(l4);
  const bool good = FoldChecksum(sum) == 0xFFFF;
  (udp ? verdict.udp_ok : verdict.tcp_ok) = good;
  (udp ? verdict.udp_failed : verdict.tcp_failed) = !good;
  return verdict;
}

}  // namespace net
