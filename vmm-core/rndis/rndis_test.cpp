// RNDIS as hv_netvsc 6.1 speaks it (mana-netvsc.md §5): the control
// sequence its probe runs, answered the way its checks need, and messages
// whose lengths and offsets lie refused without reading outside them.
#include <doctest/doctest.h>

#include <array>
#include <cstring>
#include <optional>
#include <vector>

#include "base/le_bytes.h"
#include "net/toeplitz.h"
#include "rndis/control.h"
#include "rndis/message.h"

namespace {

// A guest message: type, length patched, then the words.
std::vector<std::byte> Message(uint32_t type, std::vector<uint32_t> words,
                               std::vector<std::byte> tail = {}) {
  std::vector<std::byte> out(8 + 4 * words.size());
  (void)base::StoreLe(std::span<std::byte>(out), 0, type);
  for (size_t i = 0; i < words.size(); ++i)
    (void)base::StoreLe(std::span<std::byte>(out), 8 + 4 * i, words[i]);
  out.insert(out.end(), tail.begin(), tail.end());
  (void)base::StoreLe(std::span<std::byte>(out), 4, static_cast<uint32_t>(out.size()));
  return out;
}

uint32_t Word(std::span<const std::byte> bytes, size_t offset) {
  uint32_t value = 0;
  REQUIRE(base::LoadLe(bytes, offset, value));
  return value;
}

std::vector<std::byte> Query(uint32_t id, uint32_t oid, std::vector<std::byte> info = {}) {
  return Message(rndis::msg::kQuery, {id, oid, static_cast<uint32_t>(info.size()),
                                      info.empty() ? 0u : 20u, 0},
                 info);
}
std::vector<std::byte> Set(uint32_t id, uint32_t oid, std::vector<std::byte> info) {
  return Message(rndis::msg::kSet, {id, oid, static_cast<uint32_t>(info.size()), 20, 0}, info);
}

// QUERY_CMPLT as hv_netvsc reads it (rndis_filter_query_device): request
// ID, status; offset >= 16 and offset + length inside the message.
struct QueryAnswer {
  uint32_t status = 0;
  std::vector<std::byte> info;
};
QueryAnswer ReadQueryComplete(const std::vector<std::byte>& reply, uint32_t id) {
  REQUIRE(reply.size() >= 24);
  CHECK(Word(reply, 0) == (rndis::msg::kQuery | rndis::msg::kCompletion));
  CHECK(Word(reply, 4) == reply.size());
  CHECK(Word(reply, 8) == id);
  const uint32_t length = Word(reply, 16), offset = Word(reply, 20);
  QueryAnswer answer{Word(reply, 12), {}};
  if (length != 0) {
    REQUIRE(offset >= 16);
    REQUIRE(uint64_t{offset} + length <= reply.size() - 8);
    answer.info.assign(reply.begin() + 8 + offset, reply.begin() + 8 + offset + length);
  }
  return answer;
}

std::vector<std::byte> U32(uint32_t v) {
  return {std::byte(v), std::byte(v >> 8), std::byte(v >> 16), std::byte(v >> 24)};
}

}  // namespace

