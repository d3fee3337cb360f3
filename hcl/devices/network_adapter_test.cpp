// hcl's netvsp with a back end, end to end in one process: a "guest" plays
// Linux 6.1's hv_vmbus and hv_netvsc (mana-netvsc.md §5: NVSP init, the
// receive and send buffers as GPADLs, RNDIS control through receive slots)
// against the real VmbusServer, NetworkAdapter, RingChannel threads and
// VTL0 gate, over a byte vector standing in for VTL0's RAM; a fake
// FramePort records what the guest transmits and injects received frames
// from the test's thread (the port's thread in hcl).
#include "devices/network_adapter.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "devices/frame_port.h"
#include "devices/testing/vmbus_guest.h"
#include "net/toeplitz.h"
#include "nvsp/message.h"
#include "rndis/control.h"
#include "rndis/message.h"
#include "vmbus/wire.h"

namespace {

using hcl::testing::Bytes;
using hcl::testing::DeliveredMessage;
using hcl::testing::Get;
using hcl::testing::GuestPacket;
using hcl::testing::GuestRing;
using hcl::testing::Put32;
using hcl::testing::RecordingDriver;
using hcl::testing::VmbusGuest;
using vmbus::wire::MessageType;
namespace vw = vmbus::wire;

constexpr uint64_t kRamBase = 0x10'0000;
constexpr size_t kRamBytes = 4 * 1024 * 1024;
constexpr uint32_t kRingDataPages = 4;  // per ring
constexpr uint32_t kRingPages = 2 * (1 + kRingDataPages);
// 2 pages of 1792-byte sub-allocations (MTU 1514): 4 slots, 3 out at once.
constexpr uint32_t kReceivePages = 2;
constexpr uint32_t kSendPages = 2;  // one 6144-byte section
constexpr uint32_t kSlotsOut = 3;
constexpr auto kWait = std::chrono::milliseconds(5000);
constexpr auto kQuiet = std::chrono::milliseconds(200);
constexpr uint16_t kCompletionRequested = vmbus::kPacketFlagCompletionRequested;
constexpr uint16_t kInband = static_cast<uint16_t>(vmbus::PacketType::kDataInband);
constexpr uint16_t kGpaDirect = static_cast<uint16_t>(vmbus::PacketType::kDataUsingGpaDirect);
constexpr uint16_t kTransferPages = static_cast<uint16_t>(vmbus::PacketType::kDataUsingTransferPages);
constexpr uint16_t kCompletion = static_cast<uint16_t>(vmbus::PacketType::kCompletion);
constexpr std::array<uint8_t, 6> kPortMac = {0x00, 0x22, 0x48, 0x0A, 0x0B, 0x0C};
constexpr uint32_t kTxnInit = 1;
constexpr uint32_t kVps = 4;  // the server's; the adapter gets its own count

class FakePort final : public hcl::FramePort {
 public:
  void SetReceiver(Receiver receiver) override {
    const std::lock_guard lock(mutex_);
    receiver_ = std::move(receiver);
  }
  bool Transmit(std::span<const std::byte> frame, const hcl::TxOffload& offload) override {
    const std::lock_guard lock(mutex_);
    if (refuse_) return false;
    sent_.emplace_back(frame.begin(), frame.end());
    offloads_sent_.push_back(offload);
    return true;
  }
  bool offloads() const override { return offloads_; }
  void set_offloads(bool offloads) { offloads_ = offloads; }  // before the adapter exists
  void SetLinkListener(LinkListener listener) override {
    const std::lock_guard lock(mutex_);
    link_ = std::move(listener);
  }
  // The device's link changes, on the caller's thread.
  void Link(bool up) {
    LinkListener link;
    {
      const std::lock_guard lock(mutex_);
      link = link_;
    }
    REQUIRE(link);
    link(up);
  }
  std::vector<hcl::TxOffload> OffloadsSent() const {
    const std::lock_guard lock(mutex_);
    return offloads_sent_;
  }
  std::array<uint8_t, 6> mac() const override { return kPortMac; }
  uint32_t mtu() const override { return 1500; }

