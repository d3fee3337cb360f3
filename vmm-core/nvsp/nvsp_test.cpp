// NVSP as hv_netvsc 6.1 drives it (mana-netvsc.md §5): the init sequence
// answered with what the guest checks, and messages out of order, with
// unknown GPADLs or sections outside the send buffer refused.
#include <doctest/doctest.h>

#include <map>
#include <vector>

#include "base/le_bytes.h"
#include "nvsp/channel.h"
#include "nvsp/message.h"
#include "nvsp/receive_slots.h"

namespace {

std::vector<std::byte> Msg(std::vector<uint32_t> words) {
  std::vector<std::byte> out(nvsp::kMessageBytes);
  for (size_t i = 0; i < words.size(); ++i)
    REQUIRE(base::StoreLe(std::span<std::byte>(out), 4 * i, words[i]));
  return out;
}

uint32_t Word(const nvsp::Message& message, size_t index) {
  uint32_t value = 0;
  REQUIRE(base::LoadLe(std::span<const std::byte>(message), 4 * index, value));
  return value;
}

struct Guest {
  std::map<uint32_t, uint64_t> gpadls{{5, 16u << 20}, {6, 170 * 6144}, {7, 100}};
  nvsp::Channel channel;
  explicit Guest(nvsp::Channel::Config config = {})
      : channel(config, [this](uint32_t id) -> std::optional<uint64_t> {
          const auto it = gpadls.find(id);
          if (it == gpadls.end()) return std::nullopt;
          return it->second;
        }) {}
  nvsp::Outcome Send(std::vector<uint32_t> words, bool completion = true) {
    return channel.OnMessage(Msg(std::move(words)), completion);
  }
  // hv_netvsc's sequence at `version`, up to the send buffer.
  void Connect(uint32_t version) {
    REQUIRE(Send({nvsp::type::kInit, version, version}).result == nvsp::Result::kOk);
    if (version >= nvsp::kVersion2)
      REQUIRE(Send({nvsp::type::kSendNdisConfig, 1514, 0, 0x24, 0}, false).result == nvsp::Result::kOk);
    REQUIRE(Send({nvsp::type::kSendNdisVersion, 6, 30}, false).result == nvsp::Result::kOk);
    REQUIRE(Send({nvsp::type::kSendReceiveBuffer, 5, 0xCAFE}).result == nvsp::Result::kOk);
    REQUIRE(Send({nvsp::type::kSendSendBuffer, 6, 0}).result == nvsp::Result::kOk);
    REQUIRE(channel.ready());
  }
};

}  // namespace

TEST_CASE("nvsp: hv_netvsc 6.1's init sequence gets the completions it checks") {
  Guest guest;
  auto init = guest.Send({nvsp::type::kInit, 0x60001, 0x60001});
  REQUIRE(init.completion);
  CHECK(Word(*init.completion, 0) == nvsp::type::kInitComplete);
  CHECK(Word(*init.completion, 3) == nvsp::status::kSuccess);
  CHECK(guest.channel.version() == 0x60001u);
  // NDIS_CONFIG and NDIS_VERSION: no reply.
  CHECK(!guest.Send({nvsp::type::kSendNdisConfig, 1514, 0, 0x24, 0}, false).completion);
  CHECK(!guest.Send({nvsp::type::kSendNdisVersion, 6, 30}, false).completion);
  // The receive buffer: one section at offset 0, sub-allocations of at
  // least 68 bytes that fit the buffer.
  const auto receive = guest.Send({nvsp::type::kSendReceiveBuffer, 5, 0xCAFE});
  REQUIRE(receive.completion);
  REQUIRE(receive.receive_buffer);
  CHECK(Word(*receive.completion, 0) == nvsp::type::kSendReceiveBufferComplete);
  CHECK(Word(*receive.completion, 1) == nvsp::status::kSuccess);
  CHECK(Word(*receive.completion, 2) == 1);  // num_sections
  CHECK(Word(*receive.completion, 3) == 0);  // offset
  const uint32_t sub = Word(*receive.completion, 4), count = Word(*receive.completion, 5);
  CHECK(sub >= 68);
  CHECK(sub >= 1514 + 44);  // an RNDIS header and a whole frame
  CHECK(uint64_t{sub} * count <= 16u << 20);
  CHECK(count > 1000);
  CHECK(Word(*receive.completion, 6) == sub * count);
  const auto send = guest.Send({nvsp::type::kSendSendBuffer, 6, 0});
  REQUIRE(send.completion);
  CHECK(Word(*send.completion, 0) == nvsp::type::kSendSendBufferComplete);
  CHECK(Word(*send.completion, 1) == nvsp::status::kSuccess);
  CHECK(Word(*send.completion, 2) == 6144);
  REQUIRE(send.send_buffer);
  CHECK(send.send_buffer->sections == 170);
  CHECK(guest.channel.ready());

  // RNDIS packets: control by GPA-direct ranges, data in a section.
  const auto control = guest.Send({nvsp::type::kSendRndisPacket, 1, nvsp::kNoSection, 0});
  REQUIRE(control.rndis);
  CHECK(control.rndis->channel_type == 1);
  CHECK(!control.completion);  // the owner completes once it has read it
  const auto data = guest.Send({nvsp::type::kSendRndisPacket, 0, 169, 6144});
  REQUIRE(data.rndis);
  CHECK(data.rndis->section_index == 169);
}