TEST_CASE("rndis: hv_netvsc 6.1's probe sequence gets the answers it needs") {
  rndis::Control control({.mac = {0x00, 0x15, 0x5D, 0x01, 0x02, 0x03}, .mtu = 1500});
  // INITIALIZE {id, 1, 0, max_xfer 0x4000}.
  auto reply = control.OnMessage(Message(rndis::msg::kInitialize, {7, 1, 0, 0x4000}));
  REQUIRE(reply.message.size() == 52);
  CHECK(!reply.refused);
  CHECK(Word(reply.message, 0) == 0x80000002);
  CHECK(Word(reply.message, 8) == 7);
  CHECK(Word(reply.message, 12) == rndis::status::kSuccess);
  CHECK(Word(reply.message, 24) == 1);  // RNDIS_DF_CONNECTIONLESS
  CHECK(Word(reply.message, 32) >= 1);  // max packets per message
  CHECK(control.initialized());

  CHECK(ReadQueryComplete(control.OnMessage(Query(8, rndis::oid::kGenMaximumFrameSize)).message, 8)
            .info == U32(1500));
  const auto mac = ReadQueryComplete(control.OnMessage(Query(9, rndis::oid::k8023PermanentAddress)).message, 9);
  REQUIRE(mac.info.size() == 6);
  CHECK(mac.info[3] == std::byte{0x01});
  // The offload capabilities: the request carries an NDIS_OFFLOAD header;
  // the answer must be type 0xA7, revision >= 1, 112 <= size <= 156.
  std::vector<std::byte> offload_request(156);
  offload_request[0] = std::byte{0xA7};
  const auto caps = ReadQueryComplete(
      control.OnMessage(Query(10, rndis::oid::kTcpOffloadHardwareCaps, offload_request)).message, 10);
  CHECK(caps.status == rndis::status::kSuccess);
  REQUIRE(caps.info.size() >= 4);
  CHECK(caps.info[0] == std::byte{0xA7});
  CHECK(caps.info[1] >= std::byte{1});
  const uint32_t size = static_cast<uint32_t>(caps.info[2]) | static_cast<uint32_t>(caps.info[3]) << 8;
  CHECK(size >= 112);
  CHECK(size <= 156);
  // SET OFFLOAD_PARAMETERS must succeed or the probe fails.
  std::vector<std::byte> params(28);
  params[0] = std::byte{0x80};
  reply = control.OnMessage(Set(11, rndis::oid::kTcpOffloadParameters, params));
  CHECK(Word(reply.message, 0) == 0x80000005);
  CHECK(Word(reply.message, 8) == 11);
  CHECK(Word(reply.message, 12) == rndis::status::kSuccess);
  CHECK(ReadQueryComplete(control.OnMessage(Query(12, rndis::oid::kGenMediaConnectStatus)).message, 12)
            .info == U32(0));
  CHECK(ReadQueryComplete(control.OnMessage(Query(13, rndis::oid::kGenLinkSpeed)).message, 13).info ==
        U32(100'000'000));
  // RSS capabilities are not offered: the guest stays on one channel.
  const auto rss = ReadQueryComplete(control.OnMessage(Query(14, 0x00010203)).message, 14);
  CHECK(rss.status == rndis::status::kNotSupported);
  // ip link up: the packet filter.
  reply = control.OnMessage(Set(15, rndis::oid::kGenCurrentPacketFilter, U32(0x0D)));
  CHECK(Word(reply.message, 12) == rndis::status::kSuccess);
  CHECK(control.packet_filter() == 0x0D);
  reply = control.OnMessage(Message(rndis::msg::kKeepalive, {16}));
  CHECK(Word(reply.message, 0) == 0x80000008);
  CHECK(Word(reply.message, 8) == 16);
  // HALT: no reply, and nothing after it succeeds.
  reply = control.OnMessage(Message(rndis::msg::kHalt, {17}));
  CHECK(reply.message.empty());
  CHECK(control.halted());
  CHECK(ReadQueryComplete(control.OnMessage(Query(18, rndis::oid::kGenLinkSpeed)).message, 18).status ==
        rndis::status::kFailure);
}

TEST_CASE("rndis: the packet filter decides which received frames the guest gets") {
  rndis::Control control({.mac = {0x00, 0x15, 0x5D, 0x01, 0x02, 0x03}});
  auto frame = [](std::array<uint8_t, 6> destination) {
    std::vector<std::byte> bytes(60);
    for (size_t i = 0; i < 6; ++i) bytes[i] = std::byte{destination[i]};
    return bytes;
  };
  const auto ours = frame({0x00, 0x15, 0x5D, 0x01, 0x02, 0x03});
  const auto other = frame({0x00, 0x15, 0x5D, 0x01, 0x02, 0x04});
  const auto broadcast = frame({0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF});
  const auto multicast = frame({0x01, 0x00, 0x5E, 0x00, 0x00, 0xFB});
  // Before INITIALIZE, and with filter 0 ("receive nothing"), nothing.
  CHECK(!control.Accepts(ours));
  (void)control.OnMessage(Message(rndis::msg::kInitialize, {1, 1, 0, 0x4000}));
  CHECK(!control.Accepts(ours));
  CHECK(!control.Accepts(broadcast));
  // hv_netvsc's `ip link up`: DIRECTED | ALL_MULTICAST | BROADCAST.
  (void)control.OnMessage(Set(2, rndis::oid::kGenCurrentPacketFilter, U32(0x0D)));
  CHECK(control.Accepts(ours));
  CHECK(!control.Accepts(other));
  CHECK(control.Accepts(broadcast));
  CHECK(control.Accepts(multicast));
  CHECK(!control.Accepts(std::span(ours).first(5)));  // no whole destination
  (void)control.OnMessage(Set(3, rndis::oid::kGenCurrentPacketFilter, U32(rndis::filter::kDirected)));
  CHECK(control.Accepts(ours));
  CHECK(!control.Accepts(broadcast));
  CHECK(!control.Accepts(multicast));
  (void)control.OnMessage(Set(4, rndis::oid::kGenCurrentPacketFilter, U32(rndis::filter::kPromiscuous)));
  CHECK(control.Accepts(other));
  CHECK(control.Accepts(broadcast));
  (void)control.OnMessage(Message(rndis::msg::kHalt, {5}));
  CHECK(!control.Accepts(ours));
}

