// NVSP, the Hyper-V network VSP protocol inside VMBus packets (Linux
// hyperv_net.h; mana-netvsc.md §5 "NVSP"): messages parsed from the bytes
// of a guest's packet and built for it. Sans I/O.
//
// A message is a u32 type and a packed union, little-endian: 40 bytes from
// protocol 6 on, 28 before; the host's completions are always sent as 40
// bytes (hv_netvsc's size checks for them fall through into one another).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <variant>

#include "base/result.h"

namespace nvsp {

// Protocol versions (NVSP_PROTOCOL_VERSION_*), lowest to highest.
inline constexpr std::array<uint32_t, 6> kVersions = {0x2, 0x30002, 0x40000,
                                                      0x50000, 0x60000, 0x60001};
inline constexpr uint32_t kVersion2 = 0x30002;
inline constexpr uint32_t kVersion5 = 0x50000;

// Message types (enum nvsp_message_type).
namespace type {
inline constexpr uint32_t kInit = 1;
inline constexpr uint32_t kInitComplete = 2;
inline constexpr uint32_t kSendNdisVersion = 100;
inline constexpr uint32_t kSendReceiveBuffer = 101;
inline constexpr uint32_t kSendReceiveBufferComplete = 102;
inline constexpr uint32_t kRevokeReceiveBuffer = 103;
inline constexpr uint32_t kSendSendBuffer = 104;
inline constexpr uint32_t kSendSendBufferComplete = 105;
inline constexpr uint32_t kRevokeSendBuffer = 106;
inline constexpr uint32_t kSendRndisPacket = 107;
inline constexpr uint32_t kSendRndisPacketComplete = 108;
inline constexpr uint32_t kSendNdisConfig = 125;
inline constexpr uint32_t kSwitchDataPath = 129;
inline constexpr uint32_t kSubChannel = 133;
}  // namespace type

namespace status {
inline constexpr uint32_t kSuccess = 1;
inline constexpr uint32_t kFailure = 2;
}  // namespace status

inline constexpr size_t kMessageBytes = 40;
using Message = std::array<std::byte, kMessageBytes>;

struct Init {
  uint32_t min_version = 0;
  uint32_t max_version = 0;
};
struct NdisVersion {
  uint32_t major = 0;
  uint32_t minor = 0;
};
struct NdisConfig {
  uint32_t mtu = 0;  // the frame MTU: the IP MTU + 14
  uint64_t capabilities = 0;
};
struct ReceiveBuffer {
  uint32_t gpadl = 0;
  uint16_t id = 0;
};
struct SendBuffer {
  uint32_t gpadl = 0;
  uint16_t id = 0;
};
struct Revoke {
  uint32_t type = 0;  // kRevokeReceiveBuffer or kRevokeSendBuffer
  uint16_t id = 0;
};
// RNDIS_PKT: channel_type 0 data, 1 control; the data in send-buffer
// section `section_index` (`section_size` bytes), or, index
// kNoSection, in the packet's GPA-direct ranges.
struct RndisPacket {
  uint32_t channel_type = 0;
  uint32_t section_index = 0;
  uint32_t section_size = 0;
};
inline constexpr uint32_t kNoSection = 0xFFFFFFFF;
struct SubChannelRequest {
  uint32_t operation = 0;  // 1: allocate
  uint32_t count = 0;
};
struct SwitchDataPath {
  uint32_t active = 0;  // 0 synthetic, 1 VF
};
// Completions the guest sends back for host packets (RNDIS_PKT_COMPLETE
// for a receive).
struct RndisPacketComplete {
  uint32_t status = 0;
};

using Parsed = std::variant<Init, NdisVersion, NdisConfig, ReceiveBuffer, SendBuffer, Revoke,
                            RndisPacket, SubChannelRequest, SwitchDataPath, RndisPacketComplete>;

// The message at the start of a packet's payload; an Error for an unknown
// type or one too short for its fields.
base::Result<Parsed> Parse(std::span<const std::byte> payload);

// Host replies, each a whole 40-byte message.
Message InitComplete(uint32_t status);
struct ReceiveSection {
  uint32_t offset = 0;
  uint32_t sub_allocation_bytes = 0;
  uint32_t sub_allocations = 0;
  uint32_t end = 0;
};
Message ReceiveBufferComplete(uint32_t status, const ReceiveSection& section);
Message SendBufferComplete(uint32_t status, uint32_t section_bytes);
Message RndisPacketDone(uint32_t status);
Message SubChannelComplete(uint32_t status, uint32_t count);
// Host to guest: an RNDIS message in the receive buffer (channel 1 for
// control replies, 0 for frames); sent as a transfer-page packet.
Message RndisPacketMessage(uint32_t channel_type);

}  // namespace nvsp