TEST_CASE("nvsp: versions are tried highest first; the rest waits for INIT") {
  Guest guest;
  // A version from the future: FAILURE, and the guest tries the next one.
  auto refused = guest.Send({nvsp::type::kInit, 0x70000, 0x70000});
  CHECK(refused.result == nvsp::Result::kVersionRefused);
  REQUIRE(refused.completion);
  CHECK(Word(*refused.completion, 3) == nvsp::status::kFailure);
  // Nothing else before INIT.
  CHECK(guest.Send({nvsp::type::kSendNdisVersion, 6, 1}, false).result == nvsp::Result::kWrongState);
  CHECK(guest.Send({nvsp::type::kSendReceiveBuffer, 5, 0xCAFE}).result == nvsp::Result::kWrongState);
  // Version 1 (0x2) has no NDIS_CONFIG.
  REQUIRE(guest.Send({nvsp::type::kInit, 0x2, 0x2}).result == nvsp::Result::kOk);
  CHECK(guest.Send({nvsp::type::kSendNdisConfig, 1514, 0, 0, 0}, false).result ==
        nvsp::Result::kWrongState);
  // A second INIT.
  CHECK(guest.Send({nvsp::type::kInit, 0x2, 0x2}).result == nvsp::Result::kWrongState);
  // A range gets its highest version.
  Guest range;
  REQUIRE(range.Send({nvsp::type::kInit, 0x2, 0x50000}).result == nvsp::Result::kOk);
  CHECK(range.channel.version() == 0x50000u);
}

TEST_CASE("nvsp: unknown or bad buffers, sections outside the send buffer and junk are refused") {
  Guest guest;
  REQUIRE(guest.Send({nvsp::type::kInit, 0x60001, 0x60001}).result == nvsp::Result::kOk);
  // An MTU out of range falls back to 1514.
  REQUIRE(guest.Send({nvsp::type::kSendNdisConfig, 40, 0, 0, 0}, false).result == nvsp::Result::kOk);
  CHECK(guest.channel.mtu() == 1514);
  CHECK(guest.Send({nvsp::type::kSendNdisConfig, 9000, 0, 0, 0}, false).result ==
        nvsp::Result::kWrongState);  // only once
  REQUIRE(guest.Send({nvsp::type::kSendNdisVersion, 6, 30}, false).result == nvsp::Result::kOk);
  for (uint32_t gpadl : {99u, 7u}) {  // never created; 100 bytes
    const auto bad = guest.Send({nvsp::type::kSendReceiveBuffer, gpadl, 0xCAFE});
    CHECK(bad.result == nvsp::Result::kBadBuffer);
    REQUIRE(bad.completion);
    CHECK(Word(*bad.completion, 1) == nvsp::status::kFailure);
  }
  guest.gpadls[8] = uint64_t{1} << 40;  // larger than any receive buffer allowed
  CHECK(guest.Send({nvsp::type::kSendReceiveBuffer, 8, 0xCAFE}).result == nvsp::Result::kBadBuffer);
  REQUIRE(guest.Send({nvsp::type::kSendReceiveBuffer, 5, 0xCAFE}).result == nvsp::Result::kOk);
  CHECK(guest.Send({nvsp::type::kSendSendBuffer, 7, 0}).result == nvsp::Result::kBadBuffer);
  REQUIRE(guest.Send({nvsp::type::kSendSendBuffer, 6, 0}).result == nvsp::Result::kOk);
  for (const auto& [index, size] : std::vector<std::pair<uint32_t, uint32_t>>{
           {170, 100}, {0xFFFFFFFE, 100}, {0, 6145}, {0, 0}}) {
    const auto outside = guest.Send({nvsp::type::kSendRndisPacket, 0, index, size});
    CHECK(outside.result == nvsp::Result::kBadSection);
    CHECK(!outside.rndis);
    REQUIRE(outside.completion);
    CHECK(Word(*outside.completion, 0) == nvsp::type::kSendRndisPacketComplete);
    CHECK(Word(*outside.completion, 1) == nvsp::status::kFailure);
  }
  CHECK(guest.Send({nvsp::type::kSendRndisPacket, 7, nvsp::kNoSection, 0}).result ==
        nvsp::Result::kMalformed);
  // Short and unknown messages.
  CHECK(guest.channel.OnMessage(std::vector<std::byte>(3), true).result == nvsp::Result::kMalformed);
  const auto rndis = Msg({nvsp::type::kSendRndisPacket});
  CHECK(guest.channel.OnMessage(std::span(rndis).first(8), true).result == nvsp::Result::kMalformed);
  CHECK(guest.Send({9999}).result == nvsp::Result::kMalformed);
  CHECK(guest.Send({nvsp::type::kSwitchDataPath, 1}).result == nvsp::Result::kWrongState);
  // Sub-channels are off here: refused, never partly granted.
  const auto sub = guest.Send({nvsp::type::kSubChannel, 1, 2});
  CHECK(sub.result == nvsp::Result::kBadSubChannels);
  REQUIRE(sub.completion);
  CHECK(Word(*sub.completion, 0) == nvsp::type::kSubChannel);
  CHECK(Word(*sub.completion, 1) == nvsp::status::kFailure);
}

