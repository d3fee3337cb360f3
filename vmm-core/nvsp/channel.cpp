#include "nvsp/channel.h"

#include <algorithm>

namespace nvsp {
namespace {

// Each receive sub-allocation holds an RNDIS PACKET header, its per-packet
// info and one frame; 256 bytes of room for the headers, in 64-byte steps.
uint32_t SubAllocationBytes(uint32_t mtu) { return (mtu + 256 + 63) / 64 * 64; }

// The completion a failed message gets, in the reply type of its request
// (a request with no reply of its own gets none).
std::optional<Message> FailureReply(uint32_t reply_type) {
  switch (reply_type) {
    case type::kInitComplete: return InitComplete(status::kFailure);
    case type::kSendReceiveBufferComplete: return ReceiveBufferComplete(status::kFailure, {});
    case type::kSendSendBufferComplete: return SendBufferComplete(status::kFailure, 0);
    case type::kSendRndisPacketComplete: return RndisPacketDone(status::kFailure);
    case type::kSubChannel: return SubChannelComplete(status::kFailure, 0);
    default: return std::nullopt;
  }
}

}  // namespace

const char* Describe(Result result) {
  switch (result) {
    case Result::kOk: return "ok";
    case Result::kMalformed: return "malformed message";
    case Result::kWrongState: return "message out of order";
    case Result::kVersionRefused: return "no supported protocol version offered";
    case Result::kBadBuffer: return "buffer GPADL unknown or of a bad size";
    case Result::kBadSection: return "RNDIS packet outside the send buffer";
    case Result::kBadSubChannels: return "sub-channel request refused";
  }
  return "?";
}

Channel::Channel(const Config& config, const SubChannelOf& primary)
    : config_(config),
      gpadl_bytes_([](uint32_t) { return std::optional<uint64_t>(); }),
      state_(State::kReady),
      version_(primary.version),
      send_buffer_(primary.send_buffer),
      sub_channels_offered_(true),  // a sub-channel asks for none
      sub_channel_(true) {}

Outcome Channel::Fail(Result result, uint32_t reply_type, bool completion_requested) const {
  Outcome outcome;
  outcome.result = result;
  if (completion_requested) outcome.completion = FailureReply(reply_type);
  return outcome;
}

Outcome Channel::OnMessage(std::span<const std::byte> payload, bool completion_requested) {
  const auto parsed = Parse(payload);
  if (!parsed) return Fail(Result::kMalformed, 0, false);
  Outcome outcome;
  auto reply = [&](const Message& message) {
    if (completion_requested) outcome.completion = message;
  };

  if (const auto* init = std::get_if<Init>(&*parsed)) {
    if (state_ != State::kAwaitingInit)
      return Fail(Result::kWrongState, type::kInitComplete, completion_requested);
    // The highest version inside the guest's range.
    for (auto v = kVersions.rbegin(); v != kVersions.rend(); ++v) {
      if (*v >= init->min_version && *v <= init->max_version) {
        version_ = *v;
        state_ = State::kAwaitingNdisVersion;
        reply(InitComplete(status::kSuccess));
        return outcome;
      }
    }
    return Fail(Result::kVersionRefused, type::kInitComplete, completion_requested);
  }
  if (const auto* config = std::get_if<NdisConfig>(&*parsed)) {
    if (state_ != State::kAwaitingNdisVersion || ndis_configured_ || *version_ < kVersion2)
      return Fail(Result::kWrongState, 0, false);
    ndis_configured_ = true;
    // A frame MTU outside 1514-9216 falls back to 1514 (OpenVMM's rule).
    mtu_ = config->mtu >= 1514 && config->mtu <= 9216 ? config->mtu : 1514;
    return outcome;
  }
  if (std::holds_alternative<NdisVersion>(*parsed)) {
    if (state_ != State::kAwaitingNdisVersion) return Fail(Result::kWrongState, 0, false);
    state_ = State::kAwaitingReceiveBuffer;
    return outcome;
  }
  if (const auto* buffer = std::get_if<ReceiveBuffer>(&*parsed)) {
    if (state_ != State::kAwaitingReceiveBuffer)
      return Fail(Result::kWrongState, type::kSendReceiveBufferComplete, completion_requested);
    const std::optional<uint64_t> bytes = gpadl_bytes_(buffer->gpadl);
    const uint32_t sub = SubAllocationBytes(mtu_);
    if (!bytes || *bytes < sub || *bytes > config_.max_receive_buffer_bytes)
      return Fail(Result::kBadBuffer, type::kSendReceiveBufferComplete, completion_requested);
    const auto count = static_cast<uint32_t>(*bytes / sub);
    ReceiveBufferLayout layout{buffer->gpadl, buffer->id, {0, sub, count, sub * count}};
    receive_buffer_ = layout;
    outcome.receive_buffer = layout;
    state_ = State::kAwaitingSendBuffer;
    reply(ReceiveBufferComplete(status::kSuccess, layout.section));
    return outcome;
  }
  if (const auto* buffer = std::get_if<SendBuffer>(&*parsed)) {
    if (state_ != State::kAwaitingSendBuffer)
      return Fail(Result::kWrongState, type::kSendSendBufferComplete, completion_requested);
    const std::optional<uint64_t> bytes = gpadl_bytes_(buffer->gpadl);
    if (!bytes || *bytes < kSendSectionBytes || *bytes > config_.max_send_buffer_bytes)
      return Fail(Result::kBadBuffer, type::kSendSendBufferComplete, completion_requested);
    SendBufferLayout layout{buffer->gpadl, kSendSectionBytes,
                            static_cast<uint32_t>(*bytes / kSendSectionBytes)};
    send_buffer_ = layout;
    outcome.send_buffer = layout;
    state_ = State::kReady;
    reply(SendBufferComplete(status::kSuccess, kSendSectionBytes));
    return outcome;
  }
  if (const auto* packet = std::get_if<RndisPacket>(&*parsed)) {
    if (state_ != State::kReady)
      return Fail(Result::kWrongState, type::kSendRndisPacketComplete, completion_requested);
    if (packet->channel_type > 1)
      return Fail(Result::kMalformed, type::kSendRndisPacketComplete, completion_requested);
    if (packet->section_index != kNoSection &&
        (packet->section_index >= send_buffer_->sections ||
         packet->section_size > send_buffer_->section_bytes || packet->section_size == 0))
      return Fail(Result::kBadSection, type::kSendRndisPacketComplete, completion_requested);
    outcome.rndis = *packet;  // completed by the owner once handled
    return outcome;
  }
  if (const auto* request = std::get_if<SubChannelRequest>(&*parsed)) {
    if (state_ != State::kReady || sub_channels_offered_)
      return Fail(Result::kWrongState, type::kSubChannel, completion_requested);
    // Operation 1 allocates; more than are available is refused, not cut
    // (OpenVMM's rule), so the guest never waits for offers that will not come.
    if (request->operation != 1 || request->count == 0 || config_.max_sub_channels == 0 ||
        request->count > config_.max_sub_channels || *version_ < kVersion5)
      return Fail(Result::kBadSubChannels, type::kSubChannel, completion_requested);
    sub_channels_offered_ = true;
    outcome.offer_sub_channels = request->count;
    reply(SubChannelComplete(status::kSuccess, request->count));
    return outcome;
  }
  if (const auto* revoke = std::get_if<Revoke>(&*parsed)) {
    // Teardown: the buffer is gone for the guest; data stops. Only the
    // primary set the buffers up, so only it takes them down.
    if (sub_channel_) return Fail(Result::kWrongState, 0, false);
    if (revoke->type == type::kRevokeReceiveBuffer && receive_buffer_ && receive_buffer_->id == revoke->id)
      receive_buffer_.reset();
    else if (revoke->type == type::kRevokeSendBuffer && send_buffer_)
      send_buffer_.reset();
    else
      return Fail(Result::kWrongState, 0, false);
    // Data stops; a guest that carries on starts over from INIT.
    state_ = State::kAwaitingInit;
    version_.reset();
    ndis_configured_ = false;
    mtu_ = 1514;
    return outcome;
  }
  // A data-path switch without a VF, or a stray completion: nothing to do.
  return Fail(Result::kWrongState, 0, false);
}

}  // namespace nvsp
