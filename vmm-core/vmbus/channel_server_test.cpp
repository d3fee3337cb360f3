#include "vmbus/channel_server.h"

#include <doctest/doctest.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

namespace {

using vmbus::ChannelServer;
using vmbus::MessageResult;
using vmbus::OutgoingMessage;
using vmbus::PostedMessage;

using Bytes = std::vector<std::byte>;

class RecordingOutbox final : public vmbus::Outbox {
 public:
  void Send(const OutgoingMessage& message) override { sent.push_back(message); }
  std::vector<OutgoingMessage> sent;
};

class FakeDevice final : public vmbus::ChannelHandler {
 public:
  uint32_t OnOpen(const vmbus::OpenRequest& request) override {
    opens.push_back(request);
    ring_pages.push_back(request.ring_gpadl != nullptr ? request.ring_gpadl->page_count() : 0);
    return open_status;
  }
  void OnClose(uint32_t relid) override { closes.push_back(relid); }
  void OnModify(uint32_t relid, uint32_t target_vp) override {
    modifies.push_back({relid, target_vp});
  }

  uint32_t open_status = 0;
  std::vector<vmbus::OpenRequest> opens;
  std::vector<size_t> ring_pages;
  std::vector<uint32_t> closes;
  std::vector<std::pair<uint32_t, uint32_t>> modifies;
};

void Put16(Bytes& bytes, size_t offset, uint16_t value) {
  for (size_t i = 0; i < 2; ++i) bytes.at(offset + i) = std::byte((value >> (8 * i)) & 0xFF);
}
void Put32(Bytes& bytes, size_t offset, uint32_t value) {
  for (size_t i = 0; i < 4; ++i) bytes.at(offset + i) = std::byte((value >> (8 * i)) & 0xFF);
}
void Put64(Bytes& bytes, size_t offset, uint64_t value) {
  for (size_t i = 0; i < 8; ++i) bytes.at(offset + i) = std::byte((value >> (8 * i)) & 0xFF);
}
uint32_t Get32(std::span<const std::byte> bytes, size_t offset) {
  uint32_t value = 0;
  for (size_t i = 0; i < 4; ++i)
    value |= static_cast<uint32_t>(std::to_integer<uint8_t>(bytes[offset + i])) << (8 * i);
  return value;
}
uint16_t Get16(std::span<const std::byte> bytes, size_t offset) {
  return static_cast<uint16_t>(std::to_integer<uint8_t>(bytes[offset]) |
                               std::to_integer<uint8_t>(bytes[offset + 1]) << 8);
}
uint32_t TypeOf(const OutgoingMessage& message) { return Get32(message.payload(), 0); }

// Messages as Linux 6.1's hv_vmbus builds them (channel_mgmt.c, channel.c).
Bytes Message(uint32_t type, size_t size) {
  Bytes bytes(size);
  Put32(bytes, 0, type);
  return bytes;
}
Bytes InitiateContact(uint32_t version, uint32_t target_vcpu = 0) {
  Bytes bytes = Message(14, 40);
  Put32(bytes, 8, version);
  Put32(bytes, 12, target_vcpu);
  bytes[16] = std::byte{2};  // msg_sint
  return bytes;
}
// create_gpadl_header: one range at offset 0 of `pfns.size()` pages; the
// header carries up to 26 PFNs, bodies up to 28 each.
std::vector<Bytes> GpadlMessages(uint32_t relid, uint32_t gpadl, const std::vector<uint64_t>& pfns) {
  std::vector<Bytes> out;
  const size_t in_header = pfns.size() < 26 ? pfns.size() : 26;
  Bytes header = Message(8, 20 + 8 + in_header * 8);
  Put32(header, 8, relid);
  Put32(header, 12, gpadl);
  Put16(header, 16, static_cast<uint16_t>(8 + pfns.size() * 8));
  Put16(header, 18, 1);
  Put32(header, 20, static_cast<uint32_t>(pfns.size() * 4096));  // byte_count
  Put32(header, 24, 0);                                          // byte_offset
  for (size_t i = 0; i < in_header; ++i) Put64(header, 28 + i * 8, pfns[i]);
  out.push_back(header);
  for (size_t at = in_header; at < pfns.size();) {
    const size_t here = pfns.size() - at < 28 ? pfns.size() - at : 28;
    Bytes body = Message(9, 16 + here * 8);
    Put32(body, 12, gpadl);
    for (size_t i = 0; i < here; ++i) Put64(body, 16 + i * 8, pfns[at + i]);
    out.push_back(body);
    at += here;
  }
  return out;
}
std::vector<uint64_t> Pfns(size_t count, uint64_t first = 0x1000) {
  std::vector<uint64_t> pfns;
  for (size_t i = 0; i < count; ++i) pfns.push_back(first + i);
  return pfns;
}
Bytes OpenChannel(uint32_t relid, uint32_t open_id, uint32_t gpadl, uint32_t target_vp,
                  uint32_t downstream_offset) {
  Bytes bytes = Message(5, 148);
  Put32(bytes, 8, relid);
  Put32(bytes, 12, open_id);
  Put32(bytes, 16, gpadl);
  Put32(bytes, 20, target_vp);
  Put32(bytes, 24, downstream_offset);
  bytes[28] = std::byte{0xAB};  // userdata
  return bytes;
}
Bytes RelidMessage(uint32_t type, uint32_t relid) {
  Bytes bytes = Message(type, 12);
  Put32(bytes, 8, relid);
  return bytes;
}
Bytes GpadlTeardown(uint32_t relid, uint32_t gpadl) {
  Bytes bytes = Message(11, 16);
  Put32(bytes, 8, relid);
  Put32(bytes, 12, gpadl);
  return bytes;
}
Bytes ModifyChannel(uint32_t relid, uint32_t target_vp) {
  Bytes bytes = Message(22, 16);
  Put32(bytes, 8, relid);
  Put32(bytes, 12, target_vp);
  return bytes;
}

vmbus::Offer ScsiOffer(uint8_t instance) {
  vmbus::Offer offer;
  // hyperv-vmbus.md §5.2: SCSI ba6163d9-04a1-4d29-b605-72e2ffb1dc7f.
  const uint8_t scsi[16] = {0xd9, 0x63, 0x61, 0xba, 0xa1, 0x04, 0x29, 0x4d,
                            0xb6, 0x05, 0x72, 0xe2, 0xff, 0xb1, 0xdc, 0x7f};
  for (size_t i = 0; i < 16; ++i) {
    offer.interface_type.bytes[i] = scsi[i];
    offer.interface_instance.bytes[i] = static_cast<uint8_t>(instance + i);
  }
  offer.user_defined[0] = std::byte{0x42};
  return offer;
}

// A guest on msg_conn_id 1 (what VersionResponse hands out).
struct Guest {
  ChannelServer& server;
  RecordingOutbox& outbox;