TEST_CASE("nvsp: sub-channels are granted once, whole, from version 5") {
  Guest guest({.max_sub_channels = 3});
  guest.Connect(0x60001);
  CHECK(guest.Send({nvsp::type::kSubChannel, 1, 4}).result == nvsp::Result::kBadSubChannels);
  CHECK(guest.Send({nvsp::type::kSubChannel, 2, 1}).result == nvsp::Result::kBadSubChannels);
  const auto granted = guest.Send({nvsp::type::kSubChannel, 1, 2});
  CHECK(granted.offer_sub_channels == 2);
  REQUIRE(granted.completion);
  CHECK(Word(*granted.completion, 1) == nvsp::status::kSuccess);
  CHECK(Word(*granted.completion, 2) == 2);
  CHECK(guest.Send({nvsp::type::kSubChannel, 1, 1}).result == nvsp::Result::kWrongState);
  Guest old({.max_sub_channels = 3});
  old.Connect(0x40000);
  CHECK(old.Send({nvsp::type::kSubChannel, 1, 1}).result == nvsp::Result::kBadSubChannels);
}

TEST_CASE("nvsp: revoking the buffers stops data until the guest starts over") {
  Guest guest;
  guest.Connect(0x60001);
  CHECK(guest.Send({nvsp::type::kRevokeReceiveBuffer, 0x1234}, false).result == nvsp::Result::kWrongState);
  CHECK(guest.Send({nvsp::type::kRevokeReceiveBuffer, 0xCAFE}, false).result == nvsp::Result::kOk);
  CHECK(guest.Send({nvsp::type::kRevokeSendBuffer, 0}, false).result == nvsp::Result::kOk);
  CHECK(!guest.channel.ready());
  CHECK(guest.Send({nvsp::type::kSendRndisPacket, 1, nvsp::kNoSection, 0}).result ==
        nvsp::Result::kWrongState);
  guest.Connect(0x60001);
}