TEST_CASE("rndis: lying control messages get an error reply with their request ID, or none") {
  rndis::Control control({});
  // Before INITIALIZE.
  CHECK(ReadQueryComplete(control.OnMessage(Query(1, rndis::oid::kGenLinkSpeed)).message, 1).status ==
        rndis::status::kFailure);
  REQUIRE(!control.OnMessage(Message(rndis::msg::kInitialize, {2, 1, 0, 0x4000})).refused);
  // The information buffer outside the message, or over the fixed fields.
  for (const auto& [length, offset] : std::vector<std::pair<uint32_t, uint32_t>>{
           {4, 200}, {0xFFFFFFFF, 20}, {4, 0xFFFFFFF0}, {4, 8}}) {
    const auto reply = control.OnMessage(
        Message(rndis::msg::kQuery, {3, rndis::oid::kGenLinkSpeed, length, offset, 0}, U32(0)));
    CHECK(reply.refused);
    CHECK(ReadQueryComplete(reply.message, 3).status == rndis::status::kInvalidData);
  }
  // MessageLength that disagrees with the bytes, a body too short to hold
  // a request ID: nobody to answer.
  auto lying = Query(4, rndis::oid::kGenLinkSpeed);
  (void)base::StoreLe(std::span<std::byte>(lying), 4, uint32_t{1000});
  CHECK(control.OnMessage(lying).message.empty());
  CHECK(control.OnMessage(Message(rndis::msg::kQuery, {})).message.empty());
  CHECK(control.OnMessage(std::vector<std::byte>(3)).refused);
  // Unknown OIDs, a filter of the wrong size, a guest "completion".
  CHECK(ReadQueryComplete(control.OnMessage(Query(5, 0x12345678)).message, 5).status ==
        rndis::status::kNotSupported);
  const auto set = control.OnMessage(Set(6, rndis::oid::kGenCurrentPacketFilter, U32(0x0D)));
  CHECK(Word(set.message, 12) == rndis::status::kSuccess);
  auto bad_filter = control.OnMessage(Set(7, rndis::oid::kGenCurrentPacketFilter, {std::byte{1}}));
  CHECK(Word(bad_filter.message, 12) == rndis::status::kInvalidLength);
  CHECK(control.packet_filter() == 0x0D);
  CHECK(control.OnMessage(Message(0x80000002, {8, 0})).refused);
  // RNDIS 2.0 does not exist.
  const auto v2 = control.OnMessage(Message(rndis::msg::kInitialize, {9, 2, 0, 0x4000}));
  CHECK(Word(v2.message, 12) == rndis::status::kNotSupported);
}

TEST_CASE("rndis: packets round-trip with their per-packet info; batches split") {
  const std::vector<std::byte> frame(60, std::byte{0x5A});
  const rndis::OutgoingInfo checksum{rndis::ppi::kChecksum, U32(1u << 3)};  // tcp_ok
  const auto packet = rndis::BuildPacket(frame, std::span(&checksum, 1));
  const auto parsed = rndis::ParsePacket(packet);
  REQUIRE(parsed.ok());
  CHECK(std::equal(parsed->frame.begin(), parsed->frame.end(), frame.begin(), frame.end()));
  REQUIRE(parsed->infos.size() == 1);
  CHECK(parsed->infos[0].type == rndis::ppi::kChecksum);
  CHECK(std::equal(parsed->infos[0].payload.begin(), parsed->infos[0].payload.end(),
                   checksum.payload.begin(), checksum.payload.end()));

  // Two messages back to back, then zero padding to the section's end.
  auto batch = packet;
  const auto second = rndis::BuildPacket(std::vector<std::byte>(14, std::byte{1}));
  batch.insert(batch.end(), second.begin(), second.end());
  batch.resize(batch.size() + 40);
  const auto split = rndis::SplitMessages(batch);
  REQUIRE(split.ok());
  REQUIRE(split->size() == 2);
  CHECK(rndis::ParsePacket((*split)[1])->frame.size() == 14);
  // A length below the header would never make progress; past the end
  // would read outside; stray bytes after the messages are refused.
  auto stuck = batch;
  (void)base::StoreLe(std::span<std::byte>(stuck), 4, uint32_t{4});
  CHECK(!rndis::SplitMessages(stuck).ok());
  (void)base::StoreLe(std::span<std::byte>(stuck), 4, static_cast<uint32_t>(batch.size() + 1));
  CHECK(!rndis::SplitMessages(stuck).ok());
  auto stray = batch;
  stray.back() = std::byte{1};
  CHECK(!rndis::SplitMessages(stray).ok());
}