  MessageResult Post(const Bytes& payload, uint32_t connection_id = 1) {
    return server.OnPostMessage(PostedMessage{connection_id, 1, payload}, outbox);
  }
  void Connect(uint32_t version = 0x50003, uint32_t vp = 0) {
    REQUIRE(Post(InitiateContact(version, vp), 4) == MessageResult::kOk);
    REQUIRE(server.connected());
  }
  void RequestOffers() { REQUIRE(Post(Message(3, 8)) == MessageResult::kOk); }
  // Sends every message of a GPADL; returns the last result.
  MessageResult CreateGpadl(uint32_t relid, uint32_t gpadl, const std::vector<uint64_t>& pfns) {
    MessageResult result = MessageResult::kOk;
    for (const Bytes& message : GpadlMessages(relid, gpadl, pfns)) result = Post(message);
    return result;
  }
};

// Everything observable, to prove an error changed nothing.
struct Snapshot {
  bool connected;
  size_t channels;
  size_t pages;
  std::vector<std::optional<vmbus::ChannelInfo>> infos;
  bool operator==(const Snapshot&) const = default;
};
Snapshot Take(const ChannelServer& server) {
  Snapshot snapshot{server.connected(), server.channel_count(), server.gpadl_page_count(), {}};
  for (uint32_t relid = 0; relid < 8; ++relid) snapshot.infos.push_back(server.FindChannel(relid));
  return snapshot;
}

}  // namespace

