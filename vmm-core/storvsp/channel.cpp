#include "storvsp/channel.h"

#include <algorithm>

#include "base/le_bytes.h"

namespace storvsp {
namespace {

constexpr uint32_t kPage = 4096;

// hyperv-vmbus.md §6: Linux 6.1 derives max_sectors and sg_tablesize from
// max_transfer_bytes rounded down to pages, so it must be at least a page.
uint32_t MaxTransferBytes(const Config& config, const scsi::Disk* disk) {
  uint64_t bytes = config.max_transfer_bytes;
  if (disk != nullptr && disk->geometry().max_transfer_blocks != 0) {
    bytes = std::min<uint64_t>(
        bytes, uint64_t{disk->geometry().max_transfer_blocks} * disk->geometry().block_size);
  }
  bytes -= bytes % kPage;
  return static_cast<uint32_t>(std::max<uint64_t>(bytes, kPage));
}

}  // namespace

const char* Describe(PacketResult result) {
  switch (result) {
    case PacketResult::kOk:
      return "ok";
    case PacketResult::kIgnored:
      return "packet type not handled by storvsp";
    case PacketResult::kShortPacket:
      return "packet too short for its operation";
    case PacketResult::kWrongState:
      return "operation not valid in the channel's state";
    case PacketResult::kUnknownOperation:
      return "unknown vstor operation";
    case PacketResult::kVersionRefused:
      return "protocol version not supported";
    case PacketResult::kBadSubChannelCount:
      return "sub-channel request refused";
    case PacketResult::kBadRequest:
      return "invalid SCSI request block";
    case PacketResult::kInvalidLun:
      return "no disk at that LUN";
  }
  return "?";
}

bool Channel::IsSupportedVersion(uint16_t major_minor) {
  // hyperv-vmbus.md §6: the versions Linux 6.1 proposes, all with the
  // 0x34-byte (Win8) SRB.
  return major_minor == wire::kVersionWin10 || major_minor == wire::kVersionWin8_1 ||
         major_minor == wire::kVersionWin8;
}

Channel::Channel(const Config& config, scsi::Disk* disk, scsi::GuestBuffer& buffer,
                 PacketSink& sink)
    : config_(config),
      disk_(disk),
      buffer_(buffer),
      sink_(sink),
      max_transfer_bytes_(MaxTransferBytes(config, disk)),
      state_(AwaitingBegin{}) {}

Channel::Channel(const Config& config, scsi::Disk* disk, scsi::GuestBuffer& buffer,
                 PacketSink& sink, SubChannelOf primary)
    : config_(config),
      disk_(disk),
      buffer_(buffer),
      sink_(sink),
      max_transfer_bytes_(MaxTransferBytes(config, disk)),
      state_(Ready{.version = primary.version, .is_sub_channel = true}) {}

std::optional<uint16_t> Channel::version() const {
  if (const auto* awaiting = std::get_if<AwaitingEnd>(&state_)) return awaiting->version;
  if (const auto* ready = std::get_if<Ready>(&state_)) return ready->version;
  return std::nullopt;
}

void Channel::Reply(const vmbus::IncomingPacket& packet, uint32_t status,
                    std::span<const std::byte> payload) {
  // VMBus: a completion only when the guest asked for one (Linux always
  // does), with its transaction id exactly (hyperv-vmbus.md §5.4).
  if (!packet.completion_requested()) return;
  OutgoingPacket out;
  out.transaction_id = packet.transaction_id;
  // hyperv-vmbus.md §6: every reply is a whole 64-byte COMPLETE_IO packet.
  (void)base::StoreLe<uint32_t>(out.payload, offsetof(wire::PacketHeader, operation),
                                static_cast<uint32_t>(wire::Operation::kCompleteIo));
  (void)base::StoreLe<uint32_t>(out.payload, offsetof(wire::PacketHeader, status), status);
  const size_t bytes = std::min(payload.size(), wire::kPayloadBytes);
  std::copy_n(payload.begin(), bytes, out.payload.begin() + wire::kPayloadOffset);
  sink_.Send(out);
}

Handled Channel::OnPacket(const vmbus::IncomingPacket& packet) {
  // The type came from the guest's descriptor: every value is possible.
  switch (packet.type) {
    case vmbus::PacketType::kDataInband:
    case vmbus::PacketType::kDataUsingGpaDirect:
      break;
    default:
      return {PacketResult::kIgnored};
  }
  const std::span<const std::byte> bytes = packet.payload;
  uint32_t operation = 0;
  if (bytes.size() < wire::kPayloadOffset ||
      !base::LoadLe<uint32_t>(bytes, offsetof(wire::PacketHeader, operation), operation)) {
    Reply(packet, wire::nt::kInvalidParameter);
    return {PacketResult::kShortPacket};
  }
  // Bytes past the 64-byte packet are padding.
  const std::span<const std::byte> payload = bytes.subspan(
      wire::kPayloadOffset, std::min(bytes.size() - wire::kPayloadOffset, wire::kPayloadBytes));

  switch (operation) {  // guest-controlled
    case static_cast<uint32_t>(wire::Operation::kBeginInitialization):
    case static_cast<uint32_t>(wire::Operation::kQueryProtocolVersion):
    case static_cast<uint32_t>(wire::Operation::kQueryProperties):
    case static_cast<uint32_t>(wire::Operation::kEndInitialization):
      return HandleInit(static_cast<wire::Operation>(operation), payload, packet);
    case static_cast<uint32_t>(wire::Operation::kCreateSubChannels):
      return HandleCreateSubChannels(payload, packet);
    case static_cast<uint32_t>(wire::Operation::kExecuteSrb):
      if (!ready()) {
        Reply(packet, wire::nt::kInvalidDeviceState);
        return {PacketResult::kWrongState};
      }
      return {ExecuteSrb(payload, packet)};
    case static_cast<uint32_t>(wire::Operation::kResetLun):
    case static_cast<uint32_t>(wire::Operation::kResetBus):
    case static_cast<uint32_t>(wire::Operation::kResetAdapter):
      // Linux 6.1's host reset handler sends RESET_BUS and waits for the
      // completion. There is nothing to reset: requests in flight complete
      // on their own.
      if (!ready()) {
        Reply(packet, wire::nt::kInvalidDeviceState);
        return {PacketResult::kWrongState};
      }
      Reply(packet, wire::nt::kSuccess);
      return {PacketResult::kOk};
    default:
      // COMPLETE_IO, REMOVE_DEVICE, ENUMERATE_BUS go host -> guest;
      // FCHBA_DATA is for Fibre Channel; the rest are unknown.
      Reply(packet, wire::nt::kInvalidDeviceRequest);
      return {PacketResult::kUnknownOperation};
  }
}

Handled Channel::HandleInit(wire::Operation operation, std::span<const std::byte> payload,
                            const vmbus::IncomingPacket& packet) {
  auto wrong_state = [&]() -> Handled {
    Reply(packet, wire::nt::kInvalidDeviceState);
    return {PacketResult::kWrongState};
  };
  switch (operation) {
    case wire::Operation::kBeginInitialization:
      if (!std::holds_alternative<AwaitingBegin>(state_)) return wrong_state();
      state_ = AwaitingVersion{};
      Reply(packet, wire::nt::kSuccess);
      return {PacketResult::kOk};

    case wire::Operation::kQueryProtocolVersion: {
      if (!std::holds_alternative<AwaitingVersion>(state_)) return wrong_state();
      uint16_t major_minor = 0;
      if (!base::LoadLe<uint16_t>(payload, offsetof(wire::ProtocolVersion, major_minor),
                                  major_minor)) {
        Reply(packet, wire::nt::kInvalidParameter);
        return {PacketResult::kShortPacket};
      }
      // hyperv-vmbus.md §6 step 2: a non-zero status makes Linux propose
      // its next version; the state stays.
      if (!IsSupportedVersion(major_minor)) {
        Reply(packet, wire::nt::kRevisionMismatch);
        return {PacketResult::kVersionRefused};
      }
      state_ = AwaitingEnd{major_minor};
      Reply(packet, wire::nt::kSuccess);
      return {PacketResult::kOk};
    }

    case wire::Operation::kQueryProperties: {
      if (!std::holds_alternative<AwaitingEnd>(state_)) return wrong_state();
      // hyperv-vmbus.md §6 step 3.
      std::array<std::byte, sizeof(wire::ChannelProperties)> properties{};
      (void)base::StoreLe<uint16_t>(properties,
                                    offsetof(wire::ChannelProperties, max_channel_count),
                                    config_.max_sub_channels);
      (void)base::StoreLe<uint32_t>(
          properties, offsetof(wire::ChannelProperties, flags),
          config_.max_sub_channels != 0 ? wire::kSupportsMultiChannel : 0);
      (void)base::StoreLe<uint32_t>(
          properties, offsetof(wire::ChannelProperties, max_transfer_bytes), max_transfer_bytes_);
      Reply(packet, wire::nt::kSuccess, properties);
      return {PacketResult::kOk};
    }

    case wire::Operation::kEndInitialization: {
      // Properties are optional (OpenVMM allows END right after the
      // version); a version is not.
      const auto* awaiting = std::get_if<AwaitingEnd>(&state_);
      if (awaiting == nullptr) return wrong_state();
      state_ = Ready{.version = awaiting->version};
      Reply(packet, wire::nt::kSuccess);
      return {PacketResult::kOk};
    }

    case wire::Operation::kCompleteIo:
    case wire::Operation::kRemoveDevice:
    case wire::Operation::kExecuteSrb:
    case wire::Operation::kResetLun:
    case wire::Operation::kResetAdapter:
    case wire::Operation::kResetBus:
    case wire::Operation::kEnumerateBus:
    case wire::Operation::kFcHbaData:
    case wire::Operation::kCreateSubChannels:
      break;  // OnPacket routes only the four init operations here
  }
  Reply(packet, wire::nt::kInvalidDeviceRequest);
  return {PacketResult::kUnknownOperation};
}

Handled Channel::HandleCreateSubChannels(std::span<const std::byte> payload,
                                         const vmbus::IncomingPacket& packet) {
  auto* ready_state = std::get_if<Ready>(&state_);
  // hyperv-vmbus.md §6 step 6: after END_INITIALIZATION, on the primary,
  // once.
  if (ready_state == nullptr || ready_state->is_sub_channel || ready_state->sub_channels_created) {
    Reply(packet, wire::nt::kInvalidDeviceState);
    return {PacketResult::kWrongState};
  }
  uint16_t count = 0;
  if (!base::LoadLe<uint16_t>(payload, wire::kSubChannelCountOffset, count)) {
    Reply(packet, wire::nt::kInvalidParameter);
    return {PacketResult::kShortPacket};
  }
  if (count == 0 || count > config_.max_sub_channels) {
    Reply(packet, wire::nt::kInvalidParameter);
    return {PacketResult::kBadSubChannelCount};
  }
  ready_state->sub_channels_created = true;
  Reply(packet, wire::nt::kSuccess);
  return {PacketResult::kOk, count};
}

}  // namespace storvsp
