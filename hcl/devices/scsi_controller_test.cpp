// hcl's storvsp SCSI controller end to end, in one process: a "guest" plays
// Linux 6.1's hv_vmbus and hv_storvsc against the real VmbusServer,
// ScsiController, RingChannel threads and VTL0 gate, over a byte vector
// standing in for VTL0's RAM and an in-memory disk. Messages go in as
// HvCallPostMessage input pages and come out as the HvCallPostMessageDirect
// hypercalls hcl makes; channel interrupts are the HvCallSignalEventDirect
// calls (hyperv-vmbus.md §5, §6).
#include "devices/scsi_controller.h"

#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <thread>
#include <vector>

#include "devices/testing/vmbus_guest.h"
#include "scsi/testing/fake_block_device.h"
#include "storvsp/wire.h"
#include "vmbus/ring_wire.h"
#include "vmbus/wire.h"

namespace {

using hcl::testing::Bytes;
using hcl::testing::DeliveredMessage;
using hcl::testing::Get;
using hcl::testing::GuestPacket;
using hcl::testing::GuestRing;
using hcl::testing::Put16;
using hcl::testing::Put32;
using hcl::testing::RecordingDriver;
using hcl::testing::VmbusGuest;
using vmbus::RingField;
using vmbus::wire::MessageType;
namespace sw = storvsp::wire;
namespace vw = vmbus::wire;

constexpr uint64_t kRamBase = 0x10'0000;
constexpr size_t kRamBytes = 4 * 1024 * 1024;
constexpr uint64_t kRamEnd = kRamBase + kRamBytes;
constexpr uint32_t kBlockSize = 512;
constexpr uint64_t kBlockCount = 128;  // 64 KiB
constexpr uint32_t kRingDataPages = 3;  // per ring
constexpr uint32_t kRingPages = 2 * (1 + kRingDataPages);
// Long enough for a loaded machine under ASan; a healthy run takes
// microseconds. "Nothing happens" checks wait kQuiet.
constexpr auto kWait = std::chrono::milliseconds(5000);
constexpr auto kQuiet = std::chrono::milliseconds(300);
// storvsc's init transaction id (hyperv-vmbus.md §5.4: U64_MAX - 2).
constexpr uint64_t kInitTransaction = UINT64_MAX - 2;
constexpr uint16_t kCompletionRequested = vmbus::kPacketFlagCompletionRequested;
constexpr uint16_t kInband = static_cast<uint16_t>(vmbus::PacketType::kDataInband);
constexpr uint16_t kGpaDirect = static_cast<uint16_t>(vmbus::PacketType::kDataUsingGpaDirect);
constexpr uint16_t kCompletion = static_cast<uint16_t>(vmbus::PacketType::kCompletion);
// hyperv-vmbus.md §5.2: SCSI ba6163d9-04a1-4d29-b605-72e2ffb1dc7f on the wire.
constexpr uint8_t kScsiGuid[16] = {0xd9, 0x63, 0x61, 0xba, 0xa1, 0x04, 0x29, 0x4d,
                                   0xb6, 0x05, 0x72, 0xe2, 0xff, 0xb1, 0xdc, 0x7f};
// SCSI opcodes (SBC-3).
constexpr uint8_t kRead10 = 0x28;
constexpr uint8_t kWrite10 = 0x2A;

// A disk block's known contents: every byte names its LBA and offset.
Bytes BlockBytes(uint64_t lba) {
  Bytes bytes(kBlockSize);
  for (size_t i = 0; i < bytes.size(); ++i)
    bytes[i] = static_cast<std::byte>((lba * 31 + i * 7 + 1) & 0xFF);
  return bytes;
}

block::Geometry DiskGeometry() {
  block::Geometry geometry;
  geometry.block_size = kBlockSize;
  geometry.block_count = kBlockCount;
  geometry.serial = "HCLTEST";
  return geometry;
}

// What the guest learned from an offer.
struct OfferInfo {
  uint32_t relid = 0;
  uint32_t connection_id = 0;
  uint16_t sub_channel_index = 0;
};

// A channel the guest opened: its ring GPADL and both rings (named from
// the guest's side).
struct GuestChannel {
  uint32_t relid = 0;
  uint32_t connection_id = 0;
  uint32_t gpadl = 0;
  uint64_t first_page = 0;  // GPA of the ring GPADL's first page
  GuestRing to_host;        // guest->host: the guest writes
  GuestRing from_host;      // host->guest: the guest reads
};

// A vstor_packet (hyperv-vmbus.md §6) with REQUEST_COMPLETION_FLAG.
Bytes Vstor(sw::Operation operation) {
  Bytes packet(sw::kPacketBytes);
  Put32(packet, offsetof(sw::PacketHeader, operation), static_cast<uint32_t>(operation));
  Put32(packet, offsetof(sw::PacketHeader, flags), sw::kRequestCompletionFlag);
  return packet;
}

// EXECUTE_SRB for READ(10)/WRITE(10) of `blocks` blocks at `lba`, as
// storvsc_queuecommand fills the Win8-form vmscsi_request.
Bytes Rw10(uint8_t opcode, uint32_t lba, uint16_t blocks) {
  Bytes packet = Vstor(sw::Operation::kExecuteSrb);
  const size_t srb = sw::kPayloadOffset;
  const bool read = opcode == kRead10;
  Put16(packet, srb + offsetof(sw::ScsiRequest, length), sizeof(sw::ScsiRequest));
  packet[srb + offsetof(sw::ScsiRequest, cdb_length)] = std::byte{10};
  packet[srb + offsetof(sw::ScsiRequest, sense_info_length)] = std::byte{sw::kSenseBytes};
  packet[srb + offsetof(sw::ScsiRequest, data_in)] =
      static_cast<std::byte>(read ? sw::DataIn::kRead : sw::DataIn::kWrite);
  Put32(packet, srb + offsetof(sw::ScsiRequest, data_transfer_length), uint32_t{blocks} * kBlockSize);
  const size_t cdb = srb + offsetof(sw::ScsiRequest, cdb_or_sense);
  packet[cdb] = std::byte{opcode};
  for (size_t i = 0; i < 4; ++i)  // SBC-3 §5.13: big-endian LBA in bytes 2-5
    packet[cdb + 2 + i] = static_cast<std::byte>((lba >> (24 - 8 * i)) & 0xFF);
  packet[cdb + 7] = static_cast<std::byte>(blocks >> 8);
  packet[cdb + 8] = static_cast<std::byte>(blocks & 0xFF);
  Put32(packet, srb + offsetof(sw::ScsiRequest, srb_flags), read ? 0x40u | 0x2u : 0x80u | 0x2u);
  Put32(packet, srb + offsetof(sw::ScsiRequest, timeout_seconds), 60);
  return packet;
}

// The SRB fields of a COMPLETE_IO reply.
struct SrbReply {
  uint32_t operation = 0;
  uint32_t status = 0;
  uint8_t srb_status = 0;
  uint8_t scsi_status = 0;
  uint8_t sense_key = 0;
  uint32_t data_transfer_length = 0;
};
SrbReply DecodeSrbReply(const GuestPacket& packet) {
  SrbReply reply;
  REQUIRE(packet.payload.size() >= sw::kPacketBytes);
  const std::span<const std::byte> bytes = packet.payload;
  const size_t srb = sw::kPayloadOffset;
  reply.operation = Get<uint32_t>(bytes, offsetof(sw::PacketHeader, operation));
  reply.status = Get<uint32_t>(bytes, offsetof(sw::PacketHeader, status));
  reply.srb_status = Get<uint8_t>(bytes, srb + offsetof(sw::ScsiRequest, srb_status));
  reply.scsi_status = Get<uint8_t>(bytes, srb + offsetof(sw::ScsiRequest, scsi_status));
  reply.sense_key =
      Get<uint8_t>(bytes, srb + offsetof(sw::ScsiRequest, cdb_or_sense) + 2) & 0x0F;
  reply.data_transfer_length =
      Get<uint32_t>(bytes, srb + offsetof(sw::ScsiRequest, data_transfer_length));
  return reply;
}

struct Fixture : hcl::testing::GuestRam {
  RecordingDriver driver;
  scsi::testing::FakeBlockDevice device{DiskGeometry(), ram};
  hcl::VmbusServer server{driver, 2};
  // RAM page 0 is the guest's HvCallPostMessage input page.
  VmbusGuest guest{server, memory, ram, driver, kRamBase};
  uint32_t next_gpadl = 0xE1E10;  // Linux's first GPADL handle
  // Last: its ring threads go before everything they use.
  std::unique_ptr<hcl::ScsiController> controller;