TEST_CASE("vmbus channels: Linux 6.1's life of a storvsc channel, start to reconnect") {
  ChannelServer server(2);
  RecordingOutbox outbox;
  FakeDevice device;
  Guest guest{server, outbox};

  // Devices register before the guest connects; nothing is sent yet.
  const auto relid = server.AddChannel(ScsiOffer(0x10), device, outbox);
  REQUIRE(relid.ok());
  CHECK(*relid == 1u);
  CHECK(outbox.sent.empty());

  guest.Connect();
  guest.RequestOffers();
  REQUIRE(outbox.sent.size() == 3);  // VersionResponse, OfferChannel, AllOffersDelivered
  const OutgoingMessage& offer = outbox.sent[1];
  CHECK(TypeOf(offer) == 1u);
  CHECK(offer.size_bytes == 196u);
  CHECK(offer.target_vp == 0u);
  CHECK(offer.sint == 2u);
  const auto bytes = offer.payload();
  CHECK(std::to_integer<uint8_t>(bytes[8]) == 0xd9);    // if_type
  CHECK(std::to_integer<uint8_t>(bytes[24]) == 0x10);   // if_instance
  CHECK(std::to_integer<uint8_t>(bytes[60]) == 0x42);   // user_def
  CHECK(Get16(bytes, 180) == 0u);                       // sub_channel_index
  CHECK(Get32(bytes, 184) == 1u);                       // child_relid
  CHECK(std::to_integer<uint8_t>(bytes[189]) == 0u);    // monitor_allocated
  CHECK(Get16(bytes, 190) == 1u);                       // is_dedicated_interrupt
  CHECK(Get32(bytes, 192) == 0x1001u);                  // connection_id
  CHECK(TypeOf(outbox.sent[2]) == 4u);

  // A 64-page ring: header (26 PFNs) and two bodies (28 + 10). Linux's
  // first GPADL handle is 0xE1E10.
  const auto messages = GpadlMessages(1, 0xE1E10, Pfns(64));
  REQUIRE(messages.size() == 3);
  CHECK(guest.Post(messages[0]) == MessageResult::kOk);
  CHECK(guest.Post(messages[1]) == MessageResult::kOk);
  CHECK(outbox.sent.size() == 3);  // nothing until the GPADL is whole
  CHECK(server.FindGpadl(1, 0xE1E10) == nullptr);
  CHECK(guest.Post(messages[2]) == MessageResult::kOk);
  REQUIRE(outbox.sent.size() == 4);
  CHECK(TypeOf(outbox.sent[3]) == 10u);  // GpadlCreated {relid 1, gpadl, status 0}
  CHECK(outbox.sent[3].size_bytes == 20u);
  CHECK(Get32(outbox.sent[3].payload(), 8) == 1u);
  CHECK(Get32(outbox.sent[3].payload(), 12) == 0xE1E10u);
  CHECK(Get32(outbox.sent[3].payload(), 16) == 0u);
  const vmbus::Gpadl* gpadl = server.FindGpadl(1, 0xE1E10);
  REQUIRE(gpadl != nullptr);
  REQUIRE(gpadl->ranges.size() == 1);
  CHECK(gpadl->ranges[0].byte_count == 64u * 4096);
  CHECK(gpadl->ranges[0].pfns == Pfns(64));
  CHECK(server.gpadl_page_count() == 64u);

  // Open: 32 pages each way, interrupts on VP 1.
  CHECK(guest.Post(OpenChannel(1, 7, 0xE1E10, 1, 32)) == MessageResult::kOk);
  REQUIRE(device.opens.size() == 1);
  CHECK(device.opens[0].relid == 1u);
  CHECK(device.opens[0].open_id == 7u);
  CHECK(device.opens[0].target_vp == 1u);
  CHECK(device.opens[0].downstream_ring_page_offset == 32u);
  CHECK(device.opens[0].connection_id == 0x1001u);
  CHECK(device.opens[0].user_data[0] == std::byte{0xAB});
  CHECK(device.ring_pages[0] == 64u);
  REQUIRE(outbox.sent.size() == 5);
  CHECK(TypeOf(outbox.sent[4]) == 6u);  // OpenChannelResult {relid, openid 7, status 0}
  CHECK(outbox.sent[4].size_bytes == 20u);
  CHECK(Get32(outbox.sent[4].payload(), 12) == 7u);
  CHECK(Get32(outbox.sent[4].payload(), 16) == 0u);
  // hcl routes the guest's SignalEvent(0x1001) here and interrupts VP 1.
  const auto info = server.FindByConnectionId(0x1001);
  REQUIRE(info.has_value());
  CHECK(info->relid == 1u);
  CHECK(info->open);
  CHECK(info->target_vp == 1u);
  CHECK(!server.FindByConnectionId(0x1002).has_value());
  CHECK(!server.FindByConnectionId(1).has_value());

  // vmbus_close: CloseChannel, then the ring GPADL's teardown.
  CHECK(guest.Post(RelidMessage(7, 1)) == MessageResult::kOk);
  CHECK(device.closes == std::vector<uint32_t>{1});
  CHECK(!server.FindChannel(1)->open);
  CHECK(guest.Post(GpadlTeardown(1, 0xE1E10)) == MessageResult::kOk);
  REQUIRE(outbox.sent.size() == 6);
  CHECK(TypeOf(outbox.sent[5]) == 12u);  // GpadlTorndown {gpadl}
  CHECK(outbox.sent[5].size_bytes == 12u);
  CHECK(Get32(outbox.sent[5].payload(), 8) == 0xE1E10u);
  CHECK(server.gpadl_page_count() == 0u);

  // Rescind: the relid stays taken until RelIdReleased.
  CHECK(server.RemoveChannel(1, outbox).ok());
  REQUIRE(outbox.sent.size() == 7);
  CHECK(TypeOf(outbox.sent[6]) == 2u);
  CHECK(Get32(outbox.sent[6].payload(), 8) == 1u);
  CHECK(server.FindChannel(1)->rescinded);
  FakeDevice second;
  const auto next = server.AddChannel(ScsiOffer(0x20), second, outbox);
  REQUIRE(next.ok());
  CHECK(*next == 2u);  // offered at once, with a fresh relid
  CHECK(TypeOf(outbox.sent.back()) == 1u);
  CHECK(guest.Post(RelidMessage(13, 1)) == MessageResult::kOk);
  CHECK(!server.FindChannel(1).has_value());
  const auto reused = server.AddChannel(ScsiOffer(0x30), device, outbox);
  REQUIRE(reused.ok());
  CHECK(*reused == 1u);

  // Open relid 2, then unload: it closes before UnloadResponse.
  CHECK(guest.CreateGpadl(2, 0xE1E11, Pfns(8)) == MessageResult::kOk);
  CHECK(guest.Post(OpenChannel(2, 1, 0xE1E11, 0, 4)) == MessageResult::kOk);
  const size_t before_unload = outbox.sent.size();
  CHECK(guest.Post(Message(16, 8)) == MessageResult::kOk);
  CHECK(second.closes == std::vector<uint32_t>{2});
  REQUIRE(outbox.sent.size() == before_unload + 1);
  CHECK(TypeOf(outbox.sent.back()) == 17u);
  CHECK(!server.connected());
  CHECK(server.gpadl_page_count() == 0u);
  CHECK(server.FindGpadl(2, 0xE1E11) == nullptr);

  // The next kernel starts over and sees both channels, relids kept.
  outbox.sent.clear();
  guest.Connect();
  guest.RequestOffers();
  REQUIRE(outbox.sent.size() == 4);
  CHECK(Get32(outbox.sent[1].payload(), 184) == 1u);
  CHECK(Get32(outbox.sent[2].payload(), 184) == 2u);
  CHECK(TypeOf(outbox.sent[3]) == 4u);
  CHECK(guest.CreateGpadl(2, 0xE1E11, Pfns(8)) == MessageResult::kOk);
  CHECK(guest.Post(OpenChannel(2, 1, 0xE1E11, 0, 4)) == MessageResult::kOk);
  CHECK(server.FindChannel(2)->open);
}