TEST_CASE("nvsp: receive slots come back only through completions the host is waiting for") {
  nvsp::ReceiveSlots slots({.offset = 0, .sub_allocation_bytes = 1792, .sub_allocations = 4, .end = 4 * 1792});
  CHECK(slots.limit() == 3);  // hv_netvsc's completion queue holds count + 1
  std::vector<nvsp::ReceiveSlots::Slot> taken;
  while (auto slot = slots.Take()) taken.push_back(*slot);
  REQUIRE(taken.size() == 3);
  for (const auto& slot : taken) {
    CHECK(slot.byte_offset % 1792 == 0);
    CHECK(slot.byte_offset + slot.capacity <= 4 * 1792);
  }
  CHECK(taken[0].byte_offset != taken[1].byte_offset);
  // Unknown and duplicate completions free nothing.
  CHECK(!slots.Complete(12345));
  CHECK(slots.Complete(taken[1].transaction_id));
  CHECK(!slots.Complete(taken[1].transaction_id));
  CHECK(slots.outstanding() == 2);
  // The slot's next use has another ID: the stale one still does not match.
  const auto again = slots.Take();
  REQUIRE(again);
  CHECK(again->byte_offset == taken[1].byte_offset);
  CHECK(again->transaction_id != taken[1].transaction_id);
  CHECK(!slots.Complete(taken[1].transaction_id));
  CHECK(slots.Complete(again->transaction_id));

  const auto header = nvsp::ReceiveSlots::TransferHeader(3584, 100);
  uint16_t set = 0;
  uint32_t count = 0, bytes = 0, offset = 0;
  REQUIRE(base::LoadLe(std::span<const std::byte>(header), 0, set));
  REQUIRE(base::LoadLe(std::span<const std::byte>(header), 4, count));
  REQUIRE(base::LoadLe(std::span<const std::byte>(header), 8, bytes));
  REQUIRE(base::LoadLe(std::span<const std::byte>(header), 12, offset));
  CHECK(set == 0xCAFE);
  CHECK(count == 1);
  CHECK(bytes == 100);
  CHECK(offset == 3584);
  nvsp::ReceiveSlots none({.offset = 0, .sub_allocation_bytes = 1792, .sub_allocations = 1, .end = 1792});
  CHECK(!none.Take());
}

TEST_CASE("nvsp: a sub-channel carries RNDIS packets against the primary's send buffer, nothing else") {
  nvsp::Channel sub({}, nvsp::Channel::SubChannelOf{0x60001, {.gpadl = 7, .section_bytes = 6144,
                                                              .sections = 2}});
  CHECK(sub.ready());
  CHECK(!sub.receive_buffer());
  const auto send = [&](std::vector<uint32_t> words, bool completion = true) {
    return sub.OnMessage(Msg(std::move(words)), completion);
  };
  const auto packet = send({nvsp::type::kSendRndisPacket, 0, 1, 100});
  CHECK(packet.result == nvsp::Result::kOk);
  REQUIRE(packet.rndis);
  CHECK(packet.rndis->section_index == 1);
  CHECK(send({nvsp::type::kSendRndisPacket, 0, 2, 100}).result == nvsp::Result::kBadSection);
  // Set-up, revokes and sub-channel requests belong to the primary.
  CHECK(send({nvsp::type::kInit, 0x60001, 0x60001}).result == nvsp::Result::kWrongState);
  CHECK(send({nvsp::type::kSendReceiveBuffer, 1, 0xCAFE}).result == nvsp::Result::kWrongState);
  const auto again = send({nvsp::type::kSubChannel, 1, 1});
  CHECK(again.result == nvsp::Result::kWrongState);
  CHECK(again.offer_sub_channels == 0);
  REQUIRE(again.completion);
  CHECK(Word(*again.completion, 1) == nvsp::status::kFailure);
  CHECK(send({nvsp::type::kRevokeSendBuffer, 0}, false).result == nvsp::Result::kWrongState);
  CHECK(sub.send_buffer().has_value());
}

TEST_CASE("nvsp: a shared receive slot is completed only on the channel it went out on") {
  nvsp::ReceiveSlots slots({.offset = 0, .sub_allocation_bytes = 1792, .sub_allocations = 4, .end = 4 * 1792});
  const auto on_primary = slots.Take(0);
  const auto on_sub = slots.Take(1);
  const auto also_on_sub = slots.Take(1);
  REQUIRE((on_primary && on_sub && also_on_sub));
  CHECK(!slots.Complete(on_sub->transaction_id, 0));
  CHECK(!slots.Complete(on_primary->transaction_id, 1));
  CHECK(slots.Complete(on_sub->transaction_id, 1));
  // Sub-channel 1 closes: its other slot comes back, the primary's stays out.
  CHECK(slots.Release(1) == 1);
  CHECK(slots.outstanding() == 1);
  CHECK(!slots.Complete(also_on_sub->transaction_id, 1));
  CHECK(slots.Complete(on_primary->transaction_id, 0));
  CHECK(slots.Release(1) == 0);
}