TEST_CASE("rndis: packets whose offsets, lengths or per-packet info lie are refused") {
  const std::vector<std::byte> frame(60, std::byte{0x5A});
  const rndis::OutgoingInfo vlan{rndis::ppi::kVlan, U32(5 << 4)};
  const auto good = rndis::BuildPacket(frame, std::span(&vlan, 1));
  REQUIRE(rndis::ParsePacket(good).ok());
  auto edited = [&](size_t offset, uint32_t value) {
    auto copy = good;
    (void)base::StoreLe(std::span<std::byte>(copy), offset, value);
    return rndis::ParsePacket(copy).ok();
  };
  // Body words: data offset 8, length 12, OOB 16/20/24, PPI offset 28,
  // length 32, VC 36; the PPI element at 8 + 36: size, type, offset.
  CHECK(!edited(8, 0xFFFFFFF0));  // data offset past the end
  CHECK(!edited(8, 4));           // data inside the fixed fields
  CHECK(!edited(12, 0));          // empty frame
  CHECK(!edited(12, 0xFFFFFFFF)); // data length past the end
  CHECK(!edited(16, 36));         // out-of-band data
  CHECK(!edited(36, 1));          // a VC handle
  CHECK(!edited(28, 0xFFFFFFFF)); // PPI area past the end
  CHECK(!edited(32, 13));         // PPI area cuts an element
  CHECK(!edited(44, 0));          // element size 0: a walk that never advances
  CHECK(!edited(44, 11));         // element size below its own fields
  CHECK(!edited(52, 200));        // payload offset past the element
  CHECK(!edited(4, 1000));        // MessageLength disagrees
  CHECK(!rndis::ParsePacket(std::span(good).first(20)).ok());
}

