#include "vmbus/channel_server.h"

#include <concepts>
#include <utility>

#include "base/checked.h"
#include "base/le_bytes.h"
#include "base/page.h"
#include "vmbus/ring_wire.h"

namespace vmbus {
namespace {

using wire::MessageType;

constexpr uint32_t TypeValue(MessageType type) { return static_cast<uint32_t>(type); }

// A host->guest message of `size_bytes` bytes (the whole struct: Linux 6.1
// drops messages shorter than its channel_message_table minimum).
OutgoingMessage NewMessage(MessageType type, size_t size_bytes) {
  OutgoingMessage out;
  out.size_bytes = size_bytes;
  (void)base::StoreLe<uint32_t>(out.buffer, offsetof(wire::MessageHeader, message_type),
                                TypeValue(type));
  return out;
}

// Stores at our own offsets (static_assert'ed in wire.h) inside the buffer.
template <std::unsigned_integral T>
void Store(OutgoingMessage& out, size_t offset, T value) {
  (void)base::StoreLe<T>(std::span(out.buffer).first(out.size_bytes), offset, value);
}

// Loads a field of a message whose size the caller has checked.
template <std::unsigned_integral T>
T Field(std::span<const std::byte> payload, size_t offset) {
  T value = 0;
  (void)base::LoadLe<T>(payload, offset, value);
  return value;
}

}  // namespace

// ---- Queries ----

bool ChannelServer::offers_visible() const {
  const auto state = connection_.connection();
  return state.has_value() && state->offers_requested;
}

ChannelInfo ChannelServer::InfoOf(uint32_t relid, const Channel& channel) const {
  return ChannelInfo{.relid = relid,
                     .connection_id = wire::ChannelConnectionId(relid),
                     .sub_channel_index = channel.sub_channel_index,
                     .open = channel.open.has_value(),
                     .target_vp = channel.open ? channel.open->target_vp : 0,
                     .rescinded = channel.rescinded};
}

std::optional<ChannelInfo> ChannelServer::FindChannel(uint32_t relid) const {
  const auto it = channels_.find(relid);
  if (it == channels_.end()) return std::nullopt;
  return InfoOf(relid, it->second);
}

std::optional<ChannelInfo> ChannelServer::FindByConnectionId(uint32_t connection_id) const {
  if (connection_id <= wire::kChannelConnectionIdBase ||
      connection_id - wire::kChannelConnectionIdBase > wire::kMaxRelid)
    return std::nullopt;
  return FindChannel(connection_id - wire::kChannelConnectionIdBase);
}

const Gpadl* ChannelServer::FindGpadl(uint32_t relid, uint32_t gpadl_id) const {
  const auto channel = channels_.find(relid);
  if (channel == channels_.end()) return nullptr;
  const auto entry = channel->second.gpadls.find(gpadl_id);
  if (entry == channel->second.gpadls.end()) return nullptr;
  return &entry->second.gpadl;
}

std::optional<uint32_t> ChannelServer::FreeRelid(uint32_t after) const {
  for (uint32_t relid = after + 1; relid <= wire::kMaxRelid; ++relid)
    if (!channels_.contains(relid)) return relid;
  return std::nullopt;
}

// ---- Output ----

void ChannelServer::Deliver(OutgoingMessage message, Outbox& outbox) const {
  // Responses and offers go where InitiateContact asked (hyperv-vmbus.md
  // §4, "Linux 6.1 VMBus"). Only called while connected.
  const auto state = connection_.connection();
  if (!state) return;
  message.target_vp = state->target_vp;
  message.sint = state->sint;
  outbox.Send(message);
}

void ChannelServer::SendOffer(uint32_t relid, const Channel& channel, Outbox& outbox) const {
  OutgoingMessage out = NewMessage(MessageType::kOfferChannel, sizeof(wire::OfferChannel));
  const auto bytes = std::span(out.buffer);
  for (size_t i = 0; i < sizeof(wire::Guid); ++i) {
    bytes[offsetof(wire::OfferChannel, interface_type) + i] =
        std::byte{channel.offer.interface_type.bytes[i]};
    bytes[offsetof(wire::OfferChannel, interface_instance) + i] =
        std::byte{channel.offer.interface_instance.bytes[i]};
  }
  Store<uint16_t>(out, offsetof(wire::OfferChannel, channel_flags), channel.offer.channel_flags);
  Store<uint16_t>(out, offsetof(wire::OfferChannel, mmio_megabytes),
                  channel.offer.mmio_megabytes);
  for (size_t i = 0; i < wire::kUserDefinedBytes; ++i)
    bytes[offsetof(wire::OfferChannel, user_defined) + i] = channel.offer.user_defined[i];
  Store<uint16_t>(out, offsetof(wire::OfferChannel, sub_channel_index), channel.sub_channel_index);
  Store<uint32_t>(out, offsetof(wire::OfferChannel, child_relid), relid);
  // hyperv-vmbus.md §5.2, §5.5: no monitor page, so monitor_allocated = 0
  // and Linux signals with HvCallSignalEvent(connection_id).
  Store<uint8_t>(out, offsetof(wire::OfferChannel, monitor_id), 0);
  Store<uint8_t>(out, offsetof(wire::OfferChannel, monitor_allocated), 0);
  // From 5.0 every channel has its own event connection; Windows guests
  // rely on the flag, Linux 6.1 then skips the shared interrupt page.
  const auto state = connection_.connection();
  const bool dedicated = state && state->version >= wire::kVersionWin10V5;
  Store<uint16_t>(out, offsetof(wire::OfferChannel, is_dedicated_interrupt), dedicated ? 1 : 0);
  Store<uint32_t>(out, offsetof(wire::OfferChannel, connection_id),
                  wire::ChannelConnectionId(relid));
  Deliver(out, outbox);
}

void ChannelServer::SendGpadlCreated(uint32_t relid, uint32_t gpadl_id, uint32_t status,
                                     Outbox& outbox) const {
  OutgoingMessage out = NewMessage(MessageType::kGpadlCreated, sizeof(wire::GpadlCreated));
  Store<uint32_t>(out, offsetof(wire::GpadlCreated, child_relid), relid);
  Store<uint32_t>(out, offsetof(wire::GpadlCreated, gpadl), gpadl_id);
  Store<uint32_t>(out, offsetof(wire::GpadlCreated, creation_status), status);
  Deliver(out, outbox);
}

void ChannelServer::SendTorndown(uint32_t gpadl_id, Outbox& outbox) const {
  OutgoingMessage out = NewMessage(MessageType::kGpadlTorndown, sizeof(wire::GpadlTorndown));
  Store<uint32_t>(out, offsetof(wire::GpadlTorndown, gpadl), gpadl_id);
  Deliver(out, outbox);
}

// ---- Channel lifetime ----

void ChannelServer::CloseChannel(uint32_t relid, Channel& channel, Outbox& outbox) {
  if (!channel.open) return;
  channel.open.reset();
  if (channel.handler != nullptr) channel.handler->OnClose(relid);
  // GPADLs whose teardown waited for the ring to be released go now.
  for (auto it = channel.gpadls.begin(); it != channel.gpadls.end();) {
    if (!it->second.teardown_after_close) {
      ++it;
      continue;
    }
    gpadl_pages_ -= it->second.gpadl.page_count();
    SendTorndown(it->first, outbox);
    it = channel.gpadls.erase(it);
  }
}

void ChannelServer::EraseChannel(uint32_t relid) {
  const auto it = channels_.find(relid);
  if (it == channels_.end()) return;
  for (const auto& [id, entry] : it->second.gpadls) gpadl_pages_ -= entry.gpadl.page_count();
  for (auto pending = pending_gpadls_.begin(); pending != pending_gpadls_.end();) {
    if (pending->second.builder.child_relid() != relid) {
      ++pending;
      continue;
    }
    gpadl_pages_ -= pending->second.pages;
    pending = pending_gpadls_.erase(pending);
  }
  channels_.erase(it);
}

void ChannelServer::ResetChannels() {
  // Unload, or a new InitiateContact (kexec, kdump): every channel closes,
  // sub-channels first as Linux closes them, and the guest's GPADLs and
  // rescinded relids go with the old connection. Sub-channels are
  // withdrawn: the next driver asks for them again.
  for (const bool sub_channels : {true, false}) {
    for (auto& [relid, channel] : channels_) {
      if ((channel.sub_channel_index != 0) != sub_channels || !channel.open) continue;
      channel.open.reset();
      if (channel.handler != nullptr) channel.handler->OnClose(relid);
    }
  }
  for (auto it = channels_.begin(); it != channels_.end();) {
    if (it->second.rescinded || it->second.sub_channel_index != 0) {
      it = channels_.erase(it);
      continue;
    }
    it->second.gpadls.clear();
    it->second.pending_gpadl_count = 0;
    ++it;
  }
  pending_gpadls_.clear();
  gpadl_pages_ = 0;
}

base::Result<uint32_t> ChannelServer::AddChannel(const Offer& offer, ChannelHandler& handler,
                                                 Outbox& outbox) {
  const auto relid = FreeRelid(0);
  if (!relid) return base::Error("vmbus: no free relid (1..2047 in use)");
  Channel& channel = channels_[*relid];
  channel.offer = offer;
  channel.handler = &handler;
  // Channels added after RequestOffers are offered at once.
  if (offers_visible()) SendOffer(*relid, channel, outbox);
  return *relid;
}

base::Result<std::vector<uint32_t>> ChannelServer::OfferSubChannels(uint32_t parent_relid,
                                                                    uint16_t count,
                                                                    Outbox& outbox) {
  const auto parent = channels_.find(parent_relid);
  if (parent == channels_.end() || parent->second.rescinded)
    return base::Error::Format("vmbus: no channel %u to add sub-channels to", parent_relid);
  if (parent->second.sub_channel_index != 0)
    return base::Error::Format("vmbus: channel %u is itself a sub-channel", parent_relid);
  if (count == 0) return base::Error("vmbus: zero sub-channels requested");
  uint32_t last_index = 0;
  for (const auto& [relid, channel] : channels_)
    if (channel.parent_relid == parent_relid && channel.sub_channel_index > last_index)
      last_index = channel.sub_channel_index;
  if (last_index + count > 0xFFFF) return base::Error("vmbus: sub_channel_index past 65535");

  // Find every relid first so a shortage adds nothing.
  std::vector<uint32_t> relids;
  uint32_t after = 0;
  for (uint16_t i = 0; i < count; ++i) {
    const auto relid = FreeRelid(after);
    if (!relid) return base::Error::Format("vmbus: no relids for %u sub-channels", count);
    relids.push_back(*relid);
    after = *relid;
  }
  const Offer offer = parent->second.offer;
  ChannelHandler* handler = parent->second.handler;
  const bool visible = offers_visible();
  for (size_t i = 0; i < relids.size(); ++i) {
    Channel& channel = channels_[relids[i]];
    channel.offer = offer;
    channel.handler = handler;
    channel.parent_relid = parent_relid;
    channel.sub_channel_index = static_cast<uint16_t>(last_index + i + 1);
    if (visible) SendOffer(relids[i], channel, outbox);
  }
  return relids;
}

void ChannelServer::RemoveOne(uint32_t relid, Outbox& outbox) {
  const auto it = channels_.find(relid);
  if (it == channels_.end() || it->second.rescinded) return;
  Channel& channel = it->second;
  CloseChannel(relid, channel, outbox);
  channel.handler = nullptr;
  if (!offers_visible()) {
    EraseChannel(relid);  // the guest never heard of it
    return;
  }
  // The guest closes and tears down what it still holds, then answers
  // RelIdReleased; until then the relid stays taken (hyperv-vmbus.md §5.1).
  channel.rescinded = true;
  OutgoingMessage out =
      NewMessage(MessageType::kRescindChannelOffer, sizeof(wire::RescindChannelOffer));
  Store<uint32_t>(out, offsetof(wire::RescindChannelOffer, child_relid), relid);
  Deliver(out, outbox);
}

base::Result<void> ChannelServer::RemoveChannel(uint32_t relid, Outbox& outbox) {
  const auto it = channels_.find(relid);
  if (it == channels_.end() || it->second.rescinded)
    return base::Error::Format("vmbus: no channel %u to remove", relid);
  if (it->second.sub_channel_index == 0) {
    std::vector<uint32_t> sub_channels;
    for (const auto& [sub_relid, channel] : channels_)
      if (channel.parent_relid == relid && channel.sub_channel_index != 0)
        sub_channels.push_back(sub_relid);
    for (const uint32_t sub_relid : sub_channels) RemoveOne(sub_relid, outbox);
  }
  RemoveOne(relid, outbox);
  return base::Ok();
}

// ---- Guest messages ----

MessageResult ChannelServer::OnPostMessage(const PostedMessage& message, Outbox& outbox) {
  const Connection::Admission admission = connection_.Admit(message);
  if (admission.result != MessageResult::kOk) return admission.result;
  const std::span<const std::byte> payload = message.payload;

  switch (admission.vmbus_type) {  // guest-controlled
    case TypeValue(MessageType::kInitiateContact): {
      const bool was_connected = connection_.connected();
      const MessageResult result = connection_.OnPostMessage(message, outbox);
      // A new contact while connected starts over (kexec or kdump without
      // Unload). After Unload the channels were reset already, and what
      // devices set up before the first contact stays.
      if (result == MessageResult::kOk && was_connected) ResetChannels();
      return result;
    }
    case TypeValue(MessageType::kRequestOffers):
      return HandleRequestOffers(message, outbox);
    case TypeValue(MessageType::kUnload):
      // Linux 6.1 waits for UnloadResponse without a timeout; the channels
      // close before it goes.
      ResetChannels();
      return connection_.OnPostMessage(message, outbox);
    case TypeValue(MessageType::kGpadlHeader):
      return HandleGpadlHeader(payload, outbox);
    case TypeValue(MessageType::kGpadlBody):
      return HandleGpadlBody(payload, outbox);
    case TypeValue(MessageType::kGpadlTeardown):
      return HandleGpadlTeardown(payload, outbox);
    case TypeValue(MessageType::kOpenChannel):
      return HandleOpenChannel(payload, outbox);
    case TypeValue(MessageType::kCloseChannel):
      return HandleCloseChannel(payload, outbox);
    case TypeValue(MessageType::kRelIdReleased):
      return HandleRelIdReleased(payload);
    case TypeValue(MessageType::kModifyChannel):
      return HandleModifyChannel(payload, outbox);
    default:
      // Host->guest and unknown types: Connection's errors.
      return connection_.OnPostMessage(message, outbox);
  }
}

MessageResult ChannelServer::HandleRequestOffers(const PostedMessage& message, Outbox& outbox) {
  const auto state = connection_.connection();
  if (state && !state->offers_requested) {
    // hyperv-vmbus.md §5.2: Offer x N, then AllOffersDelivered (sent by
    // Connection). Primaries first: Linux 6.1 vmbus_process_offer attaches
    // a sub-channel to a primary it already knows.
    for (const bool sub_channels : {false, true})
      for (const auto& [relid, channel] : channels_)
        if ((channel.sub_channel_index != 0) == sub_channels && !channel.rescinded)
          SendOffer(relid, channel, outbox);
  }
  // A second RequestOffers is Connection's kUnexpectedMessage.
  return connection_.OnPostMessage(message, outbox);
}

MessageResult ChannelServer::HandleGpadlHeader(std::span<const std::byte> payload,
                                               Outbox& outbox) {
  // hyperv-vmbus.md §5.1 (type 8): {child_relid, gpadl, range_buflen u16,
  // rangecount u16}, then as many u64 words of the range list as fit.
  auto parsed = ParseGpadlHeader(payload);
  if (!parsed) return MessageResult::kMalformed;
  const uint32_t relid = parsed->child_relid;
  const uint32_t gpadl_id = parsed->gpadl_id;
  const auto it = channels_.find(relid);
  if (it == channels_.end() || !offers_visible() || it->second.rescinded)
    return MessageResult::kUnknownChannel;
  Channel& channel = it->second;

  // From here the guest waits for GpadlCreated (Linux 6.1 without a
  // timeout), so a GPADL we will not hold is refused with a status.
  const size_t announced_words = parsed->range_buflen / sizeof(uint64_t);
  const size_t range_count = parsed->range_count;
  auto builder = GpadlBuilder::Start(std::move(parsed).value());
  // Ids are per channel; in-progress ones partition-wide, because
  // GpadlBody names no channel.
  const bool duplicate = channel.gpadls.contains(gpadl_id) || pending_gpadls_.contains(gpadl_id);
  // Start checked announced_words >= 2 * range_count.
  const size_t pages = builder ? announced_words - range_count : 0;
  const bool within_limits =
      channel.gpadls.size() + channel.pending_gpadl_count < limits_.max_gpadls_per_channel &&
      pages <= limits_.max_gpadl_pages - gpadl_pages_;
  if (!builder || duplicate || !within_limits) {
    SendGpadlCreated(relid, gpadl_id, wire::kStatusUnsuccessful, outbox);
    return MessageResult::kRefused;
  }

  gpadl_pages_ += pages;
  PendingGpadl pending{.pages = pages, .builder = std::move(builder).value()};
  if (pending.builder.complete()) return CompleteGpadl(pending, outbox);
  ++channel.pending_gpadl_count;
  pending_gpadls_.emplace(gpadl_id, std::move(pending));
  return MessageResult::kOk;  // GpadlCreated follows the last body
}

MessageResult ChannelServer::HandleGpadlBody(std::span<const std::byte> payload,
                                             Outbox& outbox) {
  // hyperv-vmbus.md §5.1 (type 9): {msgnumber (Linux: 0), gpadl}, then
  // words continuing the header's range list.
  const auto body = ParseGpadlBody(payload);
  if (!body) return MessageResult::kMalformed;
  const auto it = pending_gpadls_.find(body->gpadl_id);
  if (it == pending_gpadls_.end()) return MessageResult::kUnknownGpadl;
  // No words, or more than range_buflen announced: the builder is unchanged.
  if (!it->second.builder.AddBody(*body)) return MessageResult::kMalformed;
  if (!it->second.builder.complete()) return MessageResult::kOk;

  const PendingGpadl pending = std::move(it->second);
  pending_gpadls_.erase(it);
  if (const auto channel = channels_.find(pending.builder.child_relid());
      channel != channels_.end())
    --channel->second.pending_gpadl_count;
  return CompleteGpadl(pending, outbox);
}

MessageResult ChannelServer::CompleteGpadl(const PendingGpadl& pending, Outbox& outbox) {
  // The pages were counted when the header came; `pending` is in no table.
  const uint32_t relid = pending.builder.child_relid();
  const uint32_t gpadl_id = pending.builder.gpadl_id();
  const auto channel = channels_.find(relid);
  auto gpadl = pending.builder.Finish();  // the range list must add up
  if (channel == channels_.end() || !gpadl) {
    gpadl_pages_ -= pending.pages;
    // (No channel is not reached: erasing a channel drops its pending GPADLs.)
    if (channel == channels_.end()) return MessageResult::kUnknownChannel;
    SendGpadlCreated(relid, gpadl_id, wire::kStatusUnsuccessful, outbox);
    return MessageResult::kRefused;
  }
  channel->second.gpadls.emplace(
      gpadl_id, GpadlEntry{.gpadl = std::move(gpadl).value(), .teardown_after_close = false});
  SendGpadlCreated(relid, gpadl_id, wire::kStatusSuccess, outbox);
  return MessageResult::kOk;
}

MessageResult ChannelServer::HandleGpadlTeardown(std::span<const std::byte> payload,
                                                 Outbox& outbox) {
  if (payload.size() < sizeof(wire::GpadlTeardown)) return MessageResult::kMalformed;
  const auto relid = Field<uint32_t>(payload, offsetof(wire::GpadlTeardown, child_relid));
  const auto gpadl_id = Field<uint32_t>(payload, offsetof(wire::GpadlTeardown, gpadl));
  // A rescinded channel's GPADLs may still be torn down before release.
  const auto channel = channels_.find(relid);
  if (channel == channels_.end() || !offers_visible()) return MessageResult::kUnknownChannel;
  const auto entry = channel->second.gpadls.find(gpadl_id);
  if (entry == channel->second.gpadls.end()) return MessageResult::kUnknownGpadl;
  if (entry->second.teardown_after_close) return MessageResult::kUnexpectedMessage;
  if (channel->second.open && channel->second.open->ring_gpadl == gpadl_id) {
    // The open ring still uses it: GpadlTorndown follows the close.
    entry->second.teardown_after_close = true;
    return MessageResult::kOk;
  }
  gpadl_pages_ -= entry->second.gpadl.page_count();
  channel->second.gpadls.erase(entry);
  SendTorndown(gpadl_id, outbox);
  return MessageResult::kOk;
}

MessageResult ChannelServer::HandleOpenChannel(std::span<const std::byte> payload,
                                               Outbox& outbox) {
  // Copy every field first (STYLE.md §3.1).
  if (payload.size() < sizeof(wire::OpenChannel)) return MessageResult::kMalformed;
  OpenRequest request;
  request.relid = Field<uint32_t>(payload, offsetof(wire::OpenChannel, child_relid));
  request.open_id = Field<uint32_t>(payload, offsetof(wire::OpenChannel, open_id));
  const auto ring_gpadl_id = Field<uint32_t>(payload, offsetof(wire::OpenChannel, ring_gpadl));
  request.target_vp = Field<uint32_t>(payload, offsetof(wire::OpenChannel, target_vp));
  request.downstream_ring_page_offset =
      Field<uint32_t>(payload, offsetof(wire::OpenChannel, downstream_ring_page_offset));
  for (size_t i = 0; i < wire::kUserDefinedBytes; ++i)
    request.user_data[i] = payload[offsetof(wire::OpenChannel, user_data) + i];
  request.connection_id = wire::ChannelConnectionId(request.relid);

  const auto it = channels_.find(request.relid);
  if (it == channels_.end() || !offers_visible() || it->second.rescinded)
    return MessageResult::kUnknownChannel;
  Channel& channel = it->second;
  request.sub_channel_index = channel.sub_channel_index;

  // Linux 6.1 waits for OpenChannelResult without a timeout: every refusal
  // is an answer.
  const auto refuse = [&] {
    OutgoingMessage out =
        NewMessage(MessageType::kOpenChannelResult, sizeof(wire::OpenChannelResult));
    Store<uint32_t>(out, offsetof(wire::OpenChannelResult, child_relid), request.relid);
    Store<uint32_t>(out, offsetof(wire::OpenChannelResult, open_id), request.open_id);
    Store<uint32_t>(out, offsetof(wire::OpenChannelResult, status), wire::kStatusUnsuccessful);
    Deliver(out, outbox);
    return MessageResult::kRefused;
  };
  if (channel.open) return refuse();  // double open
  const auto ring = channel.gpadls.find(ring_gpadl_id);
  if (ring == channel.gpadls.end() || ring->second.teardown_after_close) return refuse();
  if (request.target_vp >= vp_count_) return refuse();
  // hyperv-vmbus.md §5.3: the ring GPADL is whole pages (Linux 6.1 sends
  // one range at offset 0), split into [guest->host][host->guest], each a
  // header page plus at least one data page.
  const Gpadl& gpadl = ring->second.gpadl;
  const auto whole_pages = WholePages(gpadl);
  if (!whole_pages) return refuse();
  const size_t ring_pages = whole_pages->size();
  const size_t offset = request.downstream_ring_page_offset;
  if (offset < wire::kMinRingPages || offset > ring_pages ||
      ring_pages - offset < wire::kMinRingPages)
    return refuse();

  request.ring_gpadl = &gpadl;
  const uint32_t status =
      channel.handler != nullptr ? channel.handler->OnOpen(request) : wire::kStatusUnsuccessful;
  if (status == wire::kStatusSuccess)
    channel.open = OpenState{.open_id = request.open_id,
                             .ring_gpadl = ring_gpadl_id,
                             .target_vp = request.target_vp};
  OutgoingMessage out =
      NewMessage(MessageType::kOpenChannelResult, sizeof(wire::OpenChannelResult));
  Store<uint32_t>(out, offsetof(wire::OpenChannelResult, child_relid), request.relid);
  Store<uint32_t>(out, offsetof(wire::OpenChannelResult, open_id), request.open_id);
  Store<uint32_t>(out, offsetof(wire::OpenChannelResult, status), status);
  Deliver(out, outbox);
  return MessageResult::kOk;  // the device's own "no" is a normal answer
}

MessageResult ChannelServer::HandleCloseChannel(std::span<const std::byte> payload,
                                                Outbox& outbox) {
  if (payload.size() < sizeof(wire::CloseChannel)) return MessageResult::kMalformed;
  const auto relid = Field<uint32_t>(payload, offsetof(wire::CloseChannel, child_relid));
  const auto it = channels_.find(relid);
  if (it == channels_.end() || !offers_visible()) return MessageResult::kUnknownChannel;
  // RemoveChannel closed a rescinded channel already; the guest's close
  // crossing the rescind is fine.
  if (it->second.rescinded) return MessageResult::kOk;
  if (!it->second.open) return MessageResult::kUnknownChannel;
  CloseChannel(relid, it->second, outbox);  // no reply: CloseChannel has none
  return MessageResult::kOk;
}

MessageResult ChannelServer::HandleRelIdReleased(std::span<const std::byte> payload) {
  if (payload.size() < sizeof(wire::RelIdReleased)) return MessageResult::kMalformed;
  const auto relid = Field<uint32_t>(payload, offsetof(wire::RelIdReleased, child_relid));
  const auto it = channels_.find(relid);
  if (it == channels_.end() || !it->second.rescinded) return MessageResult::kUnknownChannel;
  EraseChannel(relid);  // the relid is free for AddChannel again
  return MessageResult::kOk;
}

MessageResult ChannelServer::HandleModifyChannel(std::span<const std::byte> payload,
                                                 Outbox& outbox) {
  if (payload.size() < sizeof(wire::ModifyChannel)) return MessageResult::kMalformed;
  const auto relid = Field<uint32_t>(payload, offsetof(wire::ModifyChannel, child_relid));
  const auto target_vp = Field<uint32_t>(payload, offsetof(wire::ModifyChannel, target_vp));
  const auto it = channels_.find(relid);
  if (it == channels_.end() || !offers_visible() || it->second.rescinded)
    return MessageResult::kUnknownChannel;
  Channel& channel = it->second;
  // Linux 6.1 waits (1 s) for ModifyChannelResponse only at 5.3
  // (send_modifychannel_with_ack); earlier versions get no answer.
  const auto state = connection_.connection();
  const bool respond = state && state->version >= wire::kVersionWin10V5_3;
  const auto answer = [&](uint32_t status) {
    if (!respond) return;
    OutgoingMessage out =
        NewMessage(MessageType::kModifyChannelResponse, sizeof(wire::ModifyChannelResponse));
    Store<uint32_t>(out, offsetof(wire::ModifyChannelResponse, child_relid), relid);
    Store<uint32_t>(out, offsetof(wire::ModifyChannelResponse, status), status);
    Deliver(out, outbox);
  };
  if (!channel.open || target_vp >= vp_count_) {
    if (!respond) return channel.open ? MessageResult::kBadTargetVp : MessageResult::kUnknownChannel;
    answer(wire::kStatusUnsuccessful);
    return MessageResult::kRefused;
  }
  channel.open->target_vp = target_vp;
  if (channel.handler != nullptr) channel.handler->OnModify(relid, target_vp);
  answer(wire::kStatusSuccess);
  return MessageResult::kOk;
}

}  // namespace vmbus