TEST_CASE("vmbus channels: a new InitiateContact (kexec, no Unload) closes everything") {
  ChannelServer server(1);
  RecordingOutbox outbox;
  FakeDevice device;
  Guest guest{server, outbox};
  REQUIRE(server.AddChannel(ScsiOffer(1), device, outbox).ok());
  guest.Connect();
  guest.RequestOffers();
  CHECK(guest.CreateGpadl(1, 5, Pfns(4)) == MessageResult::kOk);
  CHECK(guest.Post(OpenChannel(1, 1, 5, 0, 2)) == MessageResult::kOk);
  guest.Connect(0x50002);
  CHECK(device.closes == std::vector<uint32_t>{1});
  CHECK(server.FindGpadl(1, 5) == nullptr);
  CHECK(server.gpadl_page_count() == 0u);
  // Offers have not been asked for on the new connection.
  CHECK(guest.Post(OpenChannel(1, 1, 5, 0, 2)) == MessageResult::kUnknownChannel);

  // A refused renegotiation (a version we do not speak) also ends the old
  // connection and its channels.
  guest.RequestOffers();
  CHECK(guest.CreateGpadl(1, 5, Pfns(4)) == MessageResult::kOk);
  CHECK(guest.Post(OpenChannel(1, 2, 5, 0, 2)) == MessageResult::kOk);
  CHECK(guest.Post(InitiateContact(0x60000), 4) == MessageResult::kOk);
  CHECK(!server.connected());
  CHECK(device.closes == std::vector<uint32_t>{1, 1});
  CHECK(server.gpadl_page_count() == 0u);
  // The channel itself stays registered for the next connection.
  CHECK(server.channel_count() == 1u);
}

TEST_CASE("vmbus channels: tearing down the open ring's GPADL waits for the close") {
  ChannelServer server(1);
  RecordingOutbox outbox;
  FakeDevice device;
  Guest guest{server, outbox};
  REQUIRE(server.AddChannel(ScsiOffer(1), device, outbox).ok());
  guest.Connect();
  guest.RequestOffers();
  CHECK(guest.CreateGpadl(1, 5, Pfns(4)) == MessageResult::kOk);
  CHECK(guest.CreateGpadl(1, 6, Pfns(30)) == MessageResult::kOk);  // e.g. a receive buffer
  CHECK(guest.Post(OpenChannel(1, 1, 5, 0, 2)) == MessageResult::kOk);
  const size_t sent = outbox.sent.size();
  CHECK(guest.Post(GpadlTeardown(1, 5)) == MessageResult::kOk);
  CHECK(outbox.sent.size() == sent);  // deferred
  CHECK(server.FindGpadl(1, 5) != nullptr);
  CHECK(guest.Post(GpadlTeardown(1, 5)) == MessageResult::kUnexpectedMessage);
  // A GPADL the ring does not use goes at once.
  CHECK(guest.Post(GpadlTeardown(1, 6)) == MessageResult::kOk);
  REQUIRE(outbox.sent.size() == sent + 1);
  CHECK(Get32(outbox.sent.back().payload(), 8) == 6u);
  // The close releases the ring: Torndown follows.
  CHECK(guest.Post(RelidMessage(7, 1)) == MessageResult::kOk);
  REQUIRE(outbox.sent.size() == sent + 2);
  CHECK(TypeOf(outbox.sent.back()) == 12u);
  CHECK(Get32(outbox.sent.back().payload(), 8) == 5u);
  CHECK(server.gpadl_page_count() == 0u);
}