  Fixture() : GuestRam(kRamBase, kRamBytes) {
    for (uint64_t lba = 0; lba < kBlockCount; ++lba) device.SetBlock(lba, BlockBytes(lba));
    auto created = hcl::ScsiController::Create(server, memory, device, 2, 0);
    REQUIRE(created.ok());
    controller = std::move(created).value();
  }

  // vmbus_negotiate_version at 5.3 and vmbus_request_offers; the SCSI
  // controller's offer.
  OfferInfo Connect() {
    REQUIRE(guest.Post(vw::kModernMessageConnectionId,
                       hcl::testing::InitiateContact(vw::kVersionWin10V5_3, 0, 2)) ==
            ::hv::Status::kSuccess);
    auto messages = guest.TakeMessages();
    REQUIRE(messages.size() == 1);
    const DeliveredMessage& version = messages[0];
    CHECK(version.type() == static_cast<uint32_t>(MessageType::kVersionResponse));
    CHECK(version.hv_type == vw::kChannelMessageType);
    CHECK(version.vp_index == 0);
    CHECK(version.vtl == 0);
    CHECK(version.sint == 2);
    REQUIRE(version.bytes.size() == sizeof(vw::VersionResponse));
    CHECK(version.Field<uint8_t>(offsetof(vw::VersionResponse, version_supported)) == 1);
    CHECK(version.Field<uint8_t>(offsetof(vw::VersionResponse, connection_state)) ==
          vw::kConnectionStateSuccessful);
    guest.msg_conn_id = version.Field<uint32_t>(offsetof(vw::VersionResponse, msg_conn_id));

    REQUIRE(guest.Post(hcl::testing::RequestOffers()) == ::hv::Status::kSuccess);
    messages = guest.TakeMessages();
    REQUIRE(messages.size() == 2);
    CHECK(messages[1].type() == static_cast<uint32_t>(MessageType::kAllOffersDelivered));
    const OfferInfo offer = CheckScsiOffer(messages[0]);
    CHECK(offer.sub_channel_index == 0);
    return offer;
  }

  static OfferInfo CheckScsiOffer(const DeliveredMessage& message) {
    REQUIRE(message.type() == static_cast<uint32_t>(MessageType::kOfferChannel));
    REQUIRE(message.bytes.size() == sizeof(vw::OfferChannel));
    for (size_t i = 0; i < 16; ++i)
      CHECK(message.Field<uint8_t>(offsetof(vw::OfferChannel, interface_type) + i) ==
            kScsiGuid[i]);
    CHECK(message.Field<uint8_t>(offsetof(vw::OfferChannel, monitor_allocated)) == 0);
    CHECK(message.Field<uint16_t>(offsetof(vw::OfferChannel, channel_flags)) == 0);
    OfferInfo offer;
    offer.relid = message.Field<uint32_t>(offsetof(vw::OfferChannel, child_relid));
    offer.connection_id = message.Field<uint32_t>(offsetof(vw::OfferChannel, connection_id));
    offer.sub_channel_index = message.Field<uint16_t>(offsetof(vw::OfferChannel, sub_channel_index));
    CHECK(offer.relid >= vw::kFirstRelid);
    CHECK(offer.relid <= vw::kMaxRelid);
    CHECK(offer.connection_id != 0);
    return offer;
  }

  // vmbus_establish_gpadl over `pfns`: GpadlCreated's status.
  uint32_t CreateGpadl(uint32_t relid, uint32_t gpadl, std::span<const uint64_t> pfns) {
    REQUIRE(guest.Post(hcl::testing::GpadlHeader(relid, gpadl, pfns)) == ::hv::Status::kSuccess);
    auto messages = guest.TakeMessages();
    REQUIRE(messages.size() == 1);
    const DeliveredMessage& created = messages[0];
    REQUIRE(created.type() == static_cast<uint32_t>(MessageType::kGpadlCreated));
    CHECK(created.Field<uint32_t>(offsetof(vw::GpadlCreated, child_relid)) == relid);
    CHECK(created.Field<uint32_t>(offsetof(vw::GpadlCreated, gpadl)) == gpadl);
    return created.Field<uint32_t>(offsetof(vw::GpadlCreated, creation_status));
  }

  // vmbus_open: OpenChannelResult's status.
  uint32_t Open(uint32_t relid, uint32_t gpadl, uint32_t target_vp, uint32_t downstream_pages) {
    REQUIRE(guest.Post(hcl::testing::OpenChannel(relid, relid * 10, gpadl, target_vp,
                                                 downstream_pages)) == ::hv::Status::kSuccess);
    auto messages = guest.TakeMessages();
    REQUIRE(messages.size() == 1);
    const DeliveredMessage& result = messages[0];
    REQUIRE(result.type() == static_cast<uint32_t>(MessageType::kOpenChannelResult));
    CHECK(result.Field<uint32_t>(offsetof(vw::OpenChannelResult, child_relid)) == relid);
    CHECK(result.Field<uint32_t>(offsetof(vw::OpenChannelResult, open_id)) == relid * 10);
    CHECK(result.vp_index == 0);  // responses go to InitiateContact's target_vcpu
    return result.Field<uint32_t>(offsetof(vw::OpenChannelResult, status));
  }

  // A ring GPADL of fresh pages and an open channel over it.
  GuestChannel OpenRings(const OfferInfo& offer, uint32_t target_vp = 0) {
    const uint64_t first = AllocPages(kRingPages);
    const uint32_t gpadl = next_gpadl++;
    REQUIRE(CreateGpadl(offer.relid, gpadl, Pfns(first, kRingPages)) == vw::kStatusSuccess);
    REQUIRE(Open(offer.relid, gpadl, target_vp, 1 + kRingDataPages) == vw::kStatusSuccess);
    return GuestChannel{offer.relid, offer.connection_id, gpadl, first,
                        GuestRing(ram, first, kRingDataPages),
                        GuestRing(ram, first + (1 + kRingDataPages) * base::kPageSize,
                                  kRingDataPages)};
  }

