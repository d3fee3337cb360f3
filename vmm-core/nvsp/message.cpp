#include "nvsp/message.h"

#include "base/le_bytes.h"

namespace nvsp {
namespace {

// Little-endian fields of a payload already checked long enough.
template <std::unsigned_integral T>
T Load(std::span<const std::byte> bytes, size_t offset) {
  T value = 0;
  (void)base::LoadLe(bytes, offset, value);
  return value;
}

base::Result<void> Need(std::span<const std::byte> payload, size_t bytes, uint32_t type) {
  if (payload.size() < bytes)
    return base::Error::Format("nvsp: message type %u: %zu bytes, needs %zu", type, payload.size(),
                               bytes);
  return base::Ok();
}

class Builder {
 public:
  explicit Builder(uint32_t type) { U32(type); }
  Builder& U32(uint32_t value) {
    (void)base::StoreLe(std::span<std::byte>(message_), at_, value);
    at_ += 4;
    return *this;
  }
  Message Done() const { return message_; }

 private:
  Message message_{};
  size_t at_ = 0;
};

}  // namespace

base::Result<Parsed> Parse(std::span<const std::byte> payload) {
  TRY(Need(payload, 4, 0));
  const uint32_t message_type = Load<uint32_t>(payload, 0);
  switch (message_type) {
    case type::kInit:
      TRY(Need(payload, 12, message_type));
      return Parsed{Init{Load<uint32_t>(payload, 4), Load<uint32_t>(payload, 8)}};
    case type::kSendNdisVersion:
      TRY(Need(payload, 12, message_type));
      return Parsed{NdisVersion{Load<uint32_t>(payload, 4), Load<uint32_t>(payload, 8)}};
    case type::kSendNdisConfig:  // mtu, reserved, capability (u64), packed
      TRY(Need(payload, 20, message_type));
      return Parsed{NdisConfig{Load<uint32_t>(payload, 4), Load<uint64_t>(payload, 12)}};
    case type::kSendReceiveBuffer:
      TRY(Need(payload, 10, message_type));
      return Parsed{ReceiveBuffer{Load<uint32_t>(payload, 4), Load<uint16_t>(payload, 8)}};
    case type::kSendSendBuffer:
      TRY(Need(payload, 10, message_type));
      return Parsed{SendBuffer{Load<uint32_t>(payload, 4), Load<uint16_t>(payload, 8)}};
    case type::kRevokeReceiveBuffer:
    case type::kRevokeSendBuffer:
      TRY(Need(payload, 6, message_type));
      return Parsed{Revoke{message_type, Load<uint16_t>(payload, 4)}};
    case type::kSendRndisPacket:
      TRY(Need(payload, 16, message_type));
      return Parsed{RndisPacket{Load<uint32_t>(payload, 4), Load<uint32_t>(payload, 8),
                                Load<uint32_t>(payload, 12)}};
    case type::kSendRndisPacketComplete:
      TRY(Need(payload, 8, message_type));
      return Parsed{RndisPacketComplete{Load<uint32_t>(payload, 4)}};
    case type::kSubChannel:
      TRY(Need(payload, 12, message_type));
      return Parsed{SubChannelRequest{Load<uint32_t>(payload, 4), Load<uint32_t>(payload, 8)}};
    case type::kSwitchDataPath:
      TRY(Need(payload, 8, message_type));
      return Parsed{SwitchDataPath{Load<uint32_t>(payload, 4)}};
    default:
      return base::Error::Format("nvsp: unknown message type %u", message_type);
  }
}

Message InitComplete(uint32_t status) {
  // negotiated_protocol_ver (legacy, 0), max_mdl_chain_len, status.
  constexpr uint32_t kMaxMdlChainLength = 34;
  return Builder(type::kInitComplete).U32(0).U32(kMaxMdlChainLength).U32(status).Done();
}

Message ReceiveBufferComplete(uint32_t status, const ReceiveSection& section) {
  Builder builder(type::kSendReceiveBufferComplete);
  builder.U32(status).U32(status == status::kSuccess ? 1 : 0);
  builder.U32(section.offset).U32(section.sub_allocation_bytes).U32(section.sub_allocations);
  return builder.U32(section.end).Done();
}

Message SendBufferComplete(uint32_t status, uint32_t section_bytes) {
  return Builder(type::kSendSendBufferComplete).U32(status).U32(section_bytes).Done();
}

Message RndisPacketDone(uint32_t status) {
  return Builder(type::kSendRndisPacketComplete).U32(status).Done();
}

Message SubChannelComplete(uint32_t status, uint32_t count) {
  // The completion keeps the request's type (nvsp_5_subchannel_complete).
  return Builder(type::kSubChannel).U32(status).U32(count).Done();
}

Message RndisPacketMessage(uint32_t channel_type) {
  // channel_type, send_buf_section_index (none: the data is in transfer
  // pages), section size 0.
  return Builder(type::kSendRndisPacket).U32(channel_type).U32(kNoSection).U32(0).Done();
}

}  // namespace nvsp
