#include "net/tx_offload.h"

#include <algorithm>

#include "base/be_bytes.h"
#include "base/checked.h"
#include "net/checksum.h"

namespace net {
namespace {

// TCP flags (RFC 9293 §3.1).
constexpr uint8_t kTcpFin = 0x01;
constexpr uint8_t kTcpPsh = 0x08;
constexpr uint8_t kTcpCwr = 0x80;
// IPv4's ID advances once per segment: more would repeat an ID.
constexpr size_t kMaxSegmentCount = 0xFFFF;

void StoreIpv4HeaderChecksum(std::span<std::byte> frame, const FrameLayout& layout) {
  const std::span<std::byte> header = frame.subspan(layout.l3_offset, layout.l3_header_bytes);
  base::StoreBe<uint16_t>(header, 10, 0);
  base::StoreBe<uint16_t>(header, 10, static_cast<uint16_t>(~FoldChecksum(AddChecksumWords(header))));
}

}  // namespace

base::Result<void> CompleteChecksums(std::span<std::byte> frame, const TxChecksumRequest& request) {
  if (request.ipv4_header) {
    const FrameLayout layout = ParseFrame(frame, IpLength::kFromFrame);
    if (!layout.ipv4) return base::Error("IPv4 header checksum asked for a frame without one");
    StoreIpv4HeaderChecksum(frame, layout);
  }
  if (!request.tcp && !request.udp) return base::Ok();
  const size_t field = request.tcp ? 16 : 6;  // RFC 9293 §3.1, RFC 768
  if (request.l4_offset < kEthernetHeaderBytes ||
      !base::RangeFits<size_t>(request.l4_offset, field + 2, frame.size()))
    return base::Error::Format("transport offset %zu does not fit a %zu-byte frame",
                               request.l4_offset, frame.size());
  const std::span<std::byte> l4 = frame.subspan(request.l4_offset);
  uint16_t checksum = static_cast<uint16_t>(~FoldChecksum(AddChecksumWords(l4)));
  if (request.udp && checksum == 0) checksum = 0xFFFF;  // RFC 768: 0 means "none"
  base::StoreBe<uint16_t>(l4, field, checksum);
  return base::Ok();
}

base::Result<void> InsertVlanTag(std::vector<std::byte>& frame, uint16_t tci) {
  if (frame.size() < kEthernetHeaderBytes) return base::Error("frame shorter than its header");
  const std::byte tag[4] = {std::byte{0x81}, std::byte{0x00}, std::byte(tci >> 8),
                            std::byte(tci & 0xFF)};
  frame.insert(frame.begin() + 12, std::begin(tag), std::end(tag));
  return base::Ok();
}

base::Result<void> SegmentTcp(std::span<const std::byte> frame, uint32_t mss,
                              const std::function<void(std::span<const std::byte>)>& emit) {
  const FrameLayout layout = ParseFrame(frame, IpLength::kFromFrame);
  if (layout.l4_offset == 0 || layout.l4_protocol != kProtocolTcp)
    return base::Error("segmentation asked for a frame that is not TCP over IPv4 or IPv6");
  if (mss == 0) return base::Error("segmentation with an MSS of 0");
  const size_t headers = layout.l4_offset + layout.tcp_header_bytes;
  // The driver leaves the IP length fields to the device (zeroed, or
  // stale): the payload is what follows the headers in the frame.
  const std::span<const std::byte> payload = frame.subspan(headers);
  const size_t count = std::max<size_t>(1, (payload.size() + mss - 1) / mss);
  if (count > kMaxSegmentCount) return base::Error("segmentation into too many segments");
  const uint32_t first_sequence = base::LoadBe<uint32_t>(frame, layout.l4_offset + 4);
  const uint8_t flags = std::to_integer<uint8_t>(frame[layout.l4_offset + 13]);
  const uint16_t first_id =
      layout.ipv4 ? base::LoadBe<uint16_t>(frame, layout.l3_offset + 4) : uint16_t{0};
  std::vector<std::byte> segment;
  for (size_t i = 0; i < count; ++i) {
    const size_t start = i * mss;
    const size_t bytes = std::min<size_t>(mss, payload.size() - std::min(start, payload.size()));
    segment.assign(frame.begin(), frame.begin() + static_cast<std::ptrdiff_t>(headers));
    segment.insert(segment.end(), payload.begin() + static_cast<std::ptrdiff_t>(start),
                   payload.begin() + static_cast<std::ptrdiff_t>(start + bytes));
    const std::span<std::byte> out(segment);
    const size_t l4_bytes = layout.tcp_header_bytes + bytes;
    if (layout.ipv4) {
      base::StoreBe<uint16_t>(out, layout.l3_offset + 2,
                              static_cast<uint16_t>(layout.l3_header_bytes + l4_bytes));
      base::StoreBe<uint16_t>(out, layout.l3_offset + 4, static_cast<uint16_t>(first_id + i));
      StoreIpv4HeaderChecksum(out, layout);
    } else {
      base::StoreBe<uint16_t>(out, layout.l3_offset + 4, static_cast<uint16_t>(l4_bytes));
    }
    const std::span<std::byte> tcp = out.subspan(layout.l4_offset);
    base::StoreBe<uint32_t>(tcp, 4, static_cast<uint32_t>(first_sequence + start));
    uint8_t segment_flags = flags;
    if (i + 1 != count) segment_flags &= static_cast<uint8_t>(~(kTcpFin | kTcpPsh));
    if (i != 0) segment_flags &= static_cast<uint8_t>(~kTcpCwr);
    tcp[13] = std::byte{segment_flags};
    base::StoreBe<uint16_t>(tcp, 16, 0);
    const uint64_t sum = uint64_t{PseudoHeaderSum(out, layout, l4_bytes)} + AddChecksumWords(tcp);
    base::StoreBe<uint16_t>(tcp, 16, static_cast<uint16_t>(~FoldChecksum(sum)));
    emit(out);
  }
  return base::Ok();
}

}  // namespace net