TEST_CASE("rndis: a packet read from its head only finds its frame where ParsePacket does") {
  const std::vector<std::byte> frame(300, std::byte{0x5A});
  const std::array<rndis::OutgoingInfo, 2> infos{
      rndis::OutgoingInfo{rndis::ppi::kChecksum, U32(1u << 3)},
      rndis::OutgoingInfo{rndis::ppi::kVlan, U32(5 << 4)}};
  const auto packet = rndis::BuildPacket(frame, infos);
  const auto whole = rndis::ParsePacket(packet);
  REQUIRE(whole.ok());
  // The head: the header, the fixed fields and the per-packet info only.
  const auto needed = rndis::PacketHeadBytes(std::span(packet).first(rndis::kPacketFixedBytes),
                                             packet.size());
  REQUIRE(needed.ok());
  CHECK(*needed < packet.size() - frame.size() + 1);
  const auto layout = rndis::ParsePacketHead(std::span(packet).first(*needed), packet.size());
  REQUIRE(layout.ok());
  CHECK(layout->frame_length == frame.size());
  CHECK(packet.data() + layout->frame_offset == whole->frame.data());
  REQUIRE(layout->infos.size() == 2);
  CHECK(layout->infos[1].type == rndis::ppi::kVlan);
  // Too few bytes for the per-packet info, more bytes than the message, a
  // length the header disagrees with, a PPI area outside the message.
  CHECK(!rndis::ParsePacketHead(std::span(packet).first(*needed - 1), packet.size()).ok());
  CHECK(!rndis::ParsePacketHead(packet, packet.size() - 1).ok());
  CHECK(!rndis::PacketHeadBytes(std::span(packet).first(rndis::kPacketFixedBytes), 100).ok());
  auto lying = packet;
  (void)base::StoreLe(std::span<std::byte>(lying), 8 + 24, uint32_t{0xFFFF'FF00});
  CHECK(!rndis::PacketHeadBytes(std::span(lying).first(rndis::kPacketFixedBytes), lying.size()).ok());
  CHECK(!rndis::PacketHeadBytes(std::span(packet).first(20), packet.size()).ok());
  // The piecewise walk's step: a length, padding, or a lie.
  CHECK(*rndis::MessageLengthAt({rndis::msg::kPacket, 64}, 0, 64) == 64);
  CHECK(*rndis::MessageLengthAt({0, 0}, 8, 64) == 0);
  CHECK(!rndis::MessageLengthAt({rndis::msg::kPacket, 4}, 0, 64).ok());
  CHECK(!rndis::MessageLengthAt({rndis::msg::kPacket, 60}, 8, 64).ok());
}

TEST_CASE("rndis: with offloads, TCP_OFFLOAD_HW_CAPS says what hv_netvsc turns on") {
  // rndis_netdev_set_hwcaps (Linux 6.1): TCP checksum when the IPv4 TX bits
  // hold NDIS_TXCSUM_ALL_TCP4 (0x14), TSO when LSOv2's IPv4 encapsulation
  // has 802.3 (2), its size the LSO limit; IPv6 alike (ALL_TCP6 = 0x15,
  // NDIS_LSOV2_CAP_IP6 = 5).
  rndis::Control control({.mac = {0x00, 0x15, 0x5D, 0x01, 0x02, 0x03}, .offloads = true});
  (void)control.OnMessage(Message(rndis::msg::kInitialize, {7, 1, 0, 0x4000}));
  std::vector<std::byte> request(156);
  const auto answer =
      ReadQueryComplete(control.OnMessage(Query(10, rndis::oid::kTcpOffloadHardwareCaps, request)).message, 10);
  REQUIRE(answer.info.size() == 156);
  CHECK(std::to_integer<uint8_t>(answer.info[0]) == 0xA7);
  CHECK((Word(answer.info, 8) & 0x14) == 0x14);
  CHECK((Word(answer.info, 8) & 0x40) == 0x40);  // UDP4
  CHECK((Word(answer.info, 24) & 0x15) == 0x15);
  CHECK((Word(answer.info, 80) & 2) == 2);
  CHECK(Word(answer.info, 84) == 62780);
  CHECK(Word(answer.info, 88) == 2);
  CHECK((Word(answer.info, 92) & 2) == 2);
  CHECK((Word(answer.info, 104) & 5) == 5);
  // Without, every capability is zero.
  rndis::Control plain({.mac = {0x00, 0x15, 0x5D, 0x01, 0x02, 0x03}});
  (void)plain.OnMessage(Message(rndis::msg::kInitialize, {7, 1, 0, 0x4000}));
  const auto none =
      ReadQueryComplete(plain.OnMessage(Query(11, rndis::oid::kTcpOffloadHardwareCaps, request)).message, 11);
  for (size_t i = 4; i < none.info.size(); ++i) CHECK(none.info[i] == std::byte{0});
}

TEST_CASE("rndis: with several receive queues RSS is offered, and the guest's table and key pick the queue") {
  rndis::Control control({.mac = {0x00, 0x15, 0x5D, 0x01, 0x02, 0x03}, .receive_queues = 4});
  (void)control.OnMessage(Message(rndis::msg::kInitialize, {1, 1, 0, 0x4000}));
  // struct ndis_recv_scale_cap (packed, 18 bytes): hv_netvsc reads
  // num_recv_que and num_indirect_tabent.
  const auto caps = ReadQueryComplete(
      control.OnMessage(Query(2, rndis::oid::kGenReceiveScaleCapabilities)).message, 2);
  CHECK(caps.status == rndis::status::kSuccess);
  REQUIRE(caps.info.size() == 18);
  CHECK(caps.info[0] == std::byte{0x88});
  CHECK(caps.info[1] == std::byte{2});
  CHECK(Word(caps.info, 12) == 4);
  uint16_t entries = 0;
  REQUIRE(base::LoadLe(std::span<const std::byte>(caps.info), 16, entries));
  CHECK(entries == 128);

  // An IPv4 TCP frame and its queue under the guest's parameters.
  std::vector<std::byte> frame(54);
  frame[12] = std::byte{0x08};
  frame[14] = std::byte{0x45};
  frame[17] = std::byte{40};
  frame[23] = std::byte{6};
  frame[26] = std::byte{10};
  frame[29] = std::byte{2};
  frame[30] = std::byte{10};
  frame[33] = std::byte{1};
  frame[35] = std::byte{0x77};
  frame[37] = std::byte{80};
  frame[46] = std::byte{0x50};
  CHECK(control.ReceiveQueue(frame).queue == 0);  // RSS off
  CHECK(!control.ReceiveQueue(frame).hash);

  // rndis_set_rss_param_msg's layout: 40-byte header, table at 40, key after.
  std::vector<std::byte> params(40 + 4 * 128 + 40);
  const std::span<std::byte> out(params);
  REQUIRE(base::StoreLe(out, 0, uint8_t{0x89}));
  REQUIRE(base::StoreLe(out, 1, uint8_t{2}));
  REQUIRE(base::StoreLe(out, 2, uint16_t{40}));
  REQUIRE(base::StoreLe(out, 8, uint32_t{0x1 | 0x100 | 0x200 | 0x400 | 0x1000}));
  REQUIRE(base::StoreLe(out, 12, uint16_t{4 * 128}));
  REQUIRE(base::StoreLe(out, 16, uint32_t{40}));
  REQUIRE(base::StoreLe(out, 20, uint16_t{40}));
  REQUIRE(base::StoreLe(out, 24, uint32_t{40 + 4 * 128}));
  for (uint32_t i = 0; i < 128; ++i) REQUIRE(base::StoreLe(out, 40 + 4 * i, (i * 7) % 4));
  std::array<std::byte, 40> key{};
  for (size_t i = 0; i < key.size(); ++i) key[i] = static_cast<std::byte>(i * 13 + 5);
  std::copy(key.begin(), key.end(), params.begin() + 40 + 4 * 128);
  // ITABLE_UNCHANGED with no table yet: nothing to keep.
  std::vector<std::byte> unchanged = params;
  REQUIRE(base::StoreLe(std::span<std::byte>(unchanged), 4, uint16_t{0x0004}));
  auto reply = control.OnMessage(Set(3, rndis::oid::kGenReceiveScaleParameters, unchanged));
  CHECK(Word(reply.message, 12) == rndis::status::kInvalidData);
  reply = control.OnMessage(Set(4, rndis::oid::kGenReceiveScaleParameters, params));
  CHECK(Word(reply.message, 12) == rndis::status::kSuccess);
  REQUIRE(control.rss().has_value());

  const net::RssHash hash = net::HashFrame(key, frame);
  REQUIRE(hash.type == net::kHashTcpIpv4);
  const rndis::RssChoice choice = control.ReceiveQueue(frame);
  CHECK(choice.hash == std::optional<uint32_t>(hash.value));
  CHECK(choice.queue == ((hash.value % 128) * 7) % 4);
  // UDP is not among the guest's types: hashed on the addresses alone.
  frame[23] = std::byte{17};
  const net::RssHash addresses = net::HashFrame(key, frame, net::kHashIpv4);
  CHECK(addresses.type == net::kHashIpv4);
  CHECK(control.ReceiveQueue(frame).hash == std::optional<uint32_t>(addresses.value));
  // Not IP: the primary, no hash.
  frame[12] = std::byte{0x08};
  frame[13] = std::byte{0x06};
  CHECK(control.ReceiveQueue(frame).queue == 0);
  CHECK(!control.ReceiveQueue(frame).hash);

  // DISABLE_RSS: back to the primary. A table naming queue 4 (of 4) is a lie.
  REQUIRE(base::StoreLe(out, 4, uint16_t{0x0010}));
  reply = control.OnMessage(Set(5, rndis::oid::kGenReceiveScaleParameters, params));
  CHECK(Word(reply.message, 12) == rndis::status::kSuccess);
  CHECK(!control.rss().has_value());
  REQUIRE(base::StoreLe(out, 4, uint16_t{0}));
  REQUIRE(base::StoreLe(out, 40, uint32_t{4}));
  reply = control.OnMessage(Set(6, rndis::oid::kGenReceiveScaleParameters, params));
  CHECK(Word(reply.message, 12) == rndis::status::kInvalidData);
  CHECK(!control.rss().has_value());
}