TEST_CASE("vmbus channels: GPADL refusals answer GpadlCreated with a failure status") {
  ChannelServer server(1, vmbus::ChannelServerLimits{.max_gpadls_per_channel = 3,
                                                     .max_gpadl_pages = 100});
  RecordingOutbox outbox;
  FakeDevice device;
  Guest guest{server, outbox};
  REQUIRE(server.AddChannel(ScsiOffer(1), device, outbox).ok());
  REQUIRE(server.AddChannel(ScsiOffer(2), device, outbox).ok());
  guest.Connect();
  guest.RequestOffers();
  CHECK(guest.CreateGpadl(1, 5, Pfns(4)) == MessageResult::kOk);
  const auto refused = [&](MessageResult result, uint32_t relid, uint32_t gpadl) {
    CHECK(result == MessageResult::kRefused);
    REQUIRE(!outbox.sent.empty());
    const OutgoingMessage& last = outbox.sent.back();
    CHECK(TypeOf(last) == 10u);
    CHECK(Get32(last.payload(), 8) == relid);
    CHECK(Get32(last.payload(), 12) == gpadl);
    CHECK(Get32(last.payload(), 16) != 0u);
  };

  SUBCASE("duplicate id on the channel; the original stays") {
    const Snapshot before = Take(server);
    refused(guest.CreateGpadl(1, 5, Pfns(2, 0x9000)), 1, 5);
    CHECK(Take(server) == before);
    CHECK(server.FindGpadl(1, 5)->ranges[0].pfns == Pfns(4));
    // The same id on another channel is fine: ids are per channel.
    CHECK(guest.CreateGpadl(2, 5, Pfns(2)) == MessageResult::kOk);
  }
  SUBCASE("an id still being assembled, even on another channel (bodies name no channel)") {
    const auto messages = GpadlMessages(1, 9, Pfns(40));
    CHECK(guest.Post(messages[0]) == MessageResult::kOk);
    refused(guest.CreateGpadl(2, 9, Pfns(2)), 2, 9);
    CHECK(guest.Post(messages[1]) == MessageResult::kOk);
    CHECK(server.FindGpadl(1, 9) != nullptr);
    CHECK(server.FindGpadl(2, 9) == nullptr);
  }
  SUBCASE("too many GPADLs on one channel, counting those in progress") {
    CHECK(guest.Post(GpadlMessages(1, 6, Pfns(40))[0]) == MessageResult::kOk);
    CHECK(guest.CreateGpadl(1, 7, Pfns(1)) == MessageResult::kOk);
    const Snapshot before = Take(server);
    refused(guest.CreateGpadl(1, 8, Pfns(1)), 1, 8);
    CHECK(Take(server) == before);
  }
  SUBCASE("the partition's page budget") {
    CHECK(guest.CreateGpadl(2, 6, Pfns(90)) == MessageResult::kOk);
    CHECK(server.gpadl_page_count() == 94u);
    const Snapshot before = Take(server);
    refused(guest.Post(GpadlMessages(2, 7, Pfns(7))[0]), 2, 7);
    CHECK(Take(server) == before);
    CHECK(guest.CreateGpadl(2, 7, Pfns(6)) == MessageResult::kOk);
    CHECK(server.gpadl_page_count() == 100u);
  }
  SUBCASE("a range list that does not add up") {
    // range_buflen says 3 words but the one range needs 1 + 3 PFNs.
    Bytes header = Message(8, 20 + 24);
    Put32(header, 8, 1);
    Put32(header, 12, 20);
    Put16(header, 16, 24);
    Put16(header, 18, 1);
    Put32(header, 20, 3 * 4096);
    refused(guest.Post(header), 1, 20);
    // byte_offset past the first page.
    Bytes offset = Message(8, 20 + 16);
    Put32(offset, 8, 1);
    Put32(offset, 12, 21);
    Put16(offset, 16, 16);
    Put16(offset, 18, 1);
    Put32(offset, 20, 1);
    Put32(offset, 24, 4096);
    refused(guest.Post(offset), 1, 21);
    // No ranges at all.
    Bytes none = Message(8, 20);
    Put32(none, 8, 1);
    Put32(none, 12, 22);
    refused(guest.Post(none), 1, 22);
    // A header carrying more words than its range_buflen announces.
    Bytes overfull = GpadlMessages(1, 23, Pfns(4))[0];
    Put16(overfull, 16, 16);
    refused(guest.Post(overfull), 1, 23);
    CHECK(server.gpadl_page_count() == 4u);
  }
}

TEST_CASE("vmbus channels: a GPADL of several ranges (a Windows-style buffer list)") {
  ChannelServer server(1);
  RecordingOutbox outbox;
  FakeDevice device;
  Guest guest{server, outbox};
  REQUIRE(server.AddChannel(ScsiOffer(1), device, outbox).ok());
  guest.Connect();
  guest.RequestOffers();
  // Range 1: 100 bytes at 0xF00 (crosses a page: 2 PFNs); range 2: 1 page.
  Bytes header = Message(8, 20 + 5 * 8);
  Put32(header, 8, 1);
  Put32(header, 12, 3);
  Put16(header, 16, 5 * 8);
  Put16(header, 18, 2);
  Put32(header, 20, 0x100);
  Put32(header, 24, 0xF80);
  Put64(header, 28, 0xA);
  Put64(header, 36, 0xB);
  Put32(header, 44, 4096);
  Put32(header, 48, 0);
  Put64(header, 52, 0xC);
  CHECK(guest.Post(header) == MessageResult::kOk);
  const vmbus::Gpadl* gpadl = server.FindGpadl(1, 3);
  REQUIRE(gpadl != nullptr);
  REQUIRE(gpadl->ranges.size() == 2);
  CHECK(gpadl->ranges[0].byte_offset == 0xF80u);
  CHECK(gpadl->ranges[0].pfns == std::vector<uint64_t>{0xA, 0xB});
  CHECK(gpadl->ranges[1].pfns == std::vector<uint64_t>{0xC});
  CHECK(server.gpadl_page_count() == 3u);
  // Not a ring: opening on it is refused.
  CHECK(guest.Post(OpenChannel(1, 1, 3, 0, 2)) == MessageResult::kRefused);
  CHECK(device.opens.empty());
}

