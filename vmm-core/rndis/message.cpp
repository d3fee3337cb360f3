#include "rndis/message.h"

#include <algorithm>

#include "base/checked.h"
#include "base/le_bytes.h"

namespace rndis {
namespace {

uint32_t Load32(std::span<const std::byte> bytes, size_t offset) {
  uint32_t value = 0;
  (void)base::LoadLe(bytes, offset, value);  // callers checked the size
  return value;
}

// Appends little-endian words, then patches MessageLength.
class Writer {
 public:
  explicit Writer(uint32_t type) {
    U32(type);
    U32(0);
  }
  Writer& U32(uint32_t value) {
    for (int i = 0; i < 4; ++i) bytes_.push_back(static_cast<std::byte>(value >> (8 * i)));
    return *this;
  }
  Writer& Bytes(std::span<const std::byte> data) {
    bytes_.insert(bytes_.end(), data.begin(), data.end());
    return *this;
  }
  size_t size() const { return bytes_.size(); }
  std::vector<std::byte> Finish() {
    (void)base::StoreLe(std::span<std::byte>(bytes_), 4, static_cast<uint32_t>(bytes_.size()));
    return std::move(bytes_);
  }

 private:
  std::vector<std::byte> bytes_;
};

// The message body (after the 8-byte header) of a message whose header
// checks out and that holds at least `fixed` bytes of body.
base::Result<std::span<const std::byte>> Body(std::span<const std::byte> message, size_t fixed) {
  const Header header = TRY(ParseHeader(message));
  if (header.length != message.size())
    return base::Error::Format("rndis: MessageLength %u, but %zu bytes", header.length,
                               message.size());
  if (message.size() - kHeaderBytes < fixed)
    return base::Error::Format("rndis: message type 0x%x: %zu bytes, shorter than its fields",
                               header.type, message.size());
  return message.subspan(kHeaderBytes);
}

}  // namespace

base::Result<Header> ParseHeader(std::span<const std::byte> message) {
  if (message.size() < kHeaderBytes) return base::Error("rndis: shorter than a message header");
  return Header{Load32(message, 0), Load32(message, 4)};
}

base::Result<uint32_t> MessageLengthAt(const Header& header, size_t at, size_t total) {
  if (header.length == 0 && header.type == 0) return 0;  // padding
  if (header.length < kHeaderBytes || at > total || header.length > total - at)
    return base::Error::Format("rndis: message at %zu claims %u bytes of %zu", at, header.length,
                               total - std::min(at, total));
  return header.length;
}

base::Result<std::vector<std::span<const std::byte>>> SplitMessages(std::span<const std::byte> bytes) {
  std::vector<std::span<const std::byte>> messages;
  size_t at = 0;
  while (bytes.size() - at >= kHeaderBytes) {
    const uint32_t length =
        TRY(MessageLengthAt(Header{Load32(bytes, at), Load32(bytes, at + 4)}, at, bytes.size()));
    if (length == 0) break;
    messages.push_back(bytes.subspan(at, length));
    at += length;
  }
  const auto rest = bytes.subspan(at);
  if (!std::all_of(rest.begin(), rest.end(), [](std::byte b) { return b == std::byte{0}; }))
    return base::Error::Format("rndis: %zu stray bytes after the last message", rest.size());
  if (messages.empty()) return base::Error("rndis: no message");
  return messages;
}

base::Result<Initialize> ParseInitialize(std::span<const std::byte> message) {
  const auto body = TRY(Body(message, 16));
  return Initialize{Load32(body, 0), Load32(body, 4), Load32(body, 8), Load32(body, 12)};
}

base::Result<OidRequest> ParseOidRequest(std::span<const std::byte> message) {
  // RequestId, Oid, InformationBufferLength, InformationBufferOffset,
  // DeviceVcHandle (§2.2.6).
  const auto body = TRY(Body(message, 20));
  OidRequest request{Load32(body, 0), Load32(body, 4), {}};
  const uint32_t length = Load32(body, 8), offset = Load32(body, 12);
  if (length != 0) {
    if (offset < 20 || !base::RangeFits<size_t>(offset, length, body.size()))
      return base::Error::Format("rndis: OID 0x%x: buffer %u bytes at %u lies outside the message",
                                 request.oid, length, offset);
    request.info = body.subspan(offset, length);
  }
  return request;
}

base::Result<RequestId> ParseRequestId(std::span<const std::byte> message) {
  const auto body = TRY(Body(message, 4));
  return RequestId{Load32(body, 0)};
}

base::Result<size_t> PacketHeadBytes(std::span<const std::byte> first, size_t message_length) {
  const Header header = TRY(ParseHeader(first));
  if (header.length != message_length || message_length < kPacketFixedBytes ||
      first.size() < kPacketFixedBytes)
    return base::Error::Format("rndis: packet of %u bytes (%zu given), shorter than its fields",
                               header.length, message_length);
  const uint32_t ppi_offset = Load32(first, kHeaderBytes + 20);
  const uint32_t ppi_length = Load32(first, kHeaderBytes + 24);
  if (ppi_length == 0) return kPacketFixedBytes;
  if (!base::RangeFits<size_t>(ppi_offset, ppi_length, message_length - kHeaderBytes))
    return base::Error::Format("rndis: per-packet info %u bytes at %u lies outside the message",
                               ppi_length, ppi_offset);
  return std::max(kPacketFixedBytes, kHeaderBytes + size_t{ppi_offset} + ppi_length);
}

base::Result<PacketLayout> ParsePacketHead(std::span<const std::byte> head, size_t message_length) {
  // DataOffset, DataLength, OOBDataOffset, OOBDataLength, NumOOBDataElements,
  // PerPacketInfoOffset, PerPacketInfoLength, VcHandle, Reserved (§2.2.14),
  // offsets from the byte after the header.
  constexpr size_t kFixed = kPacketFixedBytes - kHeaderBytes;
  const Header header = TRY(ParseHeader(head));
  if (header.length != message_length || head.size() > message_length)
    return base::Error::Format("rndis: MessageLength %u, but %zu bytes", header.length,
                               message_length);
  if (head.size() < kPacketFixedBytes)
    return base::Error::Format("rndis: message type 0x%x: %zu bytes, shorter than its fields",
                               header.type, head.size());
  const auto body = head.subspan(kHeaderBytes);  // what was read of it
  const size_t body_length = message_length - kHeaderBytes;
  const uint32_t data_offset = Load32(body, 0), data_length = Load32(body, 4);
  if (Load32(body, 8) != 0 || Load32(body, 12) != 0 || Load32(body, 16) != 0 || Load32(body, 28) != 0)
    return base::Error("rndis: packet with out-of-band data or a VC handle");
  if (data_length == 0 || data_offset < kFixed ||
      !base::RangeFits<size_t>(data_offset, data_length, body_length))
    return base::Error::Format("rndis: packet data %u bytes at %u lies outside the message",
                               data_length, data_offset);
  PacketLayout layout{kHeaderBytes + data_offset, data_length, {}};
  const uint32_t ppi_offset = Load32(body, 20), ppi_length = Load32(body, 24);
  if (ppi_length == 0) return layout;
  if (ppi_offset < kFixed || !base::RangeFits<size_t>(ppi_offset, ppi_length, body_length))
    return base::Error::Format("rndis: per-packet info %u bytes at %u lies outside the message",
                               ppi_length, ppi_offset);
  if (!base::RangeFits<size_t>(ppi_offset, ppi_length, body.size()))
    return base::Error("rndis: per-packet info past the bytes read of the packet");
  // Each element: Size (the whole element), Type, payload offset from the
  // element's start; a walk that must make progress.
  auto area = body.subspan(ppi_offset, ppi_length);
  while (!area.empty()) {
    if (area.size() < 12) return base::Error("rndis: per-packet info element truncated");
    const uint32_t size = Load32(area, 0), type = Load32(area, 4), offset = Load32(area, 8);
    if (size < 12 || size > area.size() || offset < 12 || offset > size)
      return base::Error::Format("rndis: per-packet info element size %u offset %u lies", size,
                                 offset);
    layout.infos.push_back(
        {type & 0x7FFF'FFFF, (type >> 31) != 0, area.subspan(offset, size - offset)});
    area = area.subspan(size);
  }
  return layout;
}

base::Result<Packet> ParsePacket(std::span<const std::byte> message) {
  PacketLayout layout = TRY(ParsePacketHead(message, message.size()));
  return Packet{message.subspan(layout.frame_offset, layout.frame_length), std::move(layout.infos)};
}

std::vector<std::byte> BuildInitializeComplete(const InitializeReply& reply) {
  // RequestId, Status, MajorVersion 1, MinorVersion 0, DeviceFlags 1
  // (RNDIS_DF_CONNECTIONLESS), Medium 0 (802.3), MaxPacketsPerMessage,
  // MaxTransferSize, PacketAlignmentFactor, AFListOffset, AFListSize (§2.2.3).
  Writer writer(msg::kInitialize | msg::kCompletion);
  writer.U32(reply.request_id).U32(reply.status).U32(1).U32(0).U32(1).U32(0);
  writer.U32(reply.max_packets_per_message).U32(reply.max_transfer_size);
  writer.U32(reply.packet_alignment_factor).U32(0).U32(0);
  return writer.Finish();
}

std::vector<std::byte> BuildQueryComplete(uint32_t request_id, uint32_t status,
                                          std::span<const std::byte> info) {
  Writer writer(msg::kQuery | msg::kCompletion);
  writer.U32(request_id).U32(status).U32(static_cast<uint32_t>(info.size()));
  writer.U32(info.empty() ? 0 : 16).Bytes(info);
  return writer.Finish();
}

std::vector<std::byte> BuildSetComplete(uint32_t request_id, uint32_t status) {
  return Writer(msg::kSet | msg::kCompletion).U32(request_id).U32(status).Finish();
}

std::vector<std::byte> BuildKeepaliveComplete(uint32_t request_id, uint32_t status) {
  return Writer(msg::kKeepalive | msg::kCompletion).U32(request_id).U32(status).Finish();
}

std::vector<std::byte> BuildResetComplete(uint32_t status) {
  // Status, AddressingReset 0: the guest need not resend its multicast list.
  return Writer(msg::kReset | msg::kCompletion).U32(status).U32(0).Finish();
}

std::vector<std::byte> BuildIndicateStatus(uint32_t status, std::span<const std::byte> buffer) {
  // Status, StatusBufferLength, StatusBufferOffset (from Status: 12).
  Writer writer(msg::kIndicateStatus);
  writer.U32(status).U32(static_cast<uint32_t>(buffer.size())).U32(buffer.empty() ? 0 : 12);
  return writer.Bytes(buffer).Finish();
}

std::vector<std::byte> BuildPacket(std::span<const std::byte> frame,
                                   std::span<const OutgoingInfo> infos) {
  constexpr uint32_t kFixed = 36;
  uint32_t ppi_bytes = 0;
  for (const OutgoingInfo& info : infos) ppi_bytes += 12 + static_cast<uint32_t>(info.payload.size());
  Writer writer(msg::kPacket);
  writer.U32(kFixed + ppi_bytes).U32(static_cast<uint32_t>(frame.size()));  // data
  writer.U32(0).U32(0).U32(0);                                              // no OOB data
  writer.U32(infos.empty() ? 0 : kFixed).U32(ppi_bytes);                    // per-packet info
  writer.U32(0).U32(0);                                                     // VC handle, reserved
  for (const OutgoingInfo& info : infos) {
    writer.U32(12 + static_cast<uint32_t>(info.payload.size())).U32(info.type).U32(12);
    writer.Bytes(info.payload);
  }
  return writer.Bytes(frame).Finish();
}

}  // namespace rndis
