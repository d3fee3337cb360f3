// Checksums, TCP segmentation and the RSS hash against values defined
// elsewhere: RFC 1071's example, Microsoft's RSS verification vectors, and
// frames whose checksums an independent sum confirms.
#include <doctest/doctest.h>

#include <array>
#include <cstring>
#include <vector>

#include "base/be_bytes.h"
#include "net/checksum.h"
#include "net/testing/tcp_frame.h"
#include "net/toeplitz.h"
#include "net/tx_offload.h"

namespace {

std::vector<std::byte> Bytes(std::initializer_list<int> values) {
  std::vector<std::byte> out;
  for (int v : values) out.push_back(std::byte(v));
  return out;
}

using net::testing::TcpFrame;

// Seeds the TCP checksum field with the pseudo-header sum (what Linux's
// CHECKSUM_PARTIAL leaves for the device).
void SeedPseudoSum(std::vector<std::byte>& frame) {
  const net::FrameLayout layout = net::ParseFrame(frame);
  REQUIRE(layout.l4_offset == 34);
  base::StoreBe<uint16_t>(std::span(frame), 50,
                          net::FoldChecksum(net::PseudoHeaderSum(frame, layout, layout.l4_bytes)));
}

}  // namespace

TEST_CASE("net checksum: RFC 1071 §3's example sums to ddf2") {
  const auto bytes = Bytes({0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7});
  CHECK(net::FoldChecksum(net::AddChecksumWords(bytes)) == 0xddf2);
  // An odd length pads with a zero byte.
  CHECK(net::FoldChecksum(net::AddChecksumWords(Bytes({0x01, 0x02, 0x03}))) == 0x0402);
}

TEST_CASE("net checksum: completed IPv4 and TCP checksums verify; a flipped byte fails") {
  auto frame = TcpFrame(100);
  SeedPseudoSum(frame);
  REQUIRE(net::CompleteChecksums(frame, {.ipv4_header = true, .tcp = true, .l4_offset = 34}));
  auto verdict = net::VerifyChecksums(frame);
  CHECK(verdict.ip_ok);
  CHECK(verdict.tcp_ok);
  frame[60] ^= std::byte{1};
  verdict = net::VerifyChecksums(frame);
  CHECK(verdict.ip_ok);
  CHECK(verdict.tcp_failed);
  frame[20] ^= std::byte{1};  // inside the IPv4 header
  CHECK(net::VerifyChecksums(frame).ip_failed);
}

TEST_CASE("net checksum: offsets and lengths that lie are refused, not followed") {
  auto frame = TcpFrame(10);
  CHECK_FALSE(net::CompleteChecksums(frame, {.tcp = true, .l4_offset = frame.size() - 4}));
  CHECK_FALSE(net::CompleteChecksums(frame, {.udp = true, .l4_offset = 2}));
  base::StoreBe<uint16_t>(std::span(frame), 16, 4000);  // IPv4 total length past the frame
  CHECK(net::ParseFrame(frame).l4_offset == 0);
  auto short_header = TcpFrame(10);
  short_header[14] = std::byte{0x44};  // IHL 4
  CHECK_FALSE(net::ParseFrame(short_header).ipv4);
  auto doff = TcpFrame(10);
  doff[46] = std::byte{0xF0};  // 60-byte TCP header in a 30-byte segment
  CHECK(net::ParseFrame(doff).l4_offset == 0);
  auto tiny = Bytes({1, 2, 3});
  CHECK_FALSE(net::CompleteChecksums(tiny, {.ipv4_header = true}));
}

TEST_CASE("net tso: a 4000-byte send becomes MSS-sized segments that each verify") {
  auto frame = TcpFrame(4000, 0x19);  // FIN | PSH | ACK
  // What the driver hands over: IP length and checksums zeroed.
  base::StoreBe<uint16_t>(std::span(frame), 16, 0);
  std::vector<std::vector<std::byte>> segments;
  REQUIRE(net::SegmentTcp(frame, 1448, [&](std::span<const std::byte> s) {
    segments.emplace_back(s.begin(), s.end());
  }));
  REQUIRE(segments.size() == 3);
  std::vector<std::byte> payload;
  for (size_t i = 0; i < segments.size(); ++i) {
    const auto& s = segments[i];
    const auto verdict = net::VerifyChecksums(s);
    CHECK(verdict.ip_ok);
    CHECK(verdict.tcp_ok);
    CHECK(base::LoadBe<uint16_t>(s, 18) == 0x1234 + i);
    CHECK(base::LoadBe<uint32_t>(s, 38) == 1000 + i * 1448);
    const uint8_t flags = std::to_integer<uint8_t>(s[47]);
    CHECK(flags == (i == 2 ? 0x19 : 0x10));
    CHECK(base::LoadBe<uint16_t>(s, 16) == s.size() - 14);
    payload.insert(payload.end(), s.begin() + 54, s.end());
  }
  CHECK(payload == std::vector<std::byte>(frame.begin() + 54, frame.end()));
  CHECK_FALSE(net::SegmentTcp(frame, 0, [](auto) {}));
  CHECK_FALSE(net::SegmentTcp(Bytes({1, 2, 3}), 1448, [](auto) {}));
}

TEST_CASE("net vlan: a tag goes after the MAC addresses") {
  auto frame = TcpFrame(0);
  REQUIRE(net::InsertVlanTag(frame, 0x2064));
  CHECK(base::LoadBe<uint16_t>(frame, 12) == 0x8100);
  CHECK(base::LoadBe<uint16_t>(frame, 14) == 0x2064);
  const auto layout = net::ParseFrame(frame);
  CHECK(layout.ipv4);
  CHECK(layout.l4_offset == 38);
}

TEST_CASE("net rss: Microsoft's Toeplitz verification vectors") {
  // "Verifying the RSS Hash Calculation" (Windows driver docs): the key
  // and the first IPv4 rows (source 66.9.149.187:2794 -> 161.142.100.80:1766).
  const auto key = Bytes({0x6d, 0x5a, 0x56, 0xda, 0x25, 0x5b, 0x0e, 0xc2, 0x41, 0x67,
                          0x25, 0x3d, 0x43, 0xa3, 0x8f, 0xb0, 0xd0, 0xca, 0x2b, 0xcb,
                          0xae, 0x7b, 0x30, 0xb4, 0x77, 0xcb, 0x2d, 0xa3, 0x80, 0x30,
                          0xf2, 0x0c, 0x6a, 0x42, 0xb7, 0x3b, 0xbe, 0xac, 0x01, 0xfa});
  const std::span<const std::byte, net::kRssKeyBytes> k(key.data(), net::kRssKeyBytes);
  const auto two = Bytes({66, 9, 149, 187, 161, 142, 100, 80});
  CHECK(net::ToeplitzHash(k, two) == 0x323e8fc2);
  auto four = two;
  for (int b : {0x0a, 0xea, 0x06, 0xe6}) four.push_back(std::byte(b));  // 2794, 1766
  CHECK(net::ToeplitzHash(k, four) == 0x51ccc178);
  // The same tuple as a frame.
  auto frame = TcpFrame(0);
  const uint8_t src[4] = {66, 9, 149, 187}, dst[4] = {161, 142, 100, 80};
  std::memcpy(&frame[26], src, 4);
  std::memcpy(&frame[30], dst, 4);
  base::StoreBe<uint16_t>(std::span(frame), 34, 2794);
  base::StoreBe<uint16_t>(std::span(frame), 36, 1766);
  const net::RssHash hash = net::HashFrame(k, frame);
  CHECK(hash.value == 0x51ccc178);
  CHECK(hash.type == net::kHashTcpIpv4);
}
