// rndis::Control: the RNDIS control plane of one synthetic NIC, the host
// side hv_netvsc talks to (mana-netvsc.md §5 "RNDIS control"). Sans I/O:
// a control message in (bytes the guest sent in an NVSP RNDIS_PKT on the
// control channel, copied out), the reply out, for the caller to put in the
// guest's receive buffer.
//
// The guest waits for every reply, so every QUERY and SET gets one with its
// request ID, whatever happens: an unknown OID is NOT_SUPPORTED, a
// malformed one INVALID_DATA or INVALID_LENGTH, one before INITIALIZE or
// after HALT FAILURE. Only OIDs on the list below are read at all, and
// their buffers are plain bytes (the CVE-2021-28476 rule, §6). HALT gets
// no reply; a message whose request ID cannot be read gets none either
// (there is nobody to answer) and is counted as refused.
//
// Offloads: advertised only when the NIC behind does them (NicFacts).
// RSS (mana-netvsc.md §5 "Subchannels"): with more than one receive queue
// (one per channel), RECEIVE_SCALE_CAPABILITIES says how many, and
// hv_netvsc asks for that many channels less one as sub-channels, then
// SETs RECEIVE_SCALE_PARAMETERS: its Toeplitz key and indirection table
// (entry: a channel's sub-channel index), which ReceiveQueue applies to
// each received frame. With one queue the OIDs are not supported and the
// guest stays on one channel.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "net/toeplitz.h"
#include "rndis/message.h"

namespace rndis {

// NDIS OIDs (ntddndis.h) this device answers.
namespace oid {
inline constexpr uint32_t kGenSupportedList = 0x00010101;
inline constexpr uint32_t kGenHardwareStatus = 0x00010102;
inline constexpr uint32_t kGenMediaSupported = 0x00010103;
inline constexpr uint32_t kGenMediaInUse = 0x00010104;
inline constexpr uint32_t kGenMaximumFrameSize = 0x00010106;
inline constexpr uint32_t kGenLinkSpeed = 0x00010107;
inline constexpr uint32_t kGenCurrentPacketFilter = 0x0001010E;
inline constexpr uint32_t kGenMaximumTotalSize = 0x00010111;
inline constexpr uint32_t kGenMediaConnectStatus = 0x00010114;
inline constexpr uint32_t kGenPhysicalMedium = 0x00010202;
inline constexpr uint32_t kGenReceiveScaleCapabilities = 0x00010203;
inline constexpr uint32_t kGenReceiveScaleParameters = 0x00010204;
inline constexpr uint32_t kGenFriendlyName = 0x00020216;
inline constexpr uint32_t k8023PermanentAddress = 0x01010101;
inline constexpr uint32_t k8023CurrentAddress = 0x01010102;
inline constexpr uint32_t k8023MulticastList = 0x01010103;
inline constexpr uint32_t k8023MaximumListSize = 0x01010104;
inline constexpr uint32_t kTcpOffloadParameters = 0xFC01020C;
inline constexpr uint32_t kTcpOffloadHardwareCaps = 0xFC01020D;
}  // namespace oid

// NDIS_PACKET_TYPE_* (ntddndis.h): the bits of SET PACKET_FILTER. hv_netvsc
// sets DIRECTED | ALL_MULTICAST | BROADCAST at `ip link up`, PROMISCUOUS
// on request, 0 when down (mana-netvsc.md §5 step 10).
namespace filter {
inline constexpr uint32_t kDirected = 0x01;
inline constexpr uint32_t kMulticast = 0x02;
inline constexpr uint32_t kAllMulticast = 0x04;
inline constexpr uint32_t kBroadcast = 0x08;
inline constexpr uint32_t kPromiscuous = 0x20;
}  // namespace filter

struct NicFacts {
  std::array<uint8_t, 6> mac{};
  uint32_t mtu = 1500;  // the IP MTU; frames are mtu + 14 bytes
  uint64_t link_speed_bps = 10'000'000'000;
  bool link_up = true;
  // The device behind finishes TCP/UDP checksums and segments TCP (LSOv2,
  // IPv4 and IPv6, at most lso_max_bytes): TCP_OFFLOAD_HW_CAPS says so and
  // hv_netvsc then sends checksum and LSO per-packet info.
  bool offloads = false;
  uint32_t lso_max_bytes = 62780;
  // RSS receive queues, one per VMBus channel the guest may open (1: no
  // RSS). At most kMaxReceiveQueues.
  uint32_t receive_queues = 1;
};

// hv_netvsc 6.1 opens at most 8 channels by default (VRSS_CHANNEL_DEFAULT).
inline constexpr uint32_t kMaxReceiveQueues = 8;
// NDIS_RSS_INDIRECTION_TABLE_MAX_SIZE_REVISION_2: 128 u32 entries, what
// RECEIVE_SCALE_CAPABILITIES offers and hv_netvsc's ITAB_NUM.
inline constexpr uint32_t kRssTableEntries = 128;
inline constexpr size_t kRssKeyBytes = net::kRssKeyBytes;

// What RECEIVE_SCALE_PARAMETERS last enabled.
struct RssParameters {
  std::array<std::byte, kRssKeyBytes> key{};
  std::vector<uint32_t> table;  // 1..kRssTableEntries entries, each < receive_queues
  uint32_t hash_types = 0;      // net::kHash* bits
};
// Where a received frame goes: receive queue (channel) `queue`, and the
// hash that chose it (none: RSS off, or a frame of no enabled type).
struct RssChoice {
  uint32_t queue = 0;
  std::optional<uint32_t> hash;
};

struct ControlReply {
  std::vector<std::byte> message;  // empty: nothing to send
  bool refused = false;            // malformed, out of order, or an OID not served
};

class Control {
 public:
  explicit Control(const NicFacts& nic) : nic_(nic) {}

  ControlReply OnMessage(std::span<const std::byte> message);

  // INDICATE_STATUS for a link change (MEDIA_CONNECT / MEDIA_DISCONNECT).
  std::vector<std::byte> SetLink(bool up);

  bool initialized() const { return state_ == State::kInitialized; }
  bool halted() const { return state_ == State::kHalted; }
  // NDIS_PACKET_TYPE_* bits the guest set (0: receive nothing).
  uint32_t packet_filter() const { return packet_filter_; }
  // Whether a received Ethernet frame (destination MAC first) passes the
  // guest's packet filter: none before INITIALIZE, after HALT or with
  // filter 0. The multicast list is not kept, so MULTICAST admits every
  // group (the guest's stack drops the rest); directed means our MAC.
  bool Accepts(std::span<const std::byte> frame) const;
  // RSS as the guest set it: the guest's key over the frame, then its
  // table at hash % entries. Queue 0 while RSS is off.
  RssChoice ReceiveQueue(std::span<const std::byte> frame) const;
  const std::optional<RssParameters>& rss() const { return rss_; }

 private:
  enum class State { kUninitialized, kInitialized, kHalted };
  ControlReply Query(const OidRequest& request);
  ControlReply Set(const OidRequest& request);
  // SET RECEIVE_SCALE_PARAMETERS: an NDIS status.
  uint32_t SetRss(std::span<const std::byte> info);

  NicFacts nic_;
  State state_ = State::kUninitialized;
  uint32_t packet_filter_ = 0;
  std::optional<RssParameters> rss_;
};

}  // namespace rndis
