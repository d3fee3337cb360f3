// Fuzz target: the frame-level code every NIC path runs over bytes a
// guest or the network wrote: ParseFrame (both length sources),
// VerifyChecksums, HashFrame, CompleteChecksums and SegmentTcp with the
// offsets and MSS the input names. No crash, no segment larger than
// headers + MSS, segments' payload adding up to the frame's.
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "base/fuzz_target.h"
#include "net/checksum.h"
#include "net/toeplitz.h"
#include "net/tx_offload.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 4) return 0;
  const uint16_t offset = static_cast<uint16_t>(data[0] | (data[1] << 8));
  const uint32_t mss = static_cast<uint32_t>(data[2] | (data[3] << 8)) & 0x3FFF;
  std::vector<std::byte> frame(size - 4);
  for (size_t i = 4; i < size; ++i) frame[i - 4] = std::byte{data[i]};
  (void)net::ParseFrame(frame);
  const net::FrameLayout layout = net::ParseFrame(frame, net::IpLength::kFromFrame);
  (void)net::VerifyChecksums(frame);
  std::array<std::byte, net::kRssKeyBytes> key{};
  for (size_t i = 0; i < key.size() && i < frame.size(); ++i) key[i] = frame[i];
  (void)net::HashFrame(key, frame);
  std::vector<std::byte> copy = frame;
  (void)net::CompleteChecksums(copy, {.ipv4_header = (data[0] & 1) != 0,
                                      .tcp = (data[1] & 1) != 0,
                                      .udp = (data[1] & 2) != 0,
                                      .l4_offset = offset});
  size_t payload = 0;
  const auto segmented = net::SegmentTcp(frame, mss, [&](std::span<const std::byte> segment) {
    const size_t headers = layout.l4_offset + layout.tcp_header_bytes;
    if (segment.size() < headers || segment.size() - headers > mss) __builtin_trap();
    payload += segment.size() - headers;
  });
  if (segmented && payload != frame.size() - (layout.l4_offset + layout.tcp_header_bytes))
    __builtin_trap();
  return 0;
}
