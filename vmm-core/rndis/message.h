// RNDIS messages (Microsoft [MS-RNDIS] §2.2, as hv_netvsc speaks them over
// NVSP: mana-netvsc.md §5), parsed from bytes the guest wrote and built
// for the guest. Sans I/O: no rings, no guest memory; the caller copied
// the bytes out first (no double fetch).
//
// Every message starts {MessageType u32, MessageLength u32}, little-endian.
// Offsets inside a message are relative to the byte after that header
// (where RequestId, or a PACKET's DataOffset, sits). A guest may send
// several messages back to back (TX batching): SplitMessages walks them.
// Every length and offset is checked against the message it claims to be
// in, overflow-safe (the CVE-2021-28476 class: mana-netvsc.md §6).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "base/result.h"

namespace rndis {

// [MS-RNDIS] §2.2.1 message types.
namespace msg {
inline constexpr uint32_t kPacket = 0x00000001;
inline constexpr uint32_t kInitialize = 0x00000002;
inline constexpr uint32_t kHalt = 0x00000003;
inline constexpr uint32_t kQuery = 0x00000004;
inline constexpr uint32_t kSet = 0x00000005;
inline constexpr uint32_t kReset = 0x00000006;
inline constexpr uint32_t kIndicateStatus = 0x00000007;
inline constexpr uint32_t kKeepalive = 0x00000008;
inline constexpr uint32_t kCompletion = 0x80000000;  // ORed into a request's type
}  // namespace msg

// NDIS status codes (ndis.h) RNDIS carries.
namespace status {
inline constexpr uint32_t kSuccess = 0x00000000;
inline constexpr uint32_t kFailure = 0xC0000001;
inline constexpr uint32_t kNotSupported = 0xC00000BB;
inline constexpr uint32_t kInvalidLength = 0xC0010014;
inline constexpr uint32_t kInvalidData = 0xC0010015;
inline constexpr uint32_t kBufferTooShort = 0xC0010016;
inline constexpr uint32_t kMediaConnect = 0x4001000B;
inline constexpr uint32_t kMediaDisconnect = 0x4001000C;
}  // namespace status

inline constexpr size_t kHeaderBytes = 8;

struct Header {
  uint32_t type = 0;
  uint32_t length = 0;  // the whole message, header included
};

// The messages at the start of `bytes`, each whole: a length below 8 or
// past the end is an Error (the walk must make progress and stay inside).
// Bytes after the last message are ignored only if they are all zero
// (section padding).
base::Result<std::vector<std::span<const std::byte>>> SplitMessages(std::span<const std::byte> bytes);
// SplitMessages' step, for bytes read a piece at a time: the length of the
// message whose header is `header`, `at` bytes into `total` (at least
// kHeaderBytes remain), or 0 where padding starts (type and length 0:
// every byte from `at` on must then be zero, which the caller checks).
base::Result<uint32_t> MessageLengthAt(const Header& header, size_t at, size_t total);

base::Result<Header> ParseHeader(std::span<const std::byte> message);

// INITIALIZE (§2.2.2).
struct Initialize {
  uint32_t request_id = 0;
  uint32_t major = 0;
  uint32_t minor = 0;
  uint32_t max_transfer_size = 0;
};
// QUERY (§2.2.6) and SET (§2.2.8): an OID and its information buffer (a
// view into the message).
struct OidRequest {
  uint32_t request_id = 0;
  uint32_t oid = 0;
  std::span<const std::byte> info;
};
// HALT (§2.2.4), KEEPALIVE (§2.2.12), RESET (§2.2.10: no request ID).
struct RequestId {
  uint32_t request_id = 0;
};
base::Result<Initialize> ParseInitialize(std::span<const std::byte> message);
base::Result<OidRequest> ParseOidRequest(std::span<const std::byte> message);
base::Result<RequestId> ParseRequestId(std::span<const std::byte> message);

// One per-packet-info element (NDIS_PER_PACKET_INFO; hv_netvsc's
// rndis_per_packet_info): type (bit 31: Hyper-V internal) and payload.
struct PerPacketInfo {
  uint32_t type = 0;
  bool internal = false;
  std::span<const std::byte> payload;
};
namespace ppi {
inline constexpr uint32_t kChecksum = 0;
inline constexpr uint32_t kLsoV2 = 2;
inline constexpr uint32_t kVlan = 6;
inline constexpr uint32_t kHashValue = 8;
}  // namespace ppi

// PACKET (§2.2.14): the frame and its per-packet info, views into the
// message. Refused: data outside the message or empty, PPIs whose sizes
// or offsets lie, out-of-band data or a VC handle (unused by hv_netvsc;
// mana-netvsc.md §6).
struct Packet {
  std::span<const std::byte> frame;
  std::vector<PerPacketInfo> infos;
};
base::Result<Packet> ParsePacket(std::span<const std::byte> message);

// The same PACKET read from its first bytes only, for a frame that stays
// where the guest put it: `head` holds the message's start, at least its
// header, fixed fields and per-packet info (PacketHeadBytes says how
// many), of a message `message_length` long. Where the frame lies in the
// message, and the per-packet info (views into `head`); the same checks
// as ParsePacket.
inline constexpr size_t kPacketFixedBytes = kHeaderBytes + 36;
struct PacketLayout {
  size_t frame_offset = 0;  // from the message's first byte
  size_t frame_length = 0;
  std::vector<PerPacketInfo> infos;
};
// `first`: the message's first kPacketFixedBytes.
base::Result<size_t> PacketHeadBytes(std::span<const std::byte> first, size_t message_length);
base::Result<PacketLayout> ParsePacketHead(std::span<const std::byte> head, size_t message_length);

// Replies (host to guest).
struct InitializeReply {
  uint32_t request_id = 0;
  uint32_t status = status::kSuccess;
  uint32_t max_packets_per_message = 8;
  uint32_t max_transfer_size = 0x4000;
  uint32_t packet_alignment_factor = 3;  // 2^3 = 8-byte alignment of batched packets
};
std::vector<std::byte> BuildInitializeComplete(const InitializeReply& reply);
// QUERY_CMPLT: the information buffer right after the fixed fields
// (offset 16 from RequestId, as hv_netvsc requires).
std::vector<std::byte> BuildQueryComplete(uint32_t request_id, uint32_t status,
                                          std::span<const std::byte> info);
std::vector<std::byte> BuildSetComplete(uint32_t request_id, uint32_t status);
std::vector<std::byte> BuildKeepaliveComplete(uint32_t request_id, uint32_t status);
std::vector<std::byte> BuildResetComplete(uint32_t status);
std::vector<std::byte> BuildIndicateStatus(uint32_t status, std::span<const std::byte> buffer = {});

// A received frame for the guest (RX): PACKET with the given per-packet
// infos, then the frame.
struct OutgoingInfo {
  uint32_t type = 0;
  std::vector<std::byte> payload;
};
std::vector<std::byte> BuildPacket(std::span<const std::byte> frame,
                                   std::span<const OutgoingInfo> infos = {});

}  // namespace rndis