TEST_CASE("vmbus channels: OpenChannel refusals answer OpenChannelResult with a failure") {
  ChannelServer server(2);
  RecordingOutbox outbox;
  FakeDevice device;
  Guest guest{server, outbox};
  REQUIRE(server.AddChannel(ScsiOffer(1), device, outbox).ok());
  guest.Connect();
  guest.RequestOffers();
  CHECK(guest.CreateGpadl(1, 5, Pfns(8)) == MessageResult::kOk);
  const Snapshot before = Take(server);
  const auto refused = [&](const Bytes& open) {
    CHECK(guest.Post(open) == MessageResult::kRefused);
    const OutgoingMessage& last = outbox.sent.back();
    CHECK(TypeOf(last) == 6u);
    CHECK(Get32(last.payload(), 8) == 1u);
    CHECK(Get32(last.payload(), 12) == 77u);
    CHECK(Get32(last.payload(), 16) != 0u);
    CHECK(Take(server) == before);
  };
  refused(OpenChannel(1, 77, 6, 0, 4));  // no such GPADL
  refused(OpenChannel(1, 77, 5, 2, 4));  // VP 2 of 2
  refused(OpenChannel(1, 77, 5, 0, 0));  // no guest->host ring
  refused(OpenChannel(1, 77, 5, 0, 1));  // guest->host ring of one page
  refused(OpenChannel(1, 77, 5, 0, 7));  // host->guest ring of one page
  refused(OpenChannel(1, 77, 5, 0, 8));  // no host->guest ring
  refused(OpenChannel(1, 77, 5, 0, 0xFFFF'FFFF));
  CHECK(device.opens.empty());

  // The device says no: its status goes back, the channel stays closed.
  device.open_status = 0xC000'009A;
  CHECK(guest.Post(OpenChannel(1, 77, 5, 0, 4)) == MessageResult::kOk);
  CHECK(Get32(outbox.sent.back().payload(), 16) == 0xC000'009Au);
  CHECK(!server.FindChannel(1)->open);
  device.open_status = 0;
  CHECK(guest.Post(OpenChannel(1, 78, 5, 0, 4)) == MessageResult::kOk);
  CHECK(server.FindChannel(1)->open);
  // Double open.
  const Snapshot open = Take(server);
  CHECK(guest.Post(OpenChannel(1, 77, 5, 0, 4)) == MessageResult::kRefused);
  CHECK(Get32(outbox.sent.back().payload(), 16) != 0u);
  CHECK(Take(server) == open);
  CHECK(device.opens.size() == 2);
}

TEST_CASE("vmbus channels: hostile messages are errors that send and change nothing") {
  ChannelServer server(2);
  RecordingOutbox outbox;
  FakeDevice device;
  Guest guest{server, outbox};
  REQUIRE(server.AddChannel(ScsiOffer(1), device, outbox).ok());

  // Channel messages before contact.
  CHECK(guest.Post(OpenChannel(1, 1, 5, 0, 2)) == MessageResult::kNotConnected);
  guest.Connect();
  // Before RequestOffers no channel is known to the guest.
  CHECK(guest.CreateGpadl(1, 5, Pfns(4)) == MessageResult::kUnknownChannel);
  guest.RequestOffers();
  CHECK(guest.CreateGpadl(1, 5, Pfns(4)) == MessageResult::kOk);
  const auto pending = GpadlMessages(1, 6, Pfns(40));
  CHECK(guest.Post(pending[0]) == MessageResult::kOk);  // left in progress
  const Snapshot before = Take(server);
  const size_t sent = outbox.sent.size();

  // Unknown relids.
  CHECK(guest.CreateGpadl(9, 7, Pfns(2)) == MessageResult::kUnknownChannel);
  CHECK(guest.CreateGpadl(0, 7, Pfns(2)) == MessageResult::kUnknownChannel);
  CHECK(guest.Post(OpenChannel(9, 1, 5, 0, 2)) == MessageResult::kUnknownChannel);
  CHECK(guest.Post(RelidMessage(7, 9)) == MessageResult::kUnknownChannel);
  CHECK(guest.Post(GpadlTeardown(9, 5)) == MessageResult::kUnknownChannel);
  CHECK(guest.Post(ModifyChannel(9, 0)) == MessageResult::kUnknownChannel);
  // Release of a channel that was never rescinded; close of a closed one.
  CHECK(guest.Post(RelidMessage(13, 1)) == MessageResult::kUnknownChannel);
  CHECK(guest.Post(RelidMessage(7, 1)) == MessageResult::kUnknownChannel);
  // A body for a GPADL nobody announced; teardown of unknown or unfinished ones.
  Bytes body = Message(9, 16 + 8);
  Put32(body, 12, 0x1234);
  CHECK(guest.Post(body) == MessageResult::kUnknownGpadl);
  CHECK(guest.Post(GpadlTeardown(1, 0x1234)) == MessageResult::kUnknownGpadl);
  CHECK(guest.Post(GpadlTeardown(1, 6)) == MessageResult::kUnknownGpadl);
  // More PFNs than range_buflen announced (40 - 26 = 14 left).
  Bytes too_many = Message(9, 16 + 15 * 8);
  Put32(too_many, 12, 6);
  CHECK(guest.Post(too_many) == MessageResult::kMalformed);
  // Wrong sizes: one byte short of each struct, and PFN lists cut mid-word.
  CHECK(guest.Post(Message(8, 19)) == MessageResult::kMalformed);
  Bytes ragged = GpadlMessages(1, 8, Pfns(4))[0];
  ragged.pop_back();
  CHECK(guest.Post(ragged) == MessageResult::kMalformed);
  Bytes ragged_body = pending[1];
  ragged_body.pop_back();
  CHECK(guest.Post(ragged_body) == MessageResult::kMalformed);
  Bytes empty_body = Message(9, 16);  // no words
  Put32(empty_body, 12, 6);
  CHECK(guest.Post(empty_body) == MessageResult::kMalformed);
  Bytes short_open = OpenChannel(1, 1, 5, 0, 2);
  short_open.resize(147);
  CHECK(guest.Post(short_open) == MessageResult::kMalformed);
  CHECK(guest.Post(Message(7, 11)) == MessageResult::kMalformed);
  CHECK(guest.Post(Message(11, 15)) == MessageResult::kMalformed);
  CHECK(guest.Post(Message(13, 11)) == MessageResult::kMalformed);
  CHECK(guest.Post(Message(22, 15)) == MessageResult::kMalformed);
  // Host->guest types and unknown types.
  CHECK(guest.Post(Message(10, 20)) == MessageResult::kUnexpectedMessage);
  CHECK(guest.Post(Message(1, 196)) == MessageResult::kUnexpectedMessage);
  CHECK(guest.Post(Message(99, 8)) == MessageResult::kUnknownMessageType);
  // A channel message on the contact connection.
  CHECK(guest.Post(OpenChannel(1, 1, 5, 0, 2), 4) == MessageResult::kInvalidConnectionId);

  CHECK(outbox.sent.size() == sent);
  CHECK(Take(server) == before);
  // The GPADL in progress is intact: its last body completes it.
  CHECK(guest.Post(pending[1]) == MessageResult::kOk);
  REQUIRE(server.FindGpadl(1, 6) != nullptr);
  CHECK(server.FindGpadl(1, 6)->ranges[0].pfns == Pfns(40));
  CHECK(vmbus::HypercallStatus(MessageResult::kRefused) == hv::Status::kSuccess);
  CHECK(vmbus::HypercallStatus(MessageResult::kUnknownChannel) == hv::Status::kSuccess);
}

TEST_CASE("vmbus channels: ModifyChannel moves interrupts; answered only at 5.3") {
  for (const uint32_t version : {0x50003u, 0x50002u}) {
    CAPTURE(version);
    ChannelServer server(4);
    RecordingOutbox outbox;
    FakeDevice device;
    Guest guest{server, outbox};
    REQUIRE(server.AddChannel(ScsiOffer(1), device, outbox).ok());
    guest.Connect(version);
    guest.RequestOffers();
    CHECK(guest.CreateGpadl(1, 5, Pfns(4)) == MessageResult::kOk);
    const bool ack = version == 0x50003u;
    // Not open yet.
    size_t sent = outbox.sent.size();
    CHECK(guest.Post(ModifyChannel(1, 3)) ==
          (ack ? MessageResult::kRefused : MessageResult::kUnknownChannel));
    CHECK(outbox.sent.size() == sent + (ack ? 1 : 0));
    CHECK(guest.Post(OpenChannel(1, 1, 5, 0, 2)) == MessageResult::kOk);
    sent = outbox.sent.size();
    CHECK(guest.Post(ModifyChannel(1, 3)) == MessageResult::kOk);
    CHECK(server.FindChannel(1)->target_vp == 3u);
    CHECK(device.modifies == std::vector<std::pair<uint32_t, uint32_t>>{{1, 3}});
    if (ack) {
      REQUIRE(outbox.sent.size() == sent + 1);
      CHECK(TypeOf(outbox.sent.back()) == 24u);
      CHECK(outbox.sent.back().size_bytes == 16u);
      CHECK(Get32(outbox.sent.back().payload(), 8) == 1u);
      CHECK(Get32(outbox.sent.back().payload(), 12) == 0u);
    } else {
      CHECK(outbox.sent.size() == sent);
    }
    // A VP the partition lacks.
    CHECK(guest.Post(ModifyChannel(1, 4)) ==
          (ack ? MessageResult::kRefused : MessageResult::kBadTargetVp));
    CHECK(server.FindChannel(1)->target_vp == 3u);
  }
}

TEST_CASE("vmbus channels: sub-channels share the primary's GUIDs and handler") {
  ChannelServer server(2);
  RecordingOutbox outbox;
  FakeDevice device;
  Guest guest{server, outbox};
  const auto primary = server.AddChannel(ScsiOffer(1), device, outbox);
  REQUIRE(primary.ok());
  guest.Connect();
  guest.RequestOffers();
  CHECK(guest.CreateGpadl(1, 5, Pfns(4)) == MessageResult::kOk);
  CHECK(guest.Post(OpenChannel(1, 1, 5, 0, 2)) == MessageResult::kOk);

  // storvsc CREATE_SUB_CHANNELS with 2.
  outbox.sent.clear();
  const auto subs = server.OfferSubChannels(*primary, 2, outbox);
  REQUIRE(subs.ok());
  CHECK(*subs == std::vector<uint32_t>{2, 3});
  REQUIRE(outbox.sent.size() == 2);
  for (size_t i = 0; i < 2; ++i) {
    const auto payload = outbox.sent[i].payload();
    CHECK(TypeOf(outbox.sent[i]) == 1u);
    CHECK(std::to_integer<uint8_t>(payload[8]) == 0xd9);
    CHECK(std::to_integer<uint8_t>(payload[24]) == 1u);  // the primary's instance
    CHECK(Get16(payload, 180) == i + 1);
    CHECK(Get32(payload, 184) == 2u + i);
    CHECK(Get32(payload, 192) == 0x1002u + i);
  }
  CHECK(guest.CreateGpadl(3, 6, Pfns(4)) == MessageResult::kOk);
  CHECK(guest.Post(OpenChannel(3, 1, 6, 1, 2)) == MessageResult::kOk);
  REQUIRE(device.opens.size() == 2);
  CHECK(device.opens[1].relid == 3u);
  CHECK(device.opens[1].sub_channel_index == 2u);
  // More later continue the numbering; sub-channels of sub-channels do not exist.
  const auto more = server.OfferSubChannels(*primary, 1, outbox);
  REQUIRE(more.ok());
  CHECK(Get16(outbox.sent.back().payload(), 180) == 3u);
  CHECK(!server.OfferSubChannels(2, 1, outbox).ok());
  CHECK(!server.OfferSubChannels(*primary, 0, outbox).ok());
  CHECK(!server.OfferSubChannels(42, 1, outbox).ok());

  // Rescinding the primary takes its sub-channels along, closing the open ones.
  outbox.sent.clear();
  CHECK(server.RemoveChannel(*primary, outbox).ok());
  CHECK(device.closes == std::vector<uint32_t>{3, 1});
  REQUIRE(outbox.sent.size() == 4);
  for (const auto& message : outbox.sent) CHECK(TypeOf(message) == 2u);
  CHECK(Get32(outbox.sent.back().payload(), 8) == 1u);
  CHECK(!server.RemoveChannel(*primary, outbox).ok());
}

TEST_CASE("vmbus channels: after Unload sub-channels are gone; primaries are offered first") {
  ChannelServer server(1);
  RecordingOutbox outbox;
  FakeDevice device;
  Guest guest{server, outbox};
  REQUIRE(server.AddChannel(ScsiOffer(1), device, outbox).ok());  // relid 1
  REQUIRE(server.AddChannel(ScsiOffer(2), device, outbox).ok());  // relid 2
  REQUIRE(server.RemoveChannel(1, outbox).ok());  // not visible yet: freed at once
  CHECK(outbox.sent.empty());
  REQUIRE(server.OfferSubChannels(2, 1, outbox).ok());  // takes relid 1
  guest.Connect();
  guest.RequestOffers();
  REQUIRE(outbox.sent.size() == 4);
  CHECK(Get32(outbox.sent[1].payload(), 184) == 2u);  // the primary first
  CHECK(Get32(outbox.sent[2].payload(), 184) == 1u);
  CHECK(Get16(outbox.sent[2].payload(), 180) == 1u);
  CHECK(guest.Post(Message(16, 8)) == MessageResult::kOk);
  CHECK(server.channel_count() == 1u);
  CHECK(!server.FindChannel(1).has_value());
}

TEST_CASE("vmbus channels: a rescinded channel can be closed and torn down, not opened") {
  ChannelServer server(1);
  RecordingOutbox outbox;
  FakeDevice device;
  Guest guest{server, outbox};
  REQUIRE(server.AddChannel(ScsiOffer(1), device, outbox).ok());
  guest.Connect();
  guest.RequestOffers();
  CHECK(guest.CreateGpadl(1, 5, Pfns(4)) == MessageResult::kOk);
  CHECK(guest.CreateGpadl(1, 6, Pfns(4)) == MessageResult::kOk);
  CHECK(guest.Post(OpenChannel(1, 1, 5, 0, 2)) == MessageResult::kOk);
  CHECK(guest.Post(GpadlTeardown(1, 5)) == MessageResult::kOk);  // deferred
  outbox.sent.clear();
  CHECK(server.RemoveChannel(1, outbox).ok());
  CHECK(device.closes == std::vector<uint32_t>{1});
  // The deferred teardown completes with the close, before the rescind.
  REQUIRE(outbox.sent.size() == 2);
  CHECK(TypeOf(outbox.sent[0]) == 12u);
  CHECK(TypeOf(outbox.sent[1]) == 2u);
  CHECK(guest.Post(RelidMessage(7, 1)) == MessageResult::kOk);
  CHECK(guest.Post(OpenChannel(1, 1, 6, 0, 2)) == MessageResult::kUnknownChannel);
  CHECK(guest.CreateGpadl(1, 7, Pfns(2)) == MessageResult::kUnknownChannel);
  CHECK(guest.Post(ModifyChannel(1, 0)) == MessageResult::kUnknownChannel);
  CHECK(guest.Post(GpadlTeardown(1, 6)) == MessageResult::kOk);
  CHECK(TypeOf(outbox.sent.back()) == 12u);
  CHECK(device.opens.size() == 1);
  CHECK(device.closes.size() == 1);
  // RelIdReleased frees the relid (and would drop any GPADL left).
  CHECK(guest.Post(RelidMessage(13, 1)) == MessageResult::kOk);
  CHECK(server.channel_count() == 0u);
  CHECK(server.gpadl_page_count() == 0u);
  CHECK(guest.Post(RelidMessage(13, 1)) == MessageResult::kUnknownChannel);
}

TEST_CASE("vmbus channels: relids run out at 2047") {
  ChannelServer server(1);
  RecordingOutbox outbox;
  FakeDevice device;
  for (uint32_t i = 1; i <= 2047; ++i) {
    const auto relid = server.AddChannel(ScsiOffer(1), device, outbox);
    REQUIRE(relid.ok());
    CHECK(*relid == i);
  }
  CHECK(!server.AddChannel(ScsiOffer(1), device, outbox).ok());
  CHECK(server.RemoveChannel(2047, outbox).ok());
  CHECK(!server.OfferSubChannels(1, 2, outbox).ok());  // only one relid free: none added
  CHECK(server.channel_count() == 2046u);
  CHECK(server.FindByConnectionId(0x1000 + 2046)->relid == 2046u);
  CHECK(!server.FindByConnectionId(0x1000 + 2048).has_value());
}