  // One packet on the guest->host ring, then HvCallSignalEvent as storvsc
  // does (vmbus_sendpacket -> vmbus_setevent).
  void Send(GuestChannel& channel, uint16_t type, uint64_t transaction_id,
            std::span<const std::byte> body, uint16_t offset8 = 2) {
    REQUIRE(channel.to_host.Write(type, kCompletionRequested, transaction_id, body, offset8)
                .has_value());
    CHECK(server.SignalEvent(channel.connection_id) == ::hv::Status::kSuccess);
  }
  // EXECUTE_SRB as GPA direct: one range of the SRB's length at
  // `byte_offset` into pfns[0].
  void SendSrb(GuestChannel& channel, uint64_t transaction_id, const Bytes& srb_packet,
               uint32_t byte_offset, std::span<const uint64_t> pfns) {
    WriteSrb(channel, transaction_id, srb_packet, byte_offset, pfns);
    CHECK(server.SignalEvent(channel.connection_id) == ::hv::Status::kSuccess);
  }
  // The same packet, without the signal.
  static void WriteSrb(GuestChannel& channel, uint64_t transaction_id, const Bytes& srb_packet,
                       uint32_t byte_offset, std::span<const uint64_t> pfns) {
    REQUIRE(TryWriteSrb(channel, transaction_id, srb_packet, byte_offset, pfns));
  }
  // false if the guest->host ring is full.
  static bool TryWriteSrb(GuestChannel& channel, uint64_t transaction_id, const Bytes& srb_packet,
                          uint32_t byte_offset, std::span<const uint64_t> pfns) {
    const uint32_t bytes = Get<uint32_t>(
        srb_packet, sw::kPayloadOffset + offsetof(sw::ScsiRequest, data_transfer_length));
    const auto [body, offset8] =
        hcl::testing::GpaDirectBody(bytes, byte_offset, pfns, srb_packet);
    return channel.to_host.Write(kGpaDirect, kCompletionRequested, transaction_id, body, offset8)
        .has_value();
  }
  // Waits until the host consumed everything on the guest->host ring, or
  // `stuck()` holds; whether it consumed everything.
  static bool WaitConsumed(GuestChannel& channel, const std::function<bool()>& stuck) {
    const auto deadline = std::chrono::steady_clock::now() + kWait;
    while (std::chrono::steady_clock::now() < deadline) {
      if (channel.to_host.Header(RingField::kReadIndex) ==
          channel.to_host.Header(RingField::kWriteIndex))
        return true;
      if (stuck()) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return false;
  }

  // The next completion on the host->guest ring, checked as storvsc checks
  // it: type 0xB, the transaction id echoed, a whole vstor_packet.
  GuestPacket Completion(GuestChannel& channel, uint64_t transaction_id) {
    auto packet = channel.from_host.WaitRead(kWait);
    REQUIRE(packet.has_value());
    CHECK(packet->type == kCompletion);
    CHECK(packet->transaction_id == transaction_id);
    CHECK(packet->payload.size() >= sw::kPacketBytes);
    // The trailer is the start write index << 32 (hyperv-vmbus.md §5.3).
    CHECK((packet->trailer & 0xFFFF'FFFF) == 0);
    return *std::move(packet);
  }

  // storvsc_channel_init: BEGIN_INITIALIZATION, QUERY_PROTOCOL_VERSION
  // 0x0602, QUERY_PROPERTIES, END_INITIALIZATION, each answered COMPLETE_IO
  // with status 0; returns QUERY_PROPERTIES' reply.
  GuestPacket StorvscInit(GuestChannel& channel) {
    Send(channel, kInband, kInitTransaction, Vstor(sw::Operation::kBeginInitialization));
    CheckInitReply(Completion(channel, kInitTransaction));
    Bytes version = Vstor(sw::Operation::kQueryProtocolVersion);
    Put16(version, sw::kPayloadOffset + offsetof(sw::ProtocolVersion, major_minor),
          sw::kVersionWin10);
    Send(channel, kInband, kInitTransaction, version);
    CheckInitReply(Completion(channel, kInitTransaction));
    Send(channel, kInband, kInitTransaction, Vstor(sw::Operation::kQueryProperties));
    GuestPacket properties = Completion(channel, kInitTransaction);
    CheckInitReply(properties);
    Send(channel, kInband, kInitTransaction, Vstor(sw::Operation::kEndInitialization));
    CheckInitReply(Completion(channel, kInitTransaction));
    return properties;
  }
  static void CheckInitReply(const GuestPacket& packet) {
    REQUIRE(packet.payload.size() >= sw::kPacketBytes);
    CHECK(Get<uint32_t>(packet.payload, offsetof(sw::PacketHeader, operation)) ==
          static_cast<uint32_t>(sw::Operation::kCompleteIo));
    CHECK(Get<uint32_t>(packet.payload, offsetof(sw::PacketHeader, status)) == sw::nt::kSuccess);
  }

  // Connected, the primary channel open and initialized.
  GuestChannel ReadyChannel() {
    const OfferInfo offer = Connect();
    GuestChannel channel = OpenRings(offer);
    (void)StorvscInit(channel);
    return channel;
  }

  std::vector<hcl::testing::GuestInterrupt> Interrupts() const {
    std::vector<hcl::testing::GuestInterrupt> interrupts;
    for (const auto& call : driver.Calls(::hv::CallCode::kSignalEventDirect))
      interrupts.push_back(hcl::testing::DecodeInterrupt(call));
    return interrupts;
  }
  // Requests the disk's back end was given.
  size_t DeviceRequests() const { return device.requests.size(); }
};

}  // namespace

TEST_CASE("hcl storvsp: hv_vmbus bring-up: version 5.3, the SCSI offer, a ring GPADL, open") {
  Fixture f;
  const OfferInfo offer = f.Connect();
  CHECK(f.guest.msg_conn_id == vw::kServerMessageConnectionId);
  const uint64_t first = f.AllocPages(kRingPages);
  CHECK(f.CreateGpadl(offer.relid, 0xE1E10, Fixture::Pfns(first, kRingPages)) ==
        vw::kStatusSuccess);
  CHECK(f.Open(offer.relid, 0xE1E10, 0, 1 + kRingDataPages) == vw::kStatusSuccess);
  // hyperv-vmbus.md §5.3: the host advertises pending_send_sz support on
  // both rings it opened.
  GuestRing to_host(f.ram, first, kRingDataPages);
  GuestRing from_host(f.ram, first + (1 + kRingDataPages) * base::kPageSize, kRingDataPages);
  CHECK((to_host.Header(RingField::kFeatureBits) & vw::kRingFeaturePendingSendSize) != 0);
  CHECK((from_host.Header(RingField::kFeatureBits) & vw::kRingFeaturePendingSendSize) != 0);
  // A second open of an open channel is refused with a status, not silence.
  CHECK(f.Open(offer.relid, 0xE1E10, 0, 1 + kRingDataPages) != vw::kStatusSuccess);
}

TEST_CASE("hcl storvsp: storvsc init through the ring: COMPLETE_IO status 0, VTL0 interrupted") {
  Fixture f;
  const OfferInfo offer = f.Connect();
  GuestChannel channel = f.OpenRings(offer);
  const GuestPacket properties = f.StorvscInit(channel);
  const auto props = std::span<const std::byte>(properties.payload).subspan(sw::kPayloadOffset);
  // Two VPs: one sub-channel allowed, multi-channel on; a usable transfer size.
  CHECK(Get<uint16_t>(props, offsetof(sw::ChannelProperties, max_channel_count)) == 1);
  CHECK((Get<uint32_t>(props, offsetof(sw::ChannelProperties, flags)) &
         sw::kSupportsMultiChannel) != 0);
  CHECK(Get<uint32_t>(props, offsetof(sw::ChannelProperties, max_transfer_bytes)) >= 4096);
  // hyperv-vmbus.md §5.5: each completion found the host->guest ring empty
  // (the guest read every one before its next request), unmasked, so each
  // set bit relid in SIEF area 2 (SINT 2) of VP 0 in VTL0.
  REQUIRE(f.driver.WaitForCount(::hv::CallCode::kSignalEventDirect, 4, kWait));
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  const auto interrupts = f.Interrupts();
  CHECK(interrupts.size() == 4);
  for (const auto& interrupt : interrupts) {
    CHECK(interrupt.flag_number == offer.relid);
    CHECK(interrupt.vp_index == 0);
    CHECK(interrupt.vtl == 0);
    CHECK(interrupt.sint == 2);
  }
  // The host consumed all four packets.
  CHECK(channel.to_host.Header(RingField::kReadIndex) ==
        channel.to_host.Header(RingField::kWriteIndex));
}

TEST_CASE("hcl storvsp: a completion into a masked ring raises no interrupt") {
  Fixture f;
  GuestChannel channel = f.ReadyChannel();
  REQUIRE(f.driver.WaitForCount(::hv::CallCode::kSignalEventDirect, 4, kWait));
  const size_t before = f.Interrupts().size();
  // hyperv-vmbus.md §5.3: the reader masked (Linux polls): no signal.
  channel.from_host.SetHeader(RingField::kInterruptMask, 1);
  const uint64_t buffer = f.AllocPages(1);
  f.SendSrb(channel, 1, Rw10(kRead10, 0, 1), 0, Fixture::Pfns(buffer, 1));
  const SrbReply reply = DecodeSrbReply(f.Completion(channel, 1));
  CHECK(reply.srb_status == sw::srb::kSuccess);
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  CHECK(f.Interrupts().size() == before);
}

TEST_CASE("hcl storvsp: SRBs found in one pass over the ring go to the disk as one plugged batch") {
  Fixture f;
  GuestChannel channel = f.ReadyChannel();
  const uint64_t buffer = f.AllocPages(3);
  for (uint64_t i = 0; i < 3; ++i)
    Fixture::WriteSrb(channel, 10 + i, Rw10(kRead10, static_cast<uint32_t>(i), 1), 0,
                      Fixture::Pfns(buffer + i * 4096, 1));
  REQUIRE(f.server.SignalEvent(channel.connection_id) == ::hv::Status::kSuccess);
  for (uint64_t i = 0; i < 3; ++i)
    CHECK(DecodeSrbReply(f.Completion(channel, 10 + i)).srb_status == sw::srb::kSuccess);
  // block::Device::Plug: the NVMe driver rings one doorbell for the three.
  CHECK(f.device.submitted_plugged == 3);
  REQUIRE_FALSE(f.device.batches.empty());
  CHECK(f.device.batches.back() == 3);
  CHECK(f.device.plug_depth == 0);
}

TEST_CASE("hcl storvsp: while SRBs are unanswered the ring is polled, not signalled") {
  Fixture f;
  f.controller->set_poll_limit(std::chrono::minutes(10));  // no limit in this test
  GuestChannel channel = f.ReadyChannel();
  const uint64_t buffer = f.AllocPages(2);
  f.device.defer_completions = true;
  f.SendSrb(channel, 1, Rw10(kRead10, 0, 1), 0, Fixture::Pfns(buffer, 1));
  REQUIRE(Fixture::WaitConsumed(channel, [] { return false; }));
  REQUIRE(f.DeviceRequests() == 1);
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  // hyperv-vmbus.md §5.3: hcl keeps the guest's signals masked while it
  // owes a reply, so Linux writes the next request without signalling ...
  CHECK(channel.to_host.Header(RingField::kInterruptMask) == 1);
  REQUIRE(Fixture::TryWriteSrb(channel, 2, Rw10(kRead10, 1, 1), 0, Fixture::Pfns(buffer + 4096, 1)));
  CHECK(f.DeviceRequests() == 1);
  // ... and the reply to the first wakes hcl, which finds the second.
  f.device.RunPending();
  CHECK(DecodeSrbReply(f.Completion(channel, 1)).srb_status == sw::srb::kSuccess);
  REQUIRE(Fixture::WaitConsumed(channel, [] { return false; }));
  CHECK(f.DeviceRequests() == 2);
  // Nothing owed any more: signals are asked for again.
  f.device.RunPending();
  CHECK(DecodeSrbReply(f.Completion(channel, 2)).srb_status == sw::srb::kSuccess);
  bool unmasked = false;
  for (int i = 0; i < 200 && !unmasked; ++i) {
    unmasked = channel.to_host.Header(RingField::kInterruptMask) == 0;
    if (!unmasked) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  CHECK(unmasked);
}

TEST_CASE("hcl storvsp: a request the disk holds for long does not hold back the next ones") {
  Fixture f;
  GuestChannel channel = f.ReadyChannel();
  const uint64_t buffer = f.AllocPages(2);
  f.device.defer_completions = true;
  f.SendSrb(channel, 1, Rw10(kRead10, 0, 1), 0, Fixture::Pfns(buffer, 1));
  REQUIRE(Fixture::WaitConsumed(channel, [] { return false; }));
  // SRB 1 stays unanswered. hcl polls for a while, then asks for signals
  // again: a request written now, without a signal (the guest saw the
  // mask), is found all the same.
  REQUIRE(Fixture::TryWriteSrb(channel, 2, Rw10(kRead10, 1, 1), 0, Fixture::Pfns(buffer + 4096, 1)));
  REQUIRE(Fixture::WaitConsumed(channel, [] { return false; }));
  CHECK(f.DeviceRequests() == 2);
  f.device.RunPending();
  CHECK(DecodeSrbReply(f.Completion(channel, 1)).srb_status == sw::srb::kSuccess);
  CHECK(DecodeSrbReply(f.Completion(channel, 2)).srb_status == sw::srb::kSuccess);
}

TEST_CASE("hcl storvsp: READ(10) and WRITE(10) through GPA-direct ranges move the disk's bytes") {
  Fixture f;
  GuestChannel channel = f.ReadyChannel();
  const uint64_t buffer = f.AllocPages(1);
  const auto pfns = Fixture::Pfns(buffer, 1);

  SUBCASE("READ(10) of blocks 2-3 into VTL0 RAM") {
    constexpr uint32_t kOffset = 0x200;  // not page aligned: byte_offset matters
    f.SendSrb(channel, 1, Rw10(kRead10, 2, 2), kOffset, pfns);
    const SrbReply reply = DecodeSrbReply(f.Completion(channel, 1));
    CHECK(reply.operation == static_cast<uint32_t>(sw::Operation::kCompleteIo));
    CHECK(reply.status == sw::nt::kSuccess);
    CHECK(reply.srb_status == sw::srb::kSuccess);
    CHECK(reply.scsi_status == 0);
    CHECK(reply.data_transfer_length == 2 * kBlockSize);
    Bytes expected = BlockBytes(2);
    const Bytes block3 = BlockBytes(3);
    expected.insert(expected.end(), block3.begin(), block3.end());
    CHECK(f.RamBytes(buffer + kOffset, 2 * kBlockSize) == expected);
    // Bytes around the range are untouched.
    CHECK(f.RamBytes(buffer, kOffset) == Bytes(kOffset));
    REQUIRE(f.DeviceRequests() == 1);
    CHECK(f.device.requests[0].op == block::Op::kRead);
    CHECK(f.device.requests[0].lba == 2);
    CHECK(f.device.requests[0].block_count == 2);
    REQUIRE(f.device.requests[0].segments.size() == 1);
    CHECK(mem::ToU64(f.device.requests[0].segments[0].gpa) == buffer + kOffset);
  }

  SUBCASE("WRITE(10) of block 5 from VTL0 RAM, then read back") {
    Bytes pattern(kBlockSize);
    for (size_t i = 0; i < pattern.size(); ++i) pattern[i] = static_cast<std::byte>(0xA5 ^ i);
    f.SetRam(buffer, pattern);
    f.SendSrb(channel, 7, Rw10(kWrite10, 5, 1), 0, pfns);
    const SrbReply reply = DecodeSrbReply(f.Completion(channel, 7));
    CHECK(reply.srb_status == sw::srb::kSuccess);
    CHECK(reply.data_transfer_length == kBlockSize);
    CHECK(f.device.Block(5) == pattern);
    CHECK(f.device.Block(4) == BlockBytes(4));
    CHECK(f.device.Block(6) == BlockBytes(6));

    const uint64_t readback = f.AllocPages(1);
    f.SendSrb(channel, 8, Rw10(kRead10, 5, 1), 0, Fixture::Pfns(readback, 1));
    CHECK(DecodeSrbReply(f.Completion(channel, 8)).srb_status == sw::srb::kSuccess);
    CHECK(f.RamBytes(readback, kBlockSize) == pattern);
  }

  SUBCASE("a transfer across two pages") {
    const uint64_t two = f.AllocPages(2);
    constexpr uint32_t kOffset = 0xE00;  // 512 bytes in the first page, 1536 in the second
    f.SendSrb(channel, 9, Rw10(kRead10, 10, 4), kOffset, Fixture::Pfns(two, 2));
    const SrbReply reply = DecodeSrbReply(f.Completion(channel, 9));
    CHECK(reply.srb_status == sw::srb::kSuccess);
    CHECK(reply.data_transfer_length == 4 * kBlockSize);
    for (uint64_t i = 0; i < 4; ++i)
      CHECK(f.RamBytes(two + kOffset + i * kBlockSize, kBlockSize) == BlockBytes(10 + i));
  }
}

TEST_CASE("hcl storvsp: a data range outside VTL0 RAM never reaches the disk") {
  Fixture f;
  GuestChannel channel = f.ReadyChannel();
  // In real life these are VTL2's pages (or MMIO): the gate refuses them
  // before the back end sees a request (GatedBlockDevice).
  struct Case {
    const char* name;
    uint64_t first_gpa;
    uint32_t byte_offset;
    uint64_t pages;
  };
  const Case cases[] = {
      {"GPA 0", 0, 0, 1},
      {"just below VTL0 RAM", kRamBase - base::kPageSize, 0, 1},
      {"past the end of VTL0 RAM", kRamEnd, 0, 1},
      {"straddling the end of VTL0 RAM", kRamEnd - base::kPageSize, 0xE00, 2},
      {"far above RAM", 0x7FFF'FFFF'F000, 0, 1},
  };
  uint64_t transaction = 1;
  for (const Case& c : cases) {
    CAPTURE(c.name);
    f.SendSrb(channel, transaction, Rw10(kRead10, 0, 2), c.byte_offset,
              Fixture::Pfns(c.first_gpa, c.pages));
    const SrbReply reply = DecodeSrbReply(f.Completion(channel, transaction));
    ++transaction;
    CHECK(reply.status == sw::nt::kSuccess);  // the SRB failed, not the packet
    CHECK(reply.srb_status != sw::srb::kSuccess);
    CHECK((reply.srb_status & 0x3F) == sw::srb::kError);
    CHECK(reply.scsi_status == 2);             // CHECK CONDITION
    CHECK(reply.sense_key == 0x0B);            // ABORTED COMMAND: data phase error
    CHECK(reply.data_transfer_length == 0);
    CHECK(f.DeviceRequests() == 0);
  }
  // A WRITE sourced from outside VTL0 RAM is refused the same way.
  f.SendSrb(channel, 100, Rw10(kWrite10, 0, 1), 0, Fixture::Pfns(0, 1));
  CHECK((DecodeSrbReply(f.Completion(channel, 100)).srb_status & 0x3F) == sw::srb::kError);
  CHECK(f.DeviceRequests() == 0);
  CHECK(f.device.Block(0) == BlockBytes(0));
  // The channel still serves a good request afterwards.
  const uint64_t buffer = f.AllocPages(1);
  f.SendSrb(channel, 101, Rw10(kRead10, 1, 1), 0, Fixture::Pfns(buffer, 1));
  CHECK(DecodeSrbReply(f.Completion(channel, 101)).srb_status == sw::srb::kSuccess);
  CHECK(f.RamBytes(buffer, kBlockSize) == BlockBytes(1));
  CHECK(f.DeviceRequests() == 1);
}

TEST_CASE("hcl storvsp: pages VTL0 may not write (or read) are refused as READ (WRITE) buffers") {
  Fixture f;
  GuestChannel channel = f.ReadyChannel();
  const uint64_t page = f.AllocPages(1);
  const uint64_t gpn = page / base::kPageSize;
  // TLFS "Memory Protection": hcl acting for VTL0 must not do what VTL0
  // may not. The apply callback stands in for HvCallModifyVtlProtectionMask.
  REQUIRE(f.memory
              .ChangeProtection(gpn, 1, hcl::Vtl0Memory::kRead,
                                [] { return base::Ok(); })
              .ok());
  const Bytes before = f.RamBytes(page, base::kPageSize);

  f.SendSrb(channel, 1, Rw10(kRead10, 2, 2), 0, Fixture::Pfns(page, 1));
  SrbReply reply = DecodeSrbReply(f.Completion(channel, 1));
  CHECK((reply.srb_status & 0x3F) == sw::srb::kError);
  CHECK(reply.sense_key == 0x0B);
  CHECK(reply.data_transfer_length == 0);
  CHECK(f.DeviceRequests() == 0);
  CHECK(f.RamBytes(page, base::kPageSize) == before);

  // A READ whose range only partly covers the read-only page: refused too.
  const uint64_t pair = page - base::kPageSize;  // the page before is writable
  f.SendSrb(channel, 2, Rw10(kRead10, 2, 2), 0xE00, Fixture::Pfns(pair, 2));
  CHECK((DecodeSrbReply(f.Completion(channel, 2)).srb_status & 0x3F) == sw::srb::kError);
  CHECK(f.DeviceRequests() == 0);

  // VTL0 may read the page: a WRITE from it is fine.
  f.SendSrb(channel, 3, Rw10(kWrite10, 9, 1), 0, Fixture::Pfns(page, 1));
  reply = DecodeSrbReply(f.Completion(channel, 3));
  CHECK(reply.srb_status == sw::srb::kSuccess);
  CHECK(f.DeviceRequests() == 1);
  CHECK(f.device.Block(9) == Bytes(before.begin(), before.begin() + kBlockSize));

  // No access at all: a WRITE from it is refused.
  REQUIRE(f.memory.ChangeProtection(gpn, 1, 0, [] { return base::Ok(); }).ok());
  f.SendSrb(channel, 4, Rw10(kWrite10, 10, 1), 0, Fixture::Pfns(page, 1));
  CHECK((DecodeSrbReply(f.Completion(channel, 4)).srb_status & 0x3F) == sw::srb::kError);
  CHECK(f.DeviceRequests() == 1);
  CHECK(f.device.Block(10) == BlockBytes(10));
}

TEST_CASE("hcl storvsp: a write_index out of range stops the channel; the server keeps serving") {
  Fixture f;
  GuestChannel channel = f.ReadyChannel();
  const uint32_t read_index = channel.to_host.Header(RingField::kReadIndex);
  const uint32_t write_index = channel.to_host.Header(RingField::kWriteIndex);
  REQUIRE(read_index == write_index);
  // A valid READ in the data area, and an index past the end of it.
  const uint64_t buffer = f.AllocPages(1);
  Fixture::WriteSrb(channel, 1, Rw10(kRead10, 0, 1), 0, Fixture::Pfns(buffer, 1));
  channel.to_host.SetHeader(RingField::kWriteIndex, channel.to_host.data_bytes() + 0x1000);
  CHECK(f.server.SignalEvent(channel.connection_id) == ::hv::Status::kSuccess);
  std::this_thread::sleep_for(kQuiet);
  CHECK_FALSE(channel.from_host.Read().has_value());
  CHECK(channel.to_host.Header(RingField::kReadIndex) == read_index);  // nothing consumed
  CHECK(f.DeviceRequests() == 0);

  // The channel stays stopped once the index looks sane again: it is the
  // guest's to close (ring_channel.h).
  channel.to_host.SetHeader(RingField::kWriteIndex, write_index);
  f.SendSrb(channel, 2, Rw10(kRead10, 0, 1), 0, Fixture::Pfns(buffer, 1));
  std::this_thread::sleep_for(kQuiet);
  CHECK_FALSE(channel.from_host.Read().has_value());
  CHECK(f.DeviceRequests() == 0);

  // The server still answers: a new GPADL, the close, the teardown, and a
  // fresh open of the channel that works.
  const uint64_t fresh = f.AllocPages(kRingPages);
  CHECK(f.CreateGpadl(channel.relid, 0x5000, Fixture::Pfns(fresh, kRingPages)) ==
        vw::kStatusSuccess);
  REQUIRE(f.guest.Post(hcl::testing::CloseChannel(channel.relid)) == ::hv::Status::kSuccess);
  CHECK(f.guest.TakeMessages().empty());
  REQUIRE(f.guest.Post(hcl::testing::GpadlTeardown(channel.relid, channel.gpadl)) ==
          ::hv::Status::kSuccess);
  const auto torndown = f.guest.TakeMessages();
  REQUIRE(torndown.size() == 1);
  CHECK(torndown[0].type() == static_cast<uint32_t>(MessageType::kGpadlTorndown));
  CHECK(torndown[0].Field<uint32_t>(offsetof(vw::GpadlTorndown, gpadl)) == channel.gpadl);

  CHECK(f.Open(channel.relid, 0x5000, 0, 1 + kRingDataPages) == vw::kStatusSuccess);
  GuestChannel reopened{channel.relid, channel.connection_id, 0x5000, fresh,
                        GuestRing(f.ram, fresh, kRingDataPages),
                        GuestRing(f.ram, fresh + (1 + kRingDataPages) * base::kPageSize,
                                  kRingDataPages)};
  (void)f.StorvscInit(reopened);
  f.SendSrb(reopened, 3, Rw10(kRead10, 4, 1), 0, Fixture::Pfns(buffer, 1));
  CHECK(DecodeSrbReply(f.Completion(reopened, 3)).srb_status == sw::srb::kSuccess);
  CHECK(f.RamBytes(buffer, kBlockSize) == BlockBytes(4));
}

TEST_CASE("hcl storvsp: a corrupt descriptor stops the channel before the packet after it") {
  Fixture f;
  GuestChannel channel = f.ReadyChannel();
  const uint64_t buffer = f.AllocPages(1);
  const uint32_t read_index = channel.to_host.Header(RingField::kReadIndex);
  // hyperv-vmbus.md §5.4: offset8 below the descriptor's 2 qwords; then a
  // valid READ the host must never reach.
  REQUIRE(channel.to_host
              .Write(kInband, kCompletionRequested, 1, Vstor(sw::Operation::kBeginInitialization), 1)
              .has_value());
  f.SendSrb(channel, 2, Rw10(kRead10, 0, 1), 0, Fixture::Pfns(buffer, 1));
  std::this_thread::sleep_for(kQuiet);
  CHECK_FALSE(channel.from_host.Read().has_value());
  CHECK(channel.to_host.Header(RingField::kReadIndex) == read_index);
  CHECK(f.DeviceRequests() == 0);
  // Another guest signal changes nothing.
  CHECK(f.server.SignalEvent(channel.connection_id) == ::hv::Status::kSuccess);
  std::this_thread::sleep_for(kQuiet);
  CHECK_FALSE(channel.from_host.Read().has_value());
  CHECK(f.DeviceRequests() == 0);
}

TEST_CASE("hcl storvsp: SignalEvent on a connection id nobody offered") {
  Fixture f;
  CHECK(f.server.SignalEvent(0x1FFF) == ::hv::Status::kInvalidConnectionId);
  const OfferInfo offer = f.Connect();
  CHECK(f.server.SignalEvent(0x1FFF) == ::hv::Status::kInvalidConnectionId);
  CHECK(f.server.SignalEvent(offer.connection_id + 1) == ::hv::Status::kInvalidConnectionId);
  CHECK(f.server.SignalEvent(0) == ::hv::Status::kInvalidConnectionId);
  // The offered channel, not yet open: accepted, nothing to do.
  CHECK(f.server.SignalEvent(offer.connection_id) == ::hv::Status::kSuccess);
  CHECK(f.Interrupts().empty());
}

TEST_CASE("hcl storvsp: close, then GpadlTeardown: Torndown, and no ring access after") {
  Fixture f;
  GuestChannel channel = f.ReadyChannel();
  REQUIRE(f.driver.WaitForCount(::hv::CallCode::kSignalEventDirect, 4, kWait));

  // vmbus_close: CloseChannel (no reply), then vmbus_teardown_gpadl.
  REQUIRE(f.guest.Post(hcl::testing::CloseChannel(channel.relid)) == ::hv::Status::kSuccess);
  CHECK(f.guest.TakeMessages().empty());
  REQUIRE(f.guest.Post(hcl::testing::GpadlTeardown(channel.relid, channel.gpadl)) ==
          ::hv::Status::kSuccess);
  const auto messages = f.guest.TakeMessages();
  REQUIRE(messages.size() == 1);
  CHECK(messages[0].type() == static_cast<uint32_t>(MessageType::kGpadlTorndown));
  CHECK(messages[0].Field<uint32_t>(offsetof(vw::GpadlTorndown, gpadl)) == channel.gpadl);

  // The pages are the guest's again. A valid request and garbage: had
  // anything still read the rings, a completion, a device request or an
  // interrupt would follow.
  const uint64_t buffer = f.AllocPages(1);
  Fixture::WriteSrb(channel, 1, Rw10(kRead10, 0, 1), 0, Fixture::Pfns(buffer, 1));
  Bytes garbage(channel.from_host.data_bytes());
  for (size_t i = 0; i < garbage.size(); ++i) garbage[i] = static_cast<std::byte>(i * 13 + 5);
  channel.from_host.WriteData(0, garbage);
  channel.from_host.SetHeader(RingField::kReadIndex, 0x10);
  channel.from_host.SetHeader(RingField::kPendingSendSize, 0x77);
  const size_t calls = f.driver.Calls().size();
  const Bytes rings = f.RamBytes(channel.first_page, kRingPages * base::kPageSize);
  CHECK(f.server.SignalEvent(channel.connection_id) == ::hv::Status::kSuccess);
  std::this_thread::sleep_for(kQuiet);
  CHECK(f.RamBytes(channel.first_page, kRingPages * base::kPageSize) == rings);
  CHECK(f.driver.Calls().size() == calls);
  CHECK(f.DeviceRequests() == 0);
  // The GPADL is gone: opening on it is refused.
  CHECK(f.Open(channel.relid, channel.gpadl, 0, 1 + kRingDataPages) != vw::kStatusSuccess);
}

TEST_CASE("hcl storvsp: ring pages VTL0 does not own, or may not write, fail the open") {
  Fixture f;
  const OfferInfo offer = f.Connect();
  // GPADL pages are the guest's claim; the ring goes through the gate.
  SUBCASE("outside VTL0 RAM") {
    CHECK(f.CreateGpadl(offer.relid, 1, Fixture::Pfns(0, kRingPages)) == vw::kStatusSuccess);
    CHECK(f.Open(offer.relid, 1, 0, 1 + kRingDataPages) != vw::kStatusSuccess);
  }
  SUBCASE("a read-only header page") {
    const uint64_t first = f.AllocPages(kRingPages);
    REQUIRE(f.memory
                .ChangeProtection(first / base::kPageSize + 1 + kRingDataPages, 1,
                                  hcl::Vtl0Memory::kRead, [] { return base::Ok(); })
                .ok());
    CHECK(f.CreateGpadl(offer.relid, 1, Fixture::Pfns(first, kRingPages)) == vw::kStatusSuccess);
    CHECK(f.Open(offer.relid, 1, 0, 1 + kRingDataPages) != vw::kStatusSuccess);
  }
  // Still closed and willing: a good ring opens and serves.
  GuestChannel channel = f.OpenRings(offer);
  (void)f.StorvscInit(channel);
  CHECK(f.DeviceRequests() == 0);
}

TEST_CASE("hcl storvsp: CREATE_SUB_CHANNELS offers a sub-channel that serves I/O on VP 1") {
  Fixture f;
  GuestChannel primary = f.ReadyChannel();
  Bytes create = Vstor(sw::Operation::kCreateSubChannels);
  Put16(create, sw::kPayloadOffset + sw::kSubChannelCountOffset, 1);
  f.Send(primary, kInband, kInitTransaction, create);
  Fixture::CheckInitReply(f.Completion(primary, kInitTransaction));
  // The offer comes from the channel's thread (VmbusServer::OfferSubChannels).
  const auto message = f.guest.WaitMessage(MessageType::kOfferChannel, kWait);
  REQUIRE(message.has_value());
  const OfferInfo sub = Fixture::CheckScsiOffer(*message);
  CHECK(sub.sub_channel_index == 1);
  CHECK(sub.relid != primary.relid);
  CHECK(sub.connection_id != primary.connection_id);
  CHECK(message->Field<uint8_t>(offsetof(vw::OfferChannel, interface_instance) + 15) == 0);

  GuestChannel channel = f.OpenRings(sub, 1);
  const uint64_t buffer = f.AllocPages(1);
  const size_t interrupts_before = f.Interrupts().size();
  f.SendSrb(channel, 1, Rw10(kRead10, 6, 1), 0, Fixture::Pfns(buffer, 1));
  CHECK(DecodeSrbReply(f.Completion(channel, 1)).srb_status == sw::srb::kSuccess);
  CHECK(f.RamBytes(buffer, kBlockSize) == BlockBytes(6));
  REQUIRE(f.DeviceRequests() == 1);
  CHECK(f.device.queue_hints[0] == 1);  // the sub-channel's VP
  REQUIRE(f.driver.WaitForCount(::hv::CallCode::kSignalEventDirect, interrupts_before + 1, kWait));
  const auto last = f.Interrupts().back();
  CHECK(last.flag_number == sub.relid);
  CHECK(last.vp_index == 1);
  // The primary is untouched.
  CHECK_FALSE(primary.from_host.Read().has_value());
}

TEST_CASE("hcl storvsp: ModifyChannel moves the channel's interrupts to another VP") {
  Fixture f;
  GuestChannel channel = f.ReadyChannel();
  REQUIRE(f.driver.WaitForCount(::hv::CallCode::kSignalEventDirect, 4, kWait));
  // hyperv-vmbus.md §5.1 (22/24): ModifyChannel, answered at 5.3.
  Bytes modify = hcl::testing::ChannelMessage(MessageType::kModifyChannel, sizeof(vw::ModifyChannel));
  Put32(modify, offsetof(vw::ModifyChannel, child_relid), channel.relid);
  Put32(modify, offsetof(vw::ModifyChannel, target_vp), 1);
  REQUIRE(f.guest.Post(modify) == ::hv::Status::kSuccess);
  const auto messages = f.guest.TakeMessages();
  REQUIRE(messages.size() == 1);
  CHECK(messages[0].type() == static_cast<uint32_t>(MessageType::kModifyChannelResponse));
  CHECK(messages[0].Field<uint32_t>(offsetof(vw::ModifyChannelResponse, status)) == 0);
  const uint64_t buffer = f.AllocPages(1);
  f.SendSrb(channel, 1, Rw10(kRead10, 0, 1), 0, Fixture::Pfns(buffer, 1));
  CHECK(DecodeSrbReply(f.Completion(channel, 1)).srb_status == sw::srb::kSuccess);
  REQUIRE(f.driver.WaitForCount(::hv::CallCode::kSignalEventDirect, 5, kWait));
  const auto last = f.Interrupts().back();
  CHECK(last.flag_number == channel.relid);
  CHECK(last.vp_index == 1);
}

TEST_CASE("hcl storvsp: GpadlTeardown of an open ring waits for the close") {
  Fixture f;
  GuestChannel channel = f.ReadyChannel();
  REQUIRE(f.guest.Post(hcl::testing::GpadlTeardown(channel.relid, channel.gpadl)) ==
          ::hv::Status::kSuccess);
  CHECK(f.guest.TakeMessages().empty());  // the ring is in use
  // ... and still served meanwhile.
  const uint64_t buffer = f.AllocPages(1);
  f.SendSrb(channel, 1, Rw10(kRead10, 3, 1), 0, Fixture::Pfns(buffer, 1));
  CHECK(DecodeSrbReply(f.Completion(channel, 1)).srb_status == sw::srb::kSuccess);
  REQUIRE(f.guest.Post(hcl::testing::CloseChannel(channel.relid)) == ::hv::Status::kSuccess);
  const auto messages = f.guest.TakeMessages();
  REQUIRE(messages.size() == 1);
  CHECK(messages[0].type() == static_cast<uint32_t>(MessageType::kGpadlTorndown));
  CHECK(messages[0].Field<uint32_t>(offsetof(vw::GpadlTorndown, gpadl)) == channel.gpadl);
}

TEST_CASE("hcl storvsp: completions wait while the host->guest ring is full (pending_send_sz)") {
  Fixture f;
  GuestChannel channel = f.ReadyChannel();
  const uint64_t buffer = f.AllocPages(1);
  const auto pfns = Fixture::Pfns(buffer, 1);
  // More completions than the 12 KiB host->guest ring holds (88 bytes
  // each), the guest reading none until the host is stuck.
  constexpr uint64_t kRequests = 200;
  uint64_t sent = 0;
  const auto host_waits = [&] { return channel.from_host.Header(RingField::kPendingSendSize) != 0; };
  for (int batch = 0; batch < 2; ++batch) {
    while (sent < kRequests && Fixture::TryWriteSrb(channel, sent + 1, Rw10(kRead10, 0, 1), 0, pfns))
      ++sent;
    CHECK(f.server.SignalEvent(channel.connection_id) == ::hv::Status::kSuccess);
    (void)Fixture::WaitConsumed(channel, host_waits);
  }
  // hyperv-vmbus.md §5.3: the host asked to be told when there is room.
  REQUIRE(sent == kRequests);
  const auto deadline = std::chrono::steady_clock::now() + kWait;
  while (!host_waits() && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  CHECK(host_waits());

  // The guest drains the ring and signals (Linux: hv_pkt_iter_close saw
  // pending_send_sz crossed); the rest follow, in order, none lost.
  uint64_t received = 0;
  while (received < kRequests) {
    auto packet = channel.from_host.Read();
    if (!packet) {
      CHECK(f.server.SignalEvent(channel.connection_id) == ::hv::Status::kSuccess);
      packet = channel.from_host.WaitRead(kWait);
    }
    REQUIRE(packet.has_value());
    ++received;
    CHECK(packet->transaction_id == received);
    CHECK(DecodeSrbReply(*packet).srb_status == sw::srb::kSuccess);
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  CHECK_FALSE(channel.from_host.Read().has_value());
  CHECK(f.DeviceRequests() == kRequests);
  // Nothing left to wait for: the request for room is withdrawn.
  CHECK(channel.from_host.Header(RingField::kPendingSendSize) == 0);
}

// STYLE.md §5 "guest-sized allocations without a cap": a guest that never
// reads its completions must not make hcl queue without bound. OpenVMM's
// storvsp stops taking requests while it cannot send (it waits for ring
// space before reading the next packet); so does RingChannel: while
// replies are queued it reads nothing new.
TEST_CASE("hcl storvsp: a guest that never reads completions cannot grow hcl's queue without bound") {
  Fixture f;
  GuestChannel channel = f.ReadyChannel();
  const uint64_t buffer = f.AllocPages(1);
  const auto pfns = Fixture::Pfns(buffer, 1);
  uint64_t sent = 0;
  for (int round = 0; round < 10; ++round) {
    bool wrote = false;
    while (Fixture::TryWriteSrb(channel, sent + 1, Rw10(kRead10, 0, 1), 0, pfns)) {
      ++sent;
      wrote = true;
    }
    if (!wrote) break;  // the host stopped taking requests: backpressure
    CHECK(f.server.SignalEvent(channel.connection_id) == ::hv::Status::kSuccess);
    const auto stalled = [&, start = std::chrono::steady_clock::now()] {
      return std::chrono::steady_clock::now() - start > kQuiet;
    };
    (void)Fixture::WaitConsumed(channel, stalled);
  }
  // The host->guest ring holds 139 completions and the guest->host ring
  // ~109 requests; a bounded host takes at most about one ring's worth of
  // requests beyond what it can answer.
  const uint64_t ring_completions = channel.from_host.data_bytes() / 88;
  const uint64_t ring_requests = channel.to_host.data_bytes() / 112;
  CAPTURE(sent);
  CHECK(f.DeviceRequests() <= ring_completions + 2 * ring_requests);
}

TEST_CASE("hcl storvsp: an SRB in flight at close completes into the stopped ring, dropped") {
  Fixture f;
  GuestChannel channel = f.ReadyChannel();
  const uint64_t buffer = f.AllocPages(1);
  // The back end holds the request (hcl's NVMe driver completes on its own
  // thread); set before the guest's signal, which orders it for the ring
  // thread.
  f.device.defer_completions = true;
  f.SendSrb(channel, 1, Rw10(kRead10, 7, 1), 0, Fixture::Pfns(buffer, 1));
  REQUIRE(Fixture::WaitConsumed(channel, [] { return false; }));
  REQUIRE(f.DeviceRequests() == 1);
  // The back end finishes while the close waits for it.
  std::atomic<bool> finished{false};
  std::thread backend([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    f.device.RunPending();
    finished.store(true);
  });
  REQUIRE(f.guest.Post(hcl::testing::CloseChannel(channel.relid)) == ::hv::Status::kSuccess);
  // The close returned only after the SRB finished (its objects live until
  // then); the completion went nowhere: no ring write.
  CHECK(finished.load());
  backend.join();
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  CHECK_FALSE(channel.from_host.Read().has_value());
  REQUIRE(f.guest.Post(hcl::testing::GpadlTeardown(channel.relid, channel.gpadl)) ==
          ::hv::Status::kSuccess);
  const auto messages = f.guest.TakeMessages();
  REQUIRE(messages.size() == 1);
  CHECK(messages[0].type() == static_cast<uint32_t>(MessageType::kGpadlTorndown));
}

TEST_CASE("hcl storvsp: a new InitiateContact (kexec) closes the channel; the next driver starts over") {
  Fixture f;
  GuestChannel old_channel = f.ReadyChannel();
  REQUIRE(f.driver.WaitForCount(::hv::CallCode::kSignalEventDirect, 4, kWait));
  // The new kernel connects again and asks for offers: the same controller.
  const OfferInfo offer = f.Connect();
  CHECK(offer.relid == old_channel.relid);
  // The old rings are left alone: a request there gets nothing.
  const uint64_t buffer = f.AllocPages(1);
  Fixture::WriteSrb(old_channel, 1, Rw10(kRead10, 0, 1), 0, Fixture::Pfns(buffer, 1));
  const size_t calls = f.driver.Calls().size();
  CHECK(f.server.SignalEvent(old_channel.connection_id) == ::hv::Status::kSuccess);
  std::this_thread::sleep_for(kQuiet);
  CHECK_FALSE(old_channel.from_host.Read().has_value());
  CHECK(f.driver.Calls().size() == calls);
  CHECK(f.DeviceRequests() == 0);
  // storvsc probes again from BEGIN_INITIALIZATION on a fresh ring.
  GuestChannel channel = f.OpenRings(offer);
  (void)f.StorvscInit(channel);
  f.SendSrb(channel, 2, Rw10(kRead10, 11, 1), 0, Fixture::Pfns(buffer, 1));
  CHECK(DecodeSrbReply(f.Completion(channel, 2)).srb_status == sw::srb::kSuccess);
  CHECK(f.RamBytes(buffer, kBlockSize) == BlockBytes(11));
}

// Two controllers on one VMBus server, opened and initialized one after
// the other and then interleaved, as two async hv_storvsc probes do.
TEST_CASE("hcl storvsp: two SCSI controllers open and initialize side by side") {
  Fixture f;
  auto second = hcl::ScsiController::Create(f.server, f.memory, f.device, 2, 1);
  REQUIRE(second.ok());
  REQUIRE(f.guest.Post(vw::kModernMessageConnectionId,
                       hcl::testing::InitiateContact(vw::kVersionWin10V5_3, 0, 2)) ==
          ::hv::Status::kSuccess);
  auto messages = f.guest.TakeMessages();
  REQUIRE(messages.size() == 1);
  f.guest.msg_conn_id =
      messages[0].Field<uint32_t>(offsetof(vw::VersionResponse, msg_conn_id));
  REQUIRE(f.guest.Post(hcl::testing::RequestOffers()) == ::hv::Status::kSuccess);
  messages = f.guest.TakeMessages();
  REQUIRE(messages.size() == 3);
  const OfferInfo first = Fixture::CheckScsiOffer(messages[0]);
  const OfferInfo other = Fixture::CheckScsiOffer(messages[1]);
  CHECK(first.relid != other.relid);
  GuestChannel a = f.OpenRings(first);
  GuestChannel b = f.OpenRings(other);
  (void)f.StorvscInit(a);
  (void)f.StorvscInit(b);
  // Both serve SCSI commands.
  const uint64_t buffer = f.AllocPages(1);
  const auto pfns = Fixture::Pfns(buffer, 1);
  f.SendSrb(a, 7, Rw10(kRead10, 0, 1), 0, pfns);
  f.SendSrb(b, 8, Rw10(kRead10, 0, 1), 0, pfns);
  CHECK(f.Completion(a, 7).transaction_id == 7);
  CHECK(f.Completion(b, 8).transaction_id == 8);
}