  // A frame from the wire, on the caller's thread.
  void Receive(std::span<const std::byte> frame, const hcl::ReceivedFrameInfo& info = {}) {
    Receiver receiver;
    {
      const std::lock_guard lock(mutex_);
      receiver = receiver_;
    }
    REQUIRE(receiver);
    receiver(frame, info);
  }
  std::vector<Bytes> Sent() const {
    const std::lock_guard lock(mutex_);
    return sent_;
  }
  bool WaitSent(size_t count) const {
    const auto deadline = std::chrono::steady_clock::now() + kWait;
    while (Sent().size() < count) {
      if (std::chrono::steady_clock::now() >= deadline) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return true;
  }
  void set_refuse(bool refuse) {
    const std::lock_guard lock(mutex_);
    refuse_ = refuse;
  }

  // Zero copy: long frames are read in place, their pieces through
  // `guest` (the guest's RAM, as the device would). Before frames flow.
  using GuestReader = std::function<Bytes(uint64_t gpa, size_t bytes)>;
  void set_in_place(GuestReader guest) { guest_ = std::move(guest); }
  bool reads_in_place() const override { return guest_ != nullptr; }
  bool TransmitInPlace(size_t bytes, const FrameReader& read, std::span<const block::Segment> rest,
                       const hcl::TxOffload& offload, SendDone done) override {
    Bytes frame(kInPlaceHeadBytes);
    if (!read(frame)) return false;
    for (const block::Segment& piece : rest) {
      const Bytes part = guest_(mem::ToU64(piece.gpa), piece.bytes);
      frame.insert(frame.end(), part.begin(), part.end());
    }
    CHECK(frame.size() == bytes);
    {
      const std::lock_guard lock(mutex_);
      if (refuse_) return false;
      sent_.push_back(frame);
      offloads_sent_.push_back(offload);
      pieces_.emplace_back(rest.begin(), rest.end());
      if (hold_) {
        held_.push_back(std::move(done));
        return true;
      }
    }
    done(true);  // a device that sends within the doorbell, no lock held
    return true;
  }
  // A device that sends later: dones wait for RunHeld.
  void set_hold(bool hold) {
    const std::lock_guard lock(mutex_);
    hold_ = hold;
  }
  void RunHeld() {
    std::vector<SendDone> held;
    {
      const std::lock_guard lock(mutex_);
      held.swap(held_);
    }
    for (SendDone& done : held) done(true);
  }
  // The pieces of each frame sent in place, in order.
  std::vector<std::vector<block::Segment>> InPlacePieces() const {
    const std::lock_guard lock(mutex_);
    return pieces_;
  }

 private:
  GuestReader guest_;
  std::vector<std::vector<block::Segment>> pieces_;  // guarded by mutex_
  std::vector<SendDone> held_;                       // guarded by mutex_
  bool hold_ = false;                                // guarded by mutex_
  mutable std::mutex mutex_;
  LinkListener link_;
  Receiver receiver_;         // guarded by mutex_
  std::vector<Bytes> sent_;   // guarded by mutex_
  std::vector<hcl::TxOffload> offloads_sent_;  // guarded by mutex_
  bool refuse_ = false;       // guarded by mutex_
  bool offloads_ = false;
};

// An Ethernet frame to `destination`, `length` bytes, its payload a
// pattern naming `tag`.
Bytes Frame(std::array<uint8_t, 6> destination, size_t length, uint32_t tag) {
  Bytes frame(std::max<size_t>(length, 14));
  for (size_t i = 0; i < 6; ++i) frame[i] = std::byte{destination[i]};
  for (size_t i = 0; i < 6; ++i) frame[6 + i] = std::byte{static_cast<uint8_t>(0x50 + i)};
  frame[12] = std::byte{0x08};  // IPv4
  for (size_t i = 14; i < length; ++i) frame[i] = static_cast<std::byte>((tag * 131 + i * 7) & 0xFF);
  if (length >= 18) Put32(frame, 14, tag);
  frame.resize(length);  // runts too
  return frame;
}
constexpr std::array<uint8_t, 6> kBroadcast = {0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF};

// Two frames' RNDIS PACKETs batched in one send section, as hv_netvsc
// does: netvsc_copy_to_send_buf pads a batched packet to the alignment the
// INIT reply asked for (8) and counts the padding in its msg_len.
Bytes Batch(const Bytes& first, const Bytes& second) {
  Bytes batch = rndis::BuildPacket(first);
  batch.resize((batch.size() + 7) / 8 * 8);
  Put32(batch, 4, static_cast<uint32_t>(batch.size()));
  const Bytes second_packet = rndis::BuildPacket(second);
  batch.insert(batch.end(), second_packet.begin(), second_packet.end());
  return batch;
}

// An NVSP message: 40 bytes of little-endian words.
Bytes Nvsp(std::vector<uint32_t> words) {
  Bytes out(nvsp::kMessageBytes);
  for (size_t i = 0; i < words.size(); ++i) Put32(out, 4 * i, words[i]);
  return out;
}
// An RNDIS control message: type, length patched, the words, a tail.
Bytes Rndis(uint32_t type, std::vector<uint32_t> words, const Bytes& tail = {}) {
  Bytes out(8 + 4 * words.size());
  Put32(out, 0, type);
  for (size_t i = 0; i < words.size(); ++i) Put32(out, 8 + 4 * i, words[i]);
  out.insert(out.end(), tail.begin(), tail.end());
  Put32(out, 4, static_cast<uint32_t>(out.size()));
  return out;
}
Bytes U32(uint32_t value) {
  Bytes out(4);
  Put32(out, 0, value);
  return out;
}

// An IPv4 TCP segment to us from 10.0.0.2:`source_port` to 10.0.0.1:80.
Bytes TcpFrame(uint16_t source_port) {
  Bytes frame(14 + 20 + 20 + 10);
  for (size_t i = 0; i < 6; ++i) frame[i] = std::byte{kPortMac[i]};
  for (size_t i = 0; i < 6; ++i) frame[6 + i] = std::byte{static_cast<uint8_t>(0x50 + i)};
  const auto be16 = [&](size_t at, uint16_t value) {
    frame[at] = static_cast<std::byte>(value >> 8);
    frame[at + 1] = static_cast<std::byte>(value & 0xFF);
  };
  be16(12, 0x0800);
  frame[14] = std::byte{0x45};
  be16(16, 50);  // total length
  frame[22] = std::byte{64};
  frame[23] = std::byte{6};  // TCP
  for (size_t i = 0; i < 4; ++i) frame[26 + i] = std::byte{static_cast<uint8_t>(i == 0 ? 10 : i == 3 ? 2 : 0)};
  for (size_t i = 0; i < 4; ++i) frame[30 + i] = std::byte{static_cast<uint8_t>(i == 0 ? 10 : i == 3 ? 1 : 0)};
  be16(34, source_port);
  be16(36, 80);
  frame[46] = std::byte{0x50};  // data offset 5 words
  return frame;
}

// NDIS_RECEIVE_SCALE_PARAMETERS as rndis_set_rss_param_msg builds it: the
// 40-byte header, the table (u32 entries) at 40, the key after it; hash
// info Toeplitz + IPv4, TCP/IPv4, IPv6, TCP/IPv6.
constexpr uint32_t kLinuxHashInfo = 0x1 | 0x100 | 0x200 | 0x400 | 0x1000;
Bytes RssParams(uint16_t flags, const std::vector<uint32_t>& table, const Bytes& key) {
  Bytes info(40 + 4 * table.size() + key.size());
  info[0] = std::byte{0x89};
  info[1] = std::byte{2};
  hcl::testing::Put16(info, 2, 40);
  hcl::testing::Put16(info, 4, flags);
  Put32(info, 8, kLinuxHashInfo);
  hcl::testing::Put16(info, 12, static_cast<uint16_t>(4 * table.size()));
  Put32(info, 16, 40);
  hcl::testing::Put16(info, 20, static_cast<uint16_t>(key.size()));
  Put32(info, 24, static_cast<uint32_t>(40 + 4 * table.size()));
  for (size_t i = 0; i < table.size(); ++i) Put32(info, 40 + 4 * i, table[i]);
  std::copy(key.begin(), key.end(), info.begin() + static_cast<ptrdiff_t>(40 + 4 * table.size()));
  return info;
}
// hv_netvsc's default table for `channels` (ethtool_rxfh_indir_default)
// and a key.
std::vector<uint32_t> RssTable(uint32_t channels) {
  std::vector<uint32_t> table(128);
  for (uint32_t i = 0; i < table.size(); ++i) table[i] = i % channels;
  return table;
}
Bytes RssKey() {
  Bytes key(40);
  for (size_t i = 0; i < key.size(); ++i) key[i] = static_cast<std::byte>(0x6D + 37 * i);
  return key;
}
// The channel the guest's table names for `frame`, and the hash.
std::pair<uint32_t, uint32_t> RssChannel(const Bytes& frame, const std::vector<uint32_t>& table,
                                         const Bytes& key) {
  const net::RssHash hash = net::HashFrame(
      std::span<const std::byte, 40>(key.data(), 40), frame,
      net::kHashIpv4 | net::kHashTcpIpv4 | net::kHashIpv6 | net::kHashTcpIpv6);
  REQUIRE(hash.type == net::kHashTcpIpv4);
  return {table[hash.value % table.size()], hash.value};
}

struct Fixture;

// What the guest read from a transfer-page packet: the NVSP channel type
// and the RNDIS message in the receive buffer.
struct Received {
  uint64_t transaction_id = 0;
  uint32_t channel_type = 0;
  Bytes message;
};

struct Fixture : hcl::testing::GuestRam {
  RecordingDriver driver;
  hcl::VmbusServer server{driver, kVps};
  VmbusGuest guest{server, memory, ram, driver, kRamBase};
  uint32_t next_gpadl = 0xE1E10;
  FakePort port;  // outlives the adapter
  std::unique_ptr<hcl::NetworkAdapter> adapter;

  uint32_t relid = 0;
  uint32_t connection_id = 0;
  std::optional<GuestRing> to_host;
  std::optional<GuestRing> from_host;
  uint64_t receive_gpa = 0;
  uint64_t send_gpa = 0;
  uint32_t next_request = 100;

  explicit Fixture(bool offloads = false, uint32_t vps = 1) : GuestRam(kRamBase, kRamBytes) {
    port.set_offloads(offloads);
    auto created = hcl::NetworkAdapter::Create(server, memory, {}, &port, vps);
    REQUIRE(created.ok());
    adapter = std::move(created).value();
  }

  // hv_vmbus: version 5.3, the offer, the ring GPADL, open.
  void OpenChannel() {
    REQUIRE(guest.Post(vw::kModernMessageConnectionId,
                       hcl::testing::InitiateContact(vw::kVersionWin10V5_3, 0, 2)) ==
            ::hv::Status::kSuccess);
    auto messages = guest.TakeMessages();
    REQUIRE(messages.size() == 1);
    guest.msg_conn_id = messages[0].Field<uint32_t>(offsetof(vw::VersionResponse, msg_conn_id));
    REQUIRE(guest.Post(hcl::testing::RequestOffers()) == ::hv::Status::kSuccess);
    messages = guest.TakeMessages();
    REQUIRE(messages.size() == 2);
    REQUIRE(messages[0].type() == static_cast<uint32_t>(MessageType::kOfferChannel));
    relid = messages[0].Field<uint32_t>(offsetof(vw::OfferChannel, child_relid));
    connection_id = messages[0].Field<uint32_t>(offsetof(vw::OfferChannel, connection_id));
    const uint64_t first = AllocPages(kRingPages);
    const uint32_t ring_gpadl = CreateGpadl(Pfns(first, kRingPages));
    REQUIRE(guest.Post(hcl::testing::OpenChannel(relid, 1, ring_gpadl, 0, 1 + kRingDataPages)) ==
            ::hv::Status::kSuccess);
    messages = guest.TakeMessages();
    REQUIRE(messages.size() == 1);
    REQUIRE(messages[0].type() == static_cast<uint32_t>(MessageType::kOpenChannelResult));
    REQUIRE(messages[0].Field<uint32_t>(offsetof(vw::OpenChannelResult, status)) ==
            vw::kStatusSuccess);
    to_host.emplace(ram, first, kRingDataPages);
    from_host.emplace(ram, first + (1 + kRingDataPages) * base::kPageSize, kRingDataPages);
  }
  uint32_t CreateGpadl(std::span<const uint64_t> pfns, std::optional<uint32_t> on = {}) {
    const uint32_t gpadl = next_gpadl++;
    REQUIRE(guest.Post(hcl::testing::GpadlHeader(on.value_or(relid), gpadl, pfns)) ==
            ::hv::Status::kSuccess);
    auto messages = guest.TakeMessages();
    REQUIRE(messages.size() == 1);
    REQUIRE(messages[0].type() == static_cast<uint32_t>(MessageType::kGpadlCreated));
    REQUIRE(messages[0].Field<uint32_t>(offsetof(vw::GpadlCreated, creation_status)) ==
            vw::kStatusSuccess);
    return gpadl;
  }

  // A sub-channel as hv_vmbus opens it for netvsc_sc_open.
  struct SubChannel {
    uint32_t relid = 0;
    uint32_t connection_id = 0;
    uint16_t index = 0;
    GuestRing to_host;
    GuestRing from_host;
  };
  std::vector<SubChannel> subs;
  // The channel `index` (0: the primary) as {to host, from host, connection}.
  struct Rings {
    GuestRing* to_host;
    GuestRing* from_host;
    uint32_t connection_id;
  };
  Rings On(size_t index) {
    if (index == 0) return {&*to_host, &*from_host, connection_id};
    REQUIRE(index <= subs.size());
    SubChannel& sub = subs[index - 1];
    REQUIRE(sub.index == index);
    return {&sub.to_host, &sub.from_host, sub.connection_id};
  }
  // rndis_set_subchannel: SUBCHANNEL {allocate, count}, its completion
  // {status, granted}; then (granted) the offers, each ring opened on the
  // VP of its index as netvsc_sc_open does.
  uint32_t RequestSubChannels(uint32_t count, uint32_t expected_status) {
    Send(kInband, kCompletionRequested, 60, Nvsp({nvsp::type::kSubChannel, 1, count}));
    const GuestPacket packet = Next();
    CHECK(packet.type == kCompletion);
    CHECK(packet.transaction_id == 60);
    REQUIRE(packet.payload.size() >= nvsp::kMessageBytes);
    CHECK(Get<uint32_t>(packet.payload, 0) == nvsp::type::kSubChannel);
    CHECK(Get<uint32_t>(packet.payload, 4) == expected_status);
    const uint32_t granted = Get<uint32_t>(packet.payload, 8);
    if (expected_status != nvsp::status::kSuccess) return granted;
    // The offers come from the primary's thread, one message each.
    std::vector<DeliveredMessage> offers;
    const auto deadline = std::chrono::steady_clock::now() + kWait;
    while (offers.size() < granted && std::chrono::steady_clock::now() < deadline) {
      for (DeliveredMessage& message : guest.TakeMessages())
        if (message.type() == static_cast<uint32_t>(MessageType::kOfferChannel))
          offers.push_back(std::move(message));
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    REQUIRE(offers.size() == granted);
    for (const DeliveredMessage& message : offers) {
      const DeliveredMessage* offer = &message;
      const auto sub_relid = offer->Field<uint32_t>(offsetof(vw::OfferChannel, child_relid));
      const auto index = offer->Field<uint16_t>(offsetof(vw::OfferChannel, sub_channel_index));
      const uint64_t first = AllocPages(kRingPages);
      const uint32_t ring_gpadl = CreateGpadl(Pfns(first, kRingPages), sub_relid);
      REQUIRE(guest.Post(hcl::testing::OpenChannel(sub_relid, 1, ring_gpadl, index,
                                                   1 + kRingDataPages)) == ::hv::Status::kSuccess);
      const auto result = guest.WaitMessage(MessageType::kOpenChannelResult, kWait);
      REQUIRE(result.has_value());
      REQUIRE(result->Field<uint32_t>(offsetof(vw::OpenChannelResult, status)) ==
              vw::kStatusSuccess);
      SubChannel sub{sub_relid, offer->Field<uint32_t>(offsetof(vw::OfferChannel, connection_id)),
                     index, GuestRing(ram, first, kRingDataPages),
                     GuestRing(ram, first + (1 + kRingDataPages) * base::kPageSize, kRingDataPages)};
      subs.push_back(std::move(sub));
    }
    std::sort(subs.begin(), subs.end(),
              [](const SubChannel& a, const SubChannel& b) { return a.index < b.index; });
    return granted;
  }

  void Send(uint16_t type, uint16_t flags, uint64_t transaction_id, std::span<const std::byte> body,
            uint16_t offset8 = 2, size_t channel = 0) {
    const Rings rings = On(channel);
    REQUIRE(rings.to_host->Write(type, flags, transaction_id, body, offset8).has_value());
    CHECK(server.SignalEvent(rings.connection_id) == ::hv::Status::kSuccess);
  }
  GuestPacket Next(size_t channel = 0) {
    auto packet = On(channel).from_host->WaitRead(kWait);
    REQUIRE(packet.has_value());
    return *std::move(packet);
  }
  // The next packet is a completion for `transaction_id` of NVSP `type`
  // with `status`.
  void ExpectCompletion(uint64_t transaction_id, uint32_t type, uint32_t status,
                        size_t channel = 0) {
    const GuestPacket packet = Next(channel);
    CHECK(packet.type == kCompletion);
    CHECK(packet.transaction_id == transaction_id);
    REQUIRE(packet.payload.size() >= nvsp::kMessageBytes);
    CHECK(Get<uint32_t>(packet.payload, 0) == type);
    // INIT_COMPLETE: {negotiated (legacy), max_mdl_chain_len, status}.
    CHECK(Get<uint32_t>(packet.payload, type == nvsp::type::kInitComplete ? 12 : 4) == status);
  }
  // The next packet is a transfer-page packet as netvsc_receive checks it
  // (mana-netvsc.md §5 RX); its RNDIS message from the receive buffer.
  Received NextReceive(size_t channel = 0) {
    const GuestPacket packet = Next(channel);
    REQUIRE(packet.type == kTransferPages);
    CHECK((packet.flags & kCompletionRequested) != 0);
    REQUIRE(packet.extension.size() >= 16);
    CHECK(Get<uint16_t>(packet.extension, 0) == 0xCAFE);
    REQUIRE(Get<uint32_t>(packet.extension, 4) == 1);
    const uint32_t count = Get<uint32_t>(packet.extension, 8);
    const uint32_t offset = Get<uint32_t>(packet.extension, 12);
    REQUIRE(uint64_t{offset} + count <= kReceivePages * base::kPageSize);
    REQUIRE(packet.payload.size() >= 16);
    CHECK(Get<uint32_t>(packet.payload, 0) == nvsp::type::kSendRndisPacket);
    return {packet.transaction_id, Get<uint32_t>(packet.payload, 4),
            RamBytes(receive_gpa + offset, count)};
  }
  // The guest is done with a receive (netvsc_send_recv_completion).
  void Complete(uint64_t transaction_id, size_t channel = 0) {
    Send(kCompletion, 0, transaction_id,
         Nvsp({nvsp::type::kSendRndisPacketComplete, nvsp::status::kSuccess}), 2, channel);
  }
  bool NothingArrives(size_t channel = 0) {
    return !On(channel).from_host->WaitRead(kQuiet).has_value();
  }

  // RNDIS bytes in send section 0, then RNDIS_PKT naming it; the NVSP
  // completion status.
  void SendInSection(uint32_t channel_type, std::span<const std::byte> rndis, uint64_t txn,
                     size_t channel = 0) {
    REQUIRE(rndis.size() <= 6144);
    SetRam(send_gpa, rndis);
    Send(kInband, kCompletionRequested, txn,
         Nvsp({nvsp::type::kSendRndisPacket, channel_type, 0, static_cast<uint32_t>(rndis.size())}),
         2, channel);
  }
  // `section` bytes in send section 0 (none if empty) and `direct` in
  // fresh pages named by a GPA-direct range (mixed, or GPA direct alone).
  // `outside_gpa`: the range names pages there instead (not the guest's
  // RAM), holding nothing.
  void SendMixed(uint32_t channel_type, std::span<const std::byte> section,
                 std::span<const std::byte> direct, uint64_t txn, uint64_t outside_gpa = 0) {
    if (!section.empty()) SetRam(send_gpa, section);
    const uint64_t pages = (direct.size() + 100 + base::kPageSize - 1) / base::kPageSize;
    const uint64_t gpa = outside_gpa != 0 ? outside_gpa : AllocPages(pages);
    if (outside_gpa == 0) SetRam(gpa + 100, direct);
    const auto pfns = Pfns(gpa, pages);
    const Bytes message = Nvsp({nvsp::type::kSendRndisPacket, channel_type,
                                section.empty() ? nvsp::kNoSection : 0,
                                static_cast<uint32_t>(section.size())});
    const auto [body, offset8] = hcl::testing::GpaDirectBody(
        static_cast<uint32_t>(direct.size()), 100, pfns, message);
    Send(kGpaDirect, kCompletionRequested, txn, body, offset8);
  }

  // A control request through the send buffer; its reply through a slot,
  // completed at once.
  Bytes Control(const Bytes& request) {
    SendInSection(1, request, 7);
    const Received reply = NextReceive();
    CHECK(reply.channel_type == 1);
    ExpectCompletion(7, nvsp::type::kSendRndisPacketComplete, nvsp::status::kSuccess);
    Complete(reply.transaction_id);
    Sync();
    return reply.message;
  }
  // Returns once the channel's thread handled every packet sent before:
  // a second INIT (refused once ready) is answered in ring order.
  void Sync() {
    Send(kInband, kCompletionRequested, 99, Nvsp({nvsp::type::kInit, 0x60001, 0x60001}));
    ExpectCompletion(99, nvsp::type::kInitComplete, nvsp::status::kFailure);
  }

  // netvsc_connect_vsp and rndis_filter_device_add's first steps: NVSP
  // 6.1, the buffers, RNDIS INIT; the MAC the guest learns.
  void Bringup() {
    OpenChannel();
    Send(kInband, kCompletionRequested, kTxnInit, Nvsp({nvsp::type::kInit, 0x60001, 0x60001}));
    ExpectCompletion(kTxnInit, nvsp::type::kInitComplete, nvsp::status::kSuccess);
    Bytes config = Nvsp({nvsp::type::kSendNdisConfig, 1514, 0, 0, 0});
    Send(kInband, 0, 2, config);
    Send(kInband, 0, 3, Nvsp({nvsp::type::kSendNdisVersion, 6, 30}));
    receive_gpa = AllocPages(kReceivePages);
    const uint32_t receive = CreateGpadl(Pfns(receive_gpa, kReceivePages));
    Send(kInband, kCompletionRequested, 4, Nvsp({nvsp::type::kSendReceiveBuffer, receive, 0xCAFE}));
    ExpectCompletion(4, nvsp::type::kSendReceiveBufferComplete, nvsp::status::kSuccess);
    send_gpa = AllocPages(kSendPages);
    const uint32_t send = CreateGpadl(Pfns(send_gpa, kSendPages));
    Send(kInband, kCompletionRequested, 5, Nvsp({nvsp::type::kSendSendBuffer, send, 0}));
    ExpectCompletion(5, nvsp::type::kSendSendBufferComplete, nvsp::status::kSuccess);

    const Bytes init = Control(Rndis(rndis::msg::kInitialize, {next_request++, 1, 0, 0x4000}));
    REQUIRE(init.size() >= 16);
    CHECK(Get<uint32_t>(init, 0) == (rndis::msg::kInitialize | rndis::msg::kCompletion));
    CHECK(Get<uint32_t>(init, 12) == rndis::status::kSuccess);
    // The MAC and MTU are the port's (rndis_filter_query_device_mac).
    const Bytes mac = Control(
        Rndis(rndis::msg::kQuery, {next_request++, rndis::oid::k8023PermanentAddress, 0, 0, 0}));
    REQUIRE(mac.size() == 24 + 6);
    for (size_t i = 0; i < 6; ++i) CHECK(mac[24 + i] == std::byte{kPortMac[i]});
    const Bytes mtu = Control(
        Rndis(rndis::msg::kQuery, {next_request++, rndis::oid::kGenMaximumFrameSize, 0, 0, 0}));
    REQUIRE(mtu.size() == 24 + 4);
    CHECK(Get<uint32_t>(mtu, 24) == 1500);
    const Bytes media = Control(
        Rndis(rndis::msg::kQuery, {next_request++, rndis::oid::kGenMediaConnectStatus, 0, 0, 0}));
    REQUIRE(media.size() == 24 + 4);
    CHECK(Get<uint32_t>(media, 24) == 0);  // connected
  }
  void SetFilter(uint32_t filter) {
    const Bytes reply = Control(Rndis(
        rndis::msg::kSet, {next_request++, rndis::oid::kGenCurrentPacketFilter, 4, 20, 0}, U32(filter)));
    REQUIRE(reply.size() >= 16);
    CHECK(Get<uint32_t>(reply, 12) == rndis::status::kSuccess);
  }
  // A SET's status (rndis_filter_set_rss_param and the like).
  uint32_t SetOid(uint32_t oid, const Bytes& info) {
    const Bytes reply = Control(
        Rndis(rndis::msg::kSet, {next_request++, oid, static_cast<uint32_t>(info.size()), 20, 0}, info));
    REQUIRE(reply.size() >= 16);
    CHECK(Get<uint32_t>(reply, 0) == (rndis::msg::kSet | rndis::msg::kCompletion));
    return Get<uint32_t>(reply, 12);
  }
  // `ip link up`.
  void Ready() {
    Bringup();
    SetFilter(rndis::filter::kDirected | rndis::filter::kAllMulticast | rndis::filter::kBroadcast);
  }

  // The frame of a received RNDIS PACKET, checked as rndis_filter_receive
  // does; and its checksum PPI, if any.
  static Bytes FrameOf(const Received& received, std::optional<uint32_t>* checksum = nullptr) {
    CHECK(received.channel_type == 0);
    const auto packet = rndis::ParsePacket(received.message);
    REQUIRE(packet.ok());
    if (checksum != nullptr) {
      checksum->reset();
      for (const auto& info : packet->infos)
        if (info.type == rndis::ppi::kChecksum && info.payload.size() == 4)
          *checksum = Get<uint32_t>(info.payload, 0);
    }
    return Bytes(packet->frame.begin(), packet->frame.end());
  }
};

}  // namespace

TEST_CASE("network adapter: guest frames reach the port byte for byte (section, GPA direct, mixed)") {
  Fixture f;
  f.Ready();
  const std::array<uint8_t, 6> peer = {0x52, 0x54, 0x00, 0x12, 0x34, 0x56};

  // Inband: the whole RNDIS PACKET in send section 0.
  const Bytes first = Frame(peer, 98, 1);
  f.SendInSection(0, rndis::BuildPacket(first), 20);
  f.ExpectCompletion(20, nvsp::type::kSendRndisPacketComplete, nvsp::status::kSuccess);
  REQUIRE(f.port.WaitSent(1));
  CHECK(f.port.Sent()[0] == first);

  // GPA direct: the packet in guest pages, a maximum-size frame, with the
  // checksum and LSO PPIs a guest might add: ignored, the frame goes as is.
  const Bytes second = Frame(peer, 1514, 2);
  std::vector<rndis::OutgoingInfo> infos;
  infos.push_back({rndis::ppi::kChecksum, U32(0x1D)});
  infos.push_back({rndis::ppi::kLsoV2, U32(1u << 30 | 536)});
  f.SendMixed(0, {}, rndis::BuildPacket(second, infos), 21);
  f.ExpectCompletion(21, nvsp::type::kSendRndisPacketComplete, nvsp::status::kSuccess);
  REQUIRE(f.port.WaitSent(2));
  CHECK(f.port.Sent()[1] == second);

  // Mixed (cp_partial): header and PPIs in the section, the frame's bytes
  // in a GPA-direct range; one RNDIS stream.
  const Bytes third = Frame(peer, 700, 3);
  const Bytes whole = rndis::BuildPacket(third);
  const size_t split = whole.size() - third.size() + 20;  // 20 frame bytes in the section
  f.SendMixed(0, std::span(whole).first(split), std::span(whole).subspan(split), 22);
  f.ExpectCompletion(22, nvsp::type::kSendRndisPacketComplete, nvsp::status::kSuccess);
  REQUIRE(f.port.WaitSent(3));
  CHECK(f.port.Sent()[2] == third);

  // A batch of two in one section (hv_netvsc's TX batching).
  const Bytes fourth = Frame(peer, 60, 4), fifth = Frame(kBroadcast, 42, 5);
  f.SendInSection(0, Batch(fourth, fifth), 23);
  f.ExpectCompletion(23, nvsp::type::kSendRndisPacketComplete, nvsp::status::kSuccess);
  REQUIRE(f.port.WaitSent(5));
  CHECK(f.port.Sent()[3] == fourth);
  CHECK(f.port.Sent()[4] == fifth);

  // The port refuses one: counted, still completed.
  f.port.set_refuse(true);
  f.SendInSection(0, rndis::BuildPacket(first), 24);
  f.ExpectCompletion(24, nvsp::type::kSendRndisPacketComplete, nvsp::status::kSuccess);
  f.port.set_refuse(false);

  const auto counters = f.adapter->counters();
  CHECK(counters.tx_frames == 5);
  CHECK(counters.tx_bytes == 98 + 1514 + 700 + 60 + 42);
  CHECK(counters.tx_refused == 1);
  CHECK(counters.tx_malformed == 0);
  CHECK(f.adapter->Summary().find("tx 5 frames 2414 bytes (refused 1") != std::string::npos);
}

TEST_CASE("network adapter: zero copy: long frames are read in place from the guest's pages; their completion waits for the device") {
  Fixture f;
  f.port.set_in_place([&f](uint64_t gpa, size_t bytes) { return f.RamBytes(gpa, bytes); });
  f.Ready();
  const std::array<uint8_t, 6> peer = {0x52, 0x54, 0x00, 0x12, 0x34, 0x56};
  const auto in_send_buffer = [&](const block::Segment& piece) {
    return mem::ToU64(piece.gpa) >= f.send_gpa &&
           mem::ToU64(piece.gpa) + piece.bytes <= f.send_gpa + kSendPages * base::kPageSize;
  };

  // In a send section: the port read only the head through hcl; the rest
  // are pieces of the send buffer's pages.
  const Bytes first = Frame(peer, 1514, 1);
  f.SendInSection(0, rndis::BuildPacket(first), 40);
  f.ExpectCompletion(40, nvsp::type::kSendRndisPacketComplete, nvsp::status::kSuccess);
  REQUIRE(f.port.WaitSent(1));
  CHECK(f.port.Sent()[0] == first);
  const auto pieces = f.port.InPlacePieces();
  REQUIRE(pieces.size() == 1);
  for (const block::Segment& piece : pieces[0]) CHECK(in_send_buffer(piece));

  // No longer than the head: copied.
  const Bytes short_frame = Frame(peer, 200, 2);
  f.SendInSection(0, rndis::BuildPacket(short_frame), 41);
  f.ExpectCompletion(41, nvsp::type::kSendRndisPacketComplete, nvsp::status::kSuccess);
  REQUIRE(f.port.WaitSent(2));
  CHECK(f.port.Sent()[1] == short_frame);
  CHECK(f.port.InPlacePieces().size() == 1);

  // A device that sends later: the packet (GPA direct) is not completed,
  // so the guest keeps its pages, until the device is done.
  f.port.set_hold(true);
  const Bytes third = Frame(peer, 1400, 3);
  f.SendMixed(0, {}, rndis::BuildPacket(third), 42);
  REQUIRE(f.port.WaitSent(3));
  CHECK(f.port.Sent()[2] == third);
  CHECK(f.NothingArrives());
  f.port.RunHeld();
  f.ExpectCompletion(42, nvsp::type::kSendRndisPacketComplete, nvsp::status::kSuccess);

  // Two in one packet (batched): completed once both are done.
  const Bytes fourth = Frame(peer, 700, 4), fifth = Frame(peer, 900, 5);
  f.SendInSection(0, Batch(fourth, fifth), 43);
  REQUIRE(f.port.WaitSent(5));
  CHECK(f.NothingArrives());
  f.port.RunHeld();
  f.ExpectCompletion(43, nvsp::type::kSendRndisPacketComplete, nvsp::status::kSuccess);
  CHECK(f.port.Sent()[3] == fourth);
  CHECK(f.port.Sent()[4] == fifth);

  // Frame bytes a GPA range puts outside VTL0's RAM: no piece is handed to
  // the device, and the copy's read fails too: nothing sent.
  f.port.set_hold(false);
  const Bytes outside = rndis::BuildPacket(Frame(peer, 1514, 6));
  f.SendMixed(0, std::span(outside).first(rndis::kPacketFixedBytes),
              std::span(outside).subspan(rndis::kPacketFixedBytes), 44,
              kRamBase + kRamBytes + 0x10'0000);
  f.ExpectCompletion(44, nvsp::type::kSendRndisPacketComplete, nvsp::status::kSuccess);
  CHECK(f.port.Sent().size() == 5);
  CHECK(f.port.InPlacePieces().size() == 4);
  // The same for pages of VTL0's RAM that VTL2 denied VTL0 (a VTL0 page
  // hcl keeps for itself): never lent to the device either.
  const uint64_t denied = f.AllocPages(2);
  REQUIRE(f.memory
              .ChangeProtection(denied / base::kPageSize, 2, 0,
                                [] { return base::Result<void>(base::Ok()); })
              .ok());
  f.SendMixed(0, std::span(outside).first(rndis::kPacketFixedBytes),
              std::span(outside).subspan(rndis::kPacketFixedBytes), 46, denied);
  f.ExpectCompletion(46, nvsp::type::kSendRndisPacketComplete, nvsp::status::kSuccess);
  CHECK(f.port.Sent().size() == 5);
  CHECK(f.port.InPlacePieces().size() == 4);

  // The channel closes while the device still reads a frame: its
  // completion goes nowhere when the device is done, and nothing breaks.
  f.port.set_hold(true);
  f.SendInSection(0, rndis::BuildPacket(first), 45);
  REQUIRE(f.port.WaitSent(6));
  f.adapter->OnClose(f.relid);
  f.port.RunHeld();

  const auto counters = f.adapter->counters();
  CHECK(counters.tx_frames == 6);
  CHECK(counters.tx_in_place == 5);
  CHECK(counters.tx_refused == 2);
  CHECK(f.adapter->Summary().find("in place 5)") != std::string::npos);
}

TEST_CASE("network adapter: port frames land in a receive slot as RNDIS PACKETs, checksum PPI when verified") {
  Fixture f;
  // Before the channel is open: dropped and counted.
  FakePort& port = f.port;
  port.Receive(Frame(kBroadcast, 60, 0));
  f.Bringup();
  // Before a packet filter (0: receive nothing): dropped.
  port.Receive(Frame(kBroadcast, 60, 0));
  CHECK(f.NothingArrives());
  f.SetFilter(rndis::filter::kDirected | rndis::filter::kAllMulticast | rndis::filter::kBroadcast);

  const Bytes to_us = Frame(kPortMac, 1514, 1);
  port.Receive(to_us, {.ip_checksum_ok = true, .tcp_checksum_ok = true});
  Received received = f.NextReceive();
  std::optional<uint32_t> checksum;
  CHECK(Fixture::FrameOf(received, &checksum) == to_us);
  REQUIRE(checksum.has_value());
  CHECK(*checksum == (1u << 3 | 1u << 5));  // tcp_ok, ip_ok
  f.Complete(received.transaction_id);

  const Bytes udp = Frame(kBroadcast, 342, 2);  // a DHCP offer, say
  port.Receive(udp, {.ip_checksum_ok = true, .udp_checksum_ok = true});
  received = f.NextReceive();
  CHECK(Fixture::FrameOf(received, &checksum) == udp);
  CHECK(checksum == std::optional<uint32_t>(1u << 4 | 1u << 5));
  f.Complete(received.transaction_id);

  const Bytes unverified = Frame({0x33, 0x33, 0x00, 0x00, 0x00, 0x01}, 86, 3);  // IPv6 multicast
  port.Receive(unverified);
  received = f.NextReceive();
  CHECK(Fixture::FrameOf(received, &checksum) == unverified);
  CHECK(!checksum.has_value());
  f.Complete(received.transaction_id);

  // Someone else's unicast, a runt, a frame larger than a slot: dropped.
  port.Receive(Frame({0x00, 0x22, 0x48, 0x0A, 0x0B, 0x0D}, 60, 4));
  port.Receive(Frame(kPortMac, 13, 5));
  port.Receive(Frame(kPortMac, 1792, 6));
  CHECK(f.NothingArrives());
  // Promiscuous: someone else's unicast too.
  f.SetFilter(rndis::filter::kPromiscuous);
  const Bytes other = Frame({0x00, 0x22, 0x48, 0x0A, 0x0B, 0x0D}, 60, 7);
  port.Receive(other);
  received = f.NextReceive();
  CHECK(Fixture::FrameOf(received) == other);
  f.Complete(received.transaction_id);

  const auto counters = f.adapter->counters();
  CHECK(counters.rx_frames == 4);
  CHECK(counters.rx_bytes == 1514 + 342 + 86 + 60);
  CHECK(counters.rx_not_ready == 1);
  CHECK(counters.rx_filtered == 2);
  CHECK(counters.rx_bad_size == 2);
  CHECK(counters.rx_overflow == 0);
}

TEST_CASE("network adapter: with every slot out frames wait, a completion releases the next; past the bound they drop") {
  Fixture f;
  f.Ready();
  std::vector<Bytes> frames;
  for (uint32_t i = 0; i < kSlotsOut + hcl::NetworkAdapter::kMaxWaitingFrames + 5; ++i)
    frames.push_back(Frame(kPortMac, 60 + i % 200, i));
  for (const Bytes& frame : frames) f.port.Receive(frame);

  // The guest holds kSlotsOut; nothing more arrives until it completes.
  std::vector<Received> held;
  for (uint32_t i = 0; i < kSlotsOut; ++i) {
    held.push_back(f.NextReceive());
    CHECK(Fixture::FrameOf(held.back()) == frames[i]);
  }
  CHECK(f.NothingArrives());
  auto counters = f.adapter->counters();
  CHECK(counters.rx_frames == kSlotsOut);
  CHECK(counters.rx_overflow == 5);

  // A control reply while frames wait goes out first.
  f.SendInSection(1, Rndis(rndis::msg::kKeepalive, {77}), 30);
  f.ExpectCompletion(30, nvsp::type::kSendRndisPacketComplete, nvsp::status::kSuccess);
  CHECK(f.NothingArrives());
  f.Complete(held[0].transaction_id);
  const Received keepalive = f.NextReceive();
  CHECK(keepalive.channel_type == 1);
  CHECK(Get<uint32_t>(keepalive.message, 0) == (rndis::msg::kKeepalive | rndis::msg::kCompletion));
  CHECK(Get<uint32_t>(keepalive.message, 8) == 77);
  held.erase(held.begin());
  held.push_back(keepalive);

  // Each completion releases the next waiting frame, in order.
  size_t next = kSlotsOut;
  for (size_t done = 0; next < kSlotsOut + hcl::NetworkAdapter::kMaxWaitingFrames; ++done) {
    f.Complete(held[done % held.size()].transaction_id);
    const Received received = f.NextReceive();
    REQUIRE(Fixture::FrameOf(received) == frames[next++]);
    held[done % held.size()] = received;
  }
  CHECK(f.NothingArrives());
  counters = f.adapter->counters();
  CHECK(counters.rx_frames == kSlotsOut + hcl::NetworkAdapter::kMaxWaitingFrames);
  CHECK(counters.rx_overflow == 5);

  // A completion for no receive, or twice for one: refused, nothing freed
  // twice (the slot count stays right: three more go, a fourth waits).
  for (const Received& received : held) f.Complete(received.transaction_id);
  f.Complete(held[0].transaction_id);
  f.Complete(0xDEAD'BEEF);
  f.Sync();
  for (uint32_t i = 0; i < kSlotsOut + 1; ++i) f.port.Receive(frames[i]);
  for (uint32_t i = 0; i < kSlotsOut; ++i) CHECK(Fixture::FrameOf(f.NextReceive()) == frames[i]);
  CHECK(f.NothingArrives());
}

TEST_CASE("network adapter: hostile RNDIS packets are not transmitted; the channel carries on") {
  Fixture f;
  f.Ready();
  const std::array<uint8_t, 6> peer = {0x52, 0x54, 0x00, 0x12, 0x34, 0x56};
  const Bytes good = Frame(peer, 100, 1);
  uint64_t txn = 40;
  auto send = [&](const Bytes& rndis) {
    f.SendInSection(0, rndis, txn);
    f.ExpectCompletion(txn, nvsp::type::kSendRndisPacketComplete, nvsp::status::kSuccess);
    ++txn;
  };
  auto patched = [&](size_t offset, uint32_t value) {
    Bytes packet = rndis::BuildPacket(good);
    Put32(packet, offset, value);
    return packet;
  };
  // DataOffset past the message, DataLength past it, a length that wraps
  // with the offset, zero data, an offset inside the fixed fields.
  send(patched(8, 0x1000));
  send(patched(12, 0x1000));
  send(patched(12, 0xFFFF'FFF0));
  send(patched(12, 0));
  send(patched(8, 4));
  // Out-of-band data or a VC handle.
  send(patched(16, 36));
  // Per-packet info whose size lies.
  std::vector<rndis::OutgoingInfo> infos;
  infos.push_back({rndis::ppi::kChecksum, U32(0)});
  Bytes lying_ppi = rndis::BuildPacket(good, infos);
  Put32(lying_ppi, 44, 0x7FFF'FFFF);
  send(lying_ppi);
  // MessageLength past the section's bytes, or below a header.
  send(patched(4, 0x2000));
  send(patched(4, 4));
  // An LSO-sized frame (GPA direct): larger than the MTU, dropped.
  infos.clear();
  infos.push_back({rndis::ppi::kLsoV2, U32(1u << 30 | 1448)});
  f.SendMixed(0, {}, rndis::BuildPacket(Frame(peer, 9000, 9), infos), txn);
  f.ExpectCompletion(txn++, nvsp::type::kSendRndisPacketComplete, nvsp::status::kSuccess);
  // A runt.
  send(rndis::BuildPacket(Frame(peer, 10, 10)));
  // A section size past the section, a section index past the buffer:
  // refused by NVSP with a failure status.
  f.Send(kInband, kCompletionRequested, txn,
         Nvsp({nvsp::type::kSendRndisPacket, 0, 0, 6145}));
  f.ExpectCompletion(txn++, nvsp::type::kSendRndisPacketComplete, nvsp::status::kFailure);
  f.Send(kInband, kCompletionRequested, txn, Nvsp({nvsp::type::kSendRndisPacket, 0, 7, 100}));
  f.ExpectCompletion(txn++, nvsp::type::kSendRndisPacketComplete, nvsp::status::kFailure);

  // The RNDIS header in the section, the frame's bytes in a GPA range
  // outside VTL0's RAM (VTL2's memory on a partition): never read, never
  // sent (the port's read of the frame fails; it refuses).
  const Bytes split = rndis::BuildPacket(good);
  f.SendMixed(0, std::span(split).first(rndis::kPacketFixedBytes),
              std::span(split).subspan(rndis::kPacketFixedBytes), txn,
              kRamBase + kRamBytes + 0x10'0000);
  f.ExpectCompletion(txn++, nvsp::type::kSendRndisPacketComplete, nvsp::status::kSuccess);
  // The header itself out there: the packet fails.
  f.SendMixed(0, {}, split, txn, kRamBase + kRamBytes + 0x10'0000);
  f.ExpectCompletion(txn++, nvsp::type::kSendRndisPacketComplete, nvsp::status::kFailure);

  CHECK(f.port.Sent().empty());
  // Still serving: a good frame goes, a received one arrives.
  send(rndis::BuildPacket(good));
  REQUIRE(f.port.WaitSent(1));
  CHECK(f.port.Sent()[0] == good);
  f.port.Receive(Frame(kPortMac, 60, 11));
  CHECK(Fixture::FrameOf(f.NextReceive()).size() == 60);

  const auto counters = f.adapter->counters();
  CHECK(counters.tx_frames == 1);
  CHECK(counters.tx_malformed == 9);
  CHECK(counters.tx_bad_size == 2);
  CHECK(counters.tx_refused == 1);
}

TEST_CASE("network adapter: with a port that offloads, checksum and LSO info reach it, checked") {
  Fixture f(/*offloads=*/true);
  f.Ready();
  const std::array<uint8_t, 6> peer = {0x52, 0x54, 0x00, 0x12, 0x34, 0x56};
  uint64_t txn = 40;
  const auto send = [&](const Bytes& packet) {
    f.SendMixed(0, {}, packet, txn);
    f.ExpectCompletion(txn++, nvsp::type::kSendRndisPacketComplete, nvsp::status::kSuccess);
  };
  // Checksum info: IPv4, TCP, header offset 34 (hv_netvsc's
  // CHECKSUM_PARTIAL packet).
  std::vector<rndis::OutgoingInfo> infos;
  infos.push_back({rndis::ppi::kChecksum, U32(1u | 4u | (34u << 16))});
  send(rndis::BuildPacket(Frame(peer, 1514, 1), infos));
  // LSOv2: MSS 1448, TCP header at 34, IPv4, a 30000-byte frame.
  infos.clear();
  infos.push_back({rndis::ppi::kLsoV2, U32(1448u | (34u << 20) | (1u << 30))});
  const Bytes large = Frame(peer, 30000, 2);
  send(rndis::BuildPacket(large, infos));
  REQUIRE(f.port.WaitSent(2));
  const auto offloads = f.port.OffloadsSent();
  CHECK(offloads[0].tcp_checksum);
  CHECK(offloads[0].ipv4);
  CHECK(offloads[0].l4_offset == 34);
  CHECK(offloads[0].lso_mss == 0);
  CHECK(offloads[1].lso_mss == 1448);
  CHECK(offloads[1].l4_offset == 34);
  CHECK(offloads[1].ipv4);
  CHECK(f.port.Sent()[1] == large);
  // Lies: a header offset past the frame, an MSS of 1, an LSO frame past
  // the largest advertised: nothing reaches the port.
  infos.clear();
  infos.push_back({rndis::ppi::kChecksum, U32(1u | 4u | (0x3F0u << 16))});
  send(rndis::BuildPacket(Frame(peer, 200, 3), infos));
  infos.clear();
  infos.push_back({rndis::ppi::kLsoV2, U32(1u | (34u << 20) | (1u << 30))});
  send(rndis::BuildPacket(Frame(peer, 3000, 4), infos));
  infos.clear();
  infos.push_back({rndis::ppi::kLsoV2, U32(1448u | (34u << 20) | (1u << 30))});
  send(rndis::BuildPacket(Frame(peer, 70000, 5), infos));
  CHECK(f.port.Sent().size() == 2);
  const auto counters = f.adapter->counters();
  CHECK(counters.tx_malformed == 2);
  CHECK(counters.tx_bad_size == 1);
}

TEST_CASE("network adapter: a VLAN tag in per-packet info goes out with the frame") {
  // hv_netvsc offloads VLAN tags: a tagged frame's tag is only in the
  // IEEE_8021Q_INFO PPI (priority 2:0, CFI 3, VLAN ID 15:4).
  const std::array<uint8_t, 6> peer = {0x52, 0x54, 0x00, 0x12, 0x34, 0x56};
  constexpr uint32_t kPpi = 5u | (1u << 3) | (0x123u << 4);
  constexpr uint16_t kTci = (5u << 13) | (1u << 12) | 0x123;
  std::vector<rndis::OutgoingInfo> infos;
  infos.push_back({rndis::ppi::kVlan, U32(kPpi)});
  const Bytes frame = Frame(peer, 1514, 9);
  SUBCASE("a port that offloads inserts it") {
    Fixture f(/*offloads=*/true);
    f.Ready();
    f.SendMixed(0, {}, rndis::BuildPacket(frame, infos), 60);
    f.ExpectCompletion(60, nvsp::type::kSendRndisPacketComplete, nvsp::status::kSuccess);
    REQUIRE(f.port.WaitSent(1));
    CHECK(f.port.Sent()[0] == frame);
    CHECK(f.port.OffloadsSent()[0].insert_vlan);
    CHECK(f.port.OffloadsSent()[0].vlan_tci == kTci);
  }
  SUBCASE("for a port without offloads netvsp inserts it") {
    Fixture f;
    f.Ready();
    f.SendMixed(0, {}, rndis::BuildPacket(frame, infos), 61);
    f.ExpectCompletion(61, nvsp::type::kSendRndisPacketComplete, nvsp::status::kSuccess);
    REQUIRE(f.port.WaitSent(1));
    const Bytes sent = f.port.Sent()[0];
    REQUIRE(sent.size() == frame.size() + 4);
    CHECK(std::equal(frame.begin(), frame.begin() + 12, sent.begin()));
    CHECK(Bytes(sent.begin() + 12, sent.begin() + 16) ==
          Bytes{std::byte{0x81}, std::byte{0x00}, std::byte{kTci >> 8}, std::byte{kTci & 0xFF}});
    CHECK(std::equal(frame.begin() + 12, frame.end(), sent.begin() + 16));
    CHECK_FALSE(f.port.OffloadsSent()[0].insert_vlan);
    CHECK(f.adapter->counters().tx_bytes == frame.size() + 4);
  }
}

TEST_CASE("network adapter: the port's link going down and up reaches the guest as RNDIS indications") {
  Fixture f;
  f.Ready();
  const auto expect_indication = [&](uint32_t status) {
    const Received indication = f.NextReceive();
    CHECK(indication.channel_type == 1);  // control, as Hyper-V sends it
    REQUIRE(indication.message.size() >= 16);
    CHECK(Get<uint32_t>(indication.message, 0) == rndis::msg::kIndicateStatus);
    CHECK(Get<uint32_t>(indication.message, 8) == status);
    f.Complete(indication.transaction_id);
  };
  const auto media = [&] {
    const Bytes reply = f.Control(
        Rndis(rndis::msg::kQuery, {f.next_request++, rndis::oid::kGenMediaConnectStatus, 0, 0, 0}));
    REQUIRE(reply.size() == 24 + 4);
    return Get<uint32_t>(reply, 24);  // 0 connected, 1 disconnected
  };
  f.port.Link(false);
  expect_indication(rndis::status::kMediaDisconnect);
  CHECK(media() == 1);
  f.port.Link(false);  // no change, no message
  CHECK(f.NothingArrives());
  f.port.Link(true);
  expect_indication(rndis::status::kMediaConnect);
  CHECK(media() == 0);
}

TEST_CASE("network adapter: after close or destruction the port's frames go nowhere") {
  Fixture f;
  f.Ready();
  // Frames waiting at close are discarded and counted.
  for (uint32_t i = 0; i < kSlotsOut + 2; ++i) f.port.Receive(Frame(kPortMac, 60, i));
  REQUIRE(f.guest.Post(hcl::testing::CloseChannel(f.relid)) == ::hv::Status::kSuccess);
  f.port.Receive(Frame(kPortMac, 60, 99));
  auto counters = f.adapter->counters();
  CHECK(counters.rx_frames == kSlotsOut);
  CHECK(counters.rx_discarded == 2);
  CHECK(counters.rx_not_ready == 1);
  // The port outlives the adapter: its receiver must not reach it.
  f.adapter.reset();
  f.port.Receive(Frame(kPortMac, 60, 100));
}

TEST_CASE("network adapter: unbacked (no port) counts guest frames and drops them") {
  RecordingDriver driver;
  hcl::Vtl0Memory memory;
  hcl::VmbusServer server{driver, 1};
  auto adapter = hcl::NetworkAdapter::Create(server, memory, {}, nullptr, 1);
  REQUIRE(adapter.ok());
  CHECK((*adapter)->counters().tx_frames == 0);
  CHECK((*adapter)->Summary().rfind("netvsp: tx 0 frames", 0) == 0);
}

TEST_CASE("network adapter: a revoked receive buffer is never written again") {
  Fixture f;
  f.Ready();
  for (uint32_t i = 0; i < kSlotsOut + 2; ++i) f.port.Receive(Frame(kPortMac, 60, i));
  // netvsc_revoke_recv_buf at teardown, then (a guest that carries on)
  // INIT again, answered in ring order after the revoke.
  f.Send(kInband, 0, 50, Nvsp({nvsp::type::kRevokeReceiveBuffer, 0xCAFE}));
  f.Send(kInband, kCompletionRequested, 51, Nvsp({nvsp::type::kInit, 0x60001, 0x60001}));
  for (uint32_t i = 0; i < kSlotsOut; ++i) (void)f.NextReceive();
  f.ExpectCompletion(51, nvsp::type::kInitComplete, nvsp::status::kSuccess);
  const Bytes before = f.RamBytes(f.receive_gpa, kReceivePages * base::kPageSize);
  f.port.Receive(Frame(kPortMac, 60, 9));
  CHECK(f.NothingArrives());
  CHECK(f.RamBytes(f.receive_gpa, kReceivePages * base::kPageSize) == before);
  const auto counters = f.adapter->counters();
  CHECK(counters.rx_frames == kSlotsOut);
  CHECK(counters.rx_discarded == 2);
  CHECK(counters.rx_not_ready == 1);
}

TEST_CASE("network adapter: with 3 VPs the guest gets 2 sub-channels, RSS spreads flows as its table says, TX on a sub-channel completes there") {
  Fixture f(/*offloads=*/false, /*vps=*/3);
  f.Ready();
  // rndis_filter_device_add: RSS capabilities, 3 queues, 128 entries.
  const Bytes caps = f.Control(Rndis(
      rndis::msg::kQuery, {f.next_request++, rndis::oid::kGenReceiveScaleCapabilities, 0, 0, 0}));
  REQUIRE(caps.size() == 24 + 18);
  CHECK(Get<uint32_t>(caps, 12) == rndis::status::kSuccess);
  CHECK(caps[24] == std::byte{0x88});
  CHECK(caps[25] == std::byte{2});
  CHECK(Get<uint32_t>(caps, 24 + 12) == 3);
  CHECK(Get<uint16_t>(caps, 24 + 16) == 128);
  REQUIRE(f.RequestSubChannels(2, nvsp::status::kSuccess) == 2);
  REQUIRE(f.subs.size() == 2);
  CHECK(f.subs[0].index == 1);
  CHECK(f.subs[1].index == 2);

  // Before RSS parameters: everything on the primary, no hash.
  const Bytes early = TcpFrame(999);
  f.port.Receive(early);
  Received received = f.NextReceive(0);
  CHECK(Fixture::FrameOf(received) == early);
  f.Complete(received.transaction_id);

  // rndis_filter_set_rss_param: disable, then the table and key.
  const std::vector<uint32_t> table = RssTable(3);
  const Bytes key = RssKey();
  CHECK(f.SetOid(rndis::oid::kGenReceiveScaleParameters, RssParams(0x10, table, key)) ==
        rndis::status::kSuccess);
  CHECK(f.SetOid(rndis::oid::kGenReceiveScaleParameters, RssParams(0, table, key)) ==
        rndis::status::kSuccess);

  std::array<int, 3> seen{};
  for (uint16_t port = 1000; port < 1060; ++port) {
    const Bytes frame = TcpFrame(port);
    const auto [channel, hash] = RssChannel(frame, table, key);
    f.port.Receive(frame);
    received = f.NextReceive(channel);
    CHECK(Fixture::FrameOf(received) == frame);
    const auto packet = rndis::ParsePacket(received.message);
    REQUIRE(packet.ok());
    std::optional<uint32_t> sent_hash;
    for (const auto& info : packet->infos)
      if (info.type == rndis::ppi::kHashValue && info.payload.size() == 4)
        sent_hash = Get<uint32_t>(info.payload, 0);
    CHECK(sent_hash == std::optional<uint32_t>(hash));
    f.Complete(received.transaction_id, channel);
    ++seen[channel];
  }
  CHECK(seen[0] > 0);
  CHECK(seen[1] > 0);
  CHECK(seen[2] > 0);
  // TX on sub-channel 2: to the port, completed on sub-channel 2.
  const std::array<uint8_t, 6> peer = {0x52, 0x54, 0x00, 0x12, 0x34, 0x56};
  const Bytes out = Frame(peer, 200, 7);
  f.SendInSection(0, rndis::BuildPacket(out), 70, 2);
  f.ExpectCompletion(70, nvsp::type::kSendRndisPacketComplete, nvsp::status::kSuccess, 2);
  REQUIRE(f.port.WaitSent(1));
  CHECK(f.port.Sent()[0] == out);
  CHECK(f.NothingArrives(0));
  CHECK(f.NothingArrives(1));
  const auto counters = f.adapter->counters();
  CHECK(counters.rx_frames == 61);
  CHECK(counters.tx_frames == 1);
}

TEST_CASE("network adapter: hostile sub-channel and RSS requests are refused; the adapter carries on") {
  Fixture f(/*offloads=*/false, /*vps=*/3);
  f.Ready();
  // Zero sub-channels, or more than there are queues: FAILURE, no offer.
  CHECK(f.RequestSubChannels(0, nvsp::status::kFailure) == 0);
  CHECK(f.RequestSubChannels(3, nvsp::status::kFailure) == 0);
  // One granted (fewer than the queues); a second request refused.
  REQUIRE(f.RequestSubChannels(1, nvsp::status::kSuccess) == 1);
  CHECK(f.RequestSubChannels(1, nvsp::status::kFailure) == 0);
  for (const auto& message : f.guest.TakeMessages())
    CHECK(message.type() != static_cast<uint32_t>(MessageType::kOfferChannel));
  // A sub-channel index never offered: the adapter refuses it itself; a
  // relid never offered does not reach it.
  vmbus::OpenRequest request;
  request.relid = 999;
  request.sub_channel_index = 5;
  CHECK(f.adapter->OnOpen(request) != vw::kStatusSuccess);
  REQUIRE(f.guest.Post(hcl::testing::OpenChannel(999, 1, 1, 0, 1)) == ::hv::Status::kSuccess);
  for (const auto& message : f.guest.TakeMessages())
    CHECK(message.type() != static_cast<uint32_t>(MessageType::kOpenChannelResult));

  // RSS parameters that lie: each refused with a failure status.
  const uint32_t oid = rndis::oid::kGenReceiveScaleParameters;
  const std::vector<uint32_t> table = RssTable(3);
  const Bytes key = RssKey();
  const Bytes good = RssParams(0, table, key);
  const auto patched32 = [&](size_t offset, uint32_t value) {
    Bytes info = good;
    Put32(info, offset, value);
    return info;
  };
  const auto patched16 = [&](size_t offset, uint16_t value) {
    Bytes info = good;
    hcl::testing::Put16(info, offset, value);
    return info;
  };
  const std::vector<Bytes> lies = {
      patched32(16, 0xFFFF'FFF0),           // table offset wraps
      patched32(16, static_cast<uint32_t>(good.size())),  // table past the buffer
      patched32(16, 8),                     // table over the fixed fields
      patched16(12, 0xFFFC),                // table size past the buffer
      patched16(12, 510),                   // not whole entries
      patched16(12, 0),                     // no entries
      patched32(24, 0xFFFF'FFFF),           // key offset past
      patched16(20, 39),                    // a key not 40 bytes
      patched32(40, 3),                     // a queue never offered
      patched32(40 + 4 * 127, 0xFFFF'FFFF),
      patched32(8, 0x100 | 0x200 | 0x2),    // not Toeplitz
      patched32(8, 0x1),                    // no hash type
      Bytes(good.begin(), good.begin() + 39),  // shorter than the header
      patched16(0, 0x0288),                 // another object type
  };
  for (const Bytes& lie : lies) CHECK(f.SetOid(oid, lie) != rndis::status::kSuccess);
  // An information buffer the SET says is longer than the message.
  const Bytes reply = f.Control(Rndis(rndis::msg::kSet, {f.next_request++, oid, 0x10000, 20, 0}, good));
  REQUIRE(reply.size() >= 16);
  CHECK(Get<uint32_t>(reply, 12) != rndis::status::kSuccess);

  // Still serving: the good parameters take; a flow whose entry names
  // channel 2 (offered as a queue, never opened) lands on the primary.
  CHECK(f.SetOid(oid, good) == rndis::status::kSuccess);
  bool to_two = false, to_one = false;
  for (uint16_t port = 3000; port < 3060 && !(to_two && to_one); ++port) {
    const Bytes frame = TcpFrame(port);
    const uint32_t channel = RssChannel(frame, table, key).first;
    f.port.Receive(frame);
    const size_t arrives_on = channel == 2 ? 0 : channel;
    const Received received = f.NextReceive(arrives_on);
    CHECK(Fixture::FrameOf(received) == frame);
    f.Complete(received.transaction_id, arrives_on);
    to_two = to_two || channel == 2;
    to_one = to_one || channel == 1;
  }
  CHECK(to_two);
  CHECK(to_one);
}
