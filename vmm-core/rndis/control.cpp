#include "rndis/control.h"

#include <algorithm>
#include <optional>
#include <string_view>
#include <utility>

#include "base/le_bytes.h"

namespace rndis {
namespace {

constexpr std::array kSupportedOids = {
    oid::kGenSupportedList,      oid::kGenHardwareStatus,      oid::kGenMediaSupported,
    oid::kGenMediaInUse,         oid::kGenMaximumFrameSize,    oid::kGenLinkSpeed,
    oid::kGenCurrentPacketFilter, oid::kGenMaximumTotalSize,   oid::kGenMediaConnectStatus,
    oid::kGenPhysicalMedium,     oid::kGenFriendlyName,        oid::k8023PermanentAddress,
    oid::k8023CurrentAddress,    oid::k8023MulticastList,      oid::k8023MaximumListSize,
    oid::kTcpOffloadParameters,  oid::kTcpOffloadHardwareCaps,
};

std::vector<std::byte> U32Bytes(uint32_t value) {
  std::vector<std::byte> out(4);
  for (int i = 0; i < 4; ++i) out[static_cast<size_t>(i)] = static_cast<std::byte>(value >> (8 * i));
  return out;
}

// NDIS_OFFLOAD (ntddndis.h; hv_netvsc's struct ndis_offload): header
// {Type 0xA7 NDIS_OBJECT_TYPE_OFFLOAD, Revision 3, Size 156}; then the
// checksum capabilities at 4 (IPv4 tx encapsulation, tx, rx encapsulation,
// rx; the same for IPv6), LSOv1 at 36, IPsec v1 at 52, LSOv2 at 80 (IPv4
// encapsulation, maximum size, minimum segments; IPv6 the same, options).
// Without offloads every capability is zero and hv_netvsc does it all.
std::vector<std::byte> OffloadCapabilities(const NicFacts& nic) {
  std::vector<std::byte> out(156);
  out[0] = std::byte{0xA7};
  out[1] = std::byte{3};
  out[2] = std::byte{156};
  if (!nic.offloads) return out;
  const auto put = [&out](size_t offset, uint32_t value) {
    (void)base::StoreLe<uint32_t>(out, offset, value);  // offsets within the 156 bytes
  };
  constexpr uint32_t kEncap8023 = 0x002;
  // TX: TCP (with options) and UDP; IPv6 with extension headers, as
  // hv_netvsc's NDIS_TXCSUM_ALL_TCP6 wants. RX: what the device verifies.
  constexpr uint32_t kTcpOpt = 0x004, kTcp = 0x010, kUdp = 0x040, kIp4 = 0x100, kIp6Ext = 0x001;
  put(4, kEncap8023);
  put(8, kTcp | kTcpOpt | kUdp);
  put(12, kEncap8023);
  put(16, kTcp | kUdp | kIp4);
  put(20, kEncap8023);
  put(24, kTcp | kTcpOpt | kUdp | kIp6Ext);
  put(28, kEncap8023);
  put(32, kTcp | kUdp);
  put(80, kEncap8023);
  put(84, nic.lso_max_bytes);
  put(88, 2);
  put(92, kEncap8023);
  put(96, nic.lso_max_bytes);
  put(100, 2);
  put(104, kIp6Ext | kTcpOpt);  // NDIS_LSOV2_CAP_IP6
  return out;
}

// NDIS_RECEIVE_SCALE_CAPABILITIES revision 2 (hv_netvsc's packed struct
// ndis_recv_scale_cap, 18 bytes): header {Type 0x88
// NDIS_OBJECT_TYPE_RSS_CAPABILITIES, Revision 2, Size 18}, CapabilitiesFlags
// at 4, NumberOfInterruptMessages at 8, NumberOfReceiveQueues at 12,
// NumberOfIndirectionTableEntries (u16) at 16. hv_netvsc takes
// min(queues, CPUs, 8) channels and a table of that many entries.
std::vector<std::byte> RssCapabilities(uint32_t queues) {
  std::vector<std::byte> out(18);
  const std::span<std::byte> bytes(out);
  // Toeplitz (NdisHashFunctionToeplitz 0x1); TCP over IPv4 and IPv6
  // (NDIS_RSS_CAPS_HASH_TYPE_TCP_IPV4/6); one MSI per queue (each channel
  // interrupts on its own).
  constexpr uint32_t kFlags = 0x00000001 | 0x00000100 | 0x00000200 | 0x01000000;
  (void)base::StoreLe(bytes, 0, uint8_t{0x88});
  (void)base::StoreLe(bytes, 1, uint8_t{2});
  (void)base::StoreLe(bytes, 2, uint16_t{18});
  (void)base::StoreLe(bytes, 4, kFlags);
  (void)base::StoreLe(bytes, 8, queues);
  (void)base::StoreLe(bytes, 12, queues);
  (void)base::StoreLe(bytes, 16, static_cast<uint16_t>(kRssTableEntries));
  return out;
}

// NDIS_RECEIVE_SCALE_PARAMETERS revision 2 (hv_netvsc's struct
// ndis_recv_scale_param, naturally aligned, 40 bytes): header {0x89
// NDIS_OBJECT_TYPE_RSS_PARAMETERS, 2, Size}, Flags u16 at 4, BaseCpuNumber
// u16 at 6, HashInformation u32 at 8, IndirectionTableSize u16 (bytes) at
// 12, IndirectionTableOffset u32 at 16, HashSecretKeySize u16 at 20,
// HashSecretKeyOffset u32 at 24, then processor masks (unused). Offsets
// are from the structure's start.
namespace rss_param {
constexpr size_t kBytes = 40;
constexpr uint16_t kFlagItableUnchanged = 0x0004;
constexpr uint16_t kFlagHashKeyUnchanged = 0x0008;
constexpr uint16_t kFlagDisable = 0x0010;
constexpr uint32_t kHashFunctionMask = 0xFF;
constexpr uint32_t kHashFunctionToeplitz = 0x01;
}  // namespace rss_param

// NDIS_HASH_* type bits of HashInformation, as net:: hash types (IPv6
// extension-header types are not hashed: ignored).
uint32_t HashTypes(uint32_t hash_information) {
  constexpr std::array<std::pair<uint32_t, uint32_t>, 6> kMap = {{
      {0x00000100, net::kHashIpv4},    {0x00000200, net::kHashTcpIpv4},
      {0x00000400, net::kHashIpv6},    {0x00001000, net::kHashTcpIpv6},
      {0x00004000, net::kHashUdpIpv4}, {0x00008000, net::kHashUdpIpv6},
  }};
  uint32_t types = 0;
  for (const auto& [ndis, ours] : kMap)
    if ((hash_information & ndis) != 0) types |= ours;
  return types;
}

// The `size` bytes at `offset` of `info`, if they lie inside it and past
// the fixed fields (overflow-free: subtracted from the trusted bound).
std::optional<std::span<const std::byte>> Region(std::span<const std::byte> info, uint32_t offset,
                                                 uint32_t size) {
  if (offset < rss_param::kBytes || offset > info.size() || size > info.size() - offset)
    return std::nullopt;
  return info.subspan(offset, size);
}

ControlReply Answer(std::vector<std::byte> message, bool refused = false) {
  return {std::move(message), refused};
}

}  // namespace

ControlReply Control::OnMessage(std::span<const std::byte> message) {
  const auto header = ParseHeader(message);
  if (!header) return {{}, true};
  switch (header->type) {
    case msg::kInitialize: {
      const auto init = ParseInitialize(message);
      if (!init) return {{}, true};
      // RNDIS 1.0 is the only version there is (§2.2.2).
      if (init->major != 1)
        return Answer(BuildInitializeComplete({.request_id = init->request_id,
                                               .status = status::kNotSupported}),
                      true);
      state_ = State::kInitialized;
      packet_filter_ = 0;
      rss_.reset();
      return Answer(BuildInitializeComplete({.request_id = init->request_id}));
    }
    case msg::kQuery:
    case msg::kSet: {
      const auto request = ParseOidRequest(message);
      if (!request) {
        // The request ID is the first body word: answer it if it is there.
        const auto id = ParseRequestId(message);
        if (!id) return {{}, true};
        return Answer(header->type == msg::kQuery
                          ? BuildQueryComplete(id->request_id, status::kInvalidData, {})
                          : BuildSetComplete(id->request_id, status::kInvalidData),
                      true);
      }
      if (state_ != State::kInitialized)
        return Answer(header->type == msg::kQuery
                          ? BuildQueryComplete(request->request_id, status::kFailure, {})
                          : BuildSetComplete(request->request_id, status::kFailure),
                      true);
      return header->type == msg::kQuery ? Query(*request) : Set(*request);
    }
    case msg::kKeepalive: {
      const auto id = ParseRequestId(message);
      if (!id) return {{}, true};
      return Answer(BuildKeepaliveComplete(
          id->request_id, state_ == State::kInitialized ? status::kSuccess : status::kFailure));
    }
    case msg::kReset:
      // A reset keeps the initialization and the filter (§3.2.5.5: the
      // device answers once it can take messages again; it always can).
      return Answer(BuildResetComplete(state_ == State::kInitialized ? status::kSuccess
                                                                     : status::kFailure));
    case msg::kHalt:
      if (!ParseRequestId(message)) return {{}, true};
      state_ = State::kHalted;
      packet_filter_ = 0;
      rss_.reset();
      return {};
    default:
      // PACKET is data, not control; completions and indications come
      // from the device, never the guest.
      return {{}, true};
  }
}

ControlReply Control::Query(const OidRequest& request) {
  auto ok = [&](std::vector<std::byte> info) {
    return Answer(BuildQueryComplete(request.request_id, status::kSuccess, info));
  };
  switch (request.oid) {
    case oid::kGenSupportedList: {
      std::vector<std::byte> list;
      for (uint32_t o : kSupportedOids) {
        const auto word = U32Bytes(o);
        list.insert(list.end(), word.begin(), word.end());
      }
      if (nic_.receive_queues > 1) {
        for (uint32_t o : {oid::kGenReceiveScaleCapabilities, oid::kGenReceiveScaleParameters}) {
          const auto word = U32Bytes(o);
          list.insert(list.end(), word.begin(), word.end());
        }
      }
      return ok(std::move(list));
    }
    case oid::kGenHardwareStatus: return ok(U32Bytes(0));  // NdisHardwareStatusReady
    case oid::kGenMediaSupported:
    case oid::kGenMediaInUse: return ok(U32Bytes(0));  // NdisMedium802_3
    case oid::kGenPhysicalMedium: return ok(U32Bytes(0));  // NdisPhysicalMediumUnspecified
    case oid::kGenMaximumFrameSize: return ok(U32Bytes(nic_.mtu));
    case oid::kGenMaximumTotalSize: return ok(U32Bytes(nic_.mtu + 14));
    case oid::kGenLinkSpeed: {  // in units of 100 bit/s
      const uint64_t units = nic_.link_speed_bps / 100;
      return ok(U32Bytes(units > UINT32_MAX ? UINT32_MAX : static_cast<uint32_t>(units)));
    }
    case oid::kGenCurrentPacketFilter: return ok(U32Bytes(packet_filter_));
    case oid::kGenMediaConnectStatus:  // NdisMediaStateConnected 0, Disconnected 1
      return ok(U32Bytes(nic_.link_up ? 0 : 1));
    case oid::kGenFriendlyName: {
      constexpr std::string_view kName = "HCL synthetic network adapter";
      std::vector<std::byte> utf16;
      for (char c : kName) {
        utf16.push_back(static_cast<std::byte>(c));
        utf16.push_back(std::byte{0});
      }
      utf16.insert(utf16.end(), 2, std::byte{0});
      return ok(std::move(utf16));
    }
    case oid::k8023PermanentAddress:
    case oid::k8023CurrentAddress: {
      std::vector<std::byte> mac(6);
      for (size_t i = 0; i < 6; ++i) mac[i] = std::byte{nic_.mac[i]};
      return ok(std::move(mac));
    }
    case oid::k8023MaximumListSize: return ok(U32Bytes(32));
    case oid::kTcpOffloadHardwareCaps: return ok(OffloadCapabilities(nic_));
    case oid::kGenReceiveScaleCapabilities:
      // mana-netvsc.md §5 step 9: a failure keeps hv_netvsc on one channel.
      if (nic_.receive_queues <= 1) break;
      return ok(RssCapabilities(std::min(nic_.receive_queues, kMaxReceiveQueues)));
    default: break;
  }
  return Answer(BuildQueryComplete(request.request_id, status::kNotSupported, {}), true);
}

ControlReply Control::Set(const OidRequest& request) {
  auto reply = [&](uint32_t code) {
    return Answer(BuildSetComplete(request.request_id, code), code != status::kSuccess);
  };
  switch (request.oid) {
    case oid::kGenCurrentPacketFilter: {
      if (request.info.size() != 4) return reply(status::kInvalidLength);
      packet_filter_ = static_cast<uint32_t>(request.info[0]) |
                       static_cast<uint32_t>(request.info[1]) << 8 |
                       static_cast<uint32_t>(request.info[2]) << 16 |
                       static_cast<uint32_t>(request.info[3]) << 24;
      return reply(status::kSuccess);
    }
    case oid::k8023MulticastList:
      // Whole 6-byte addresses, at most the list size we gave. Multicast
      // is delivered by the filter's ALL_MULTICAST anyway.
      if (request.info.size() % 6 != 0 || request.info.size() / 6 > 32)
        return reply(status::kInvalidLength);
      return reply(status::kSuccess);
    case oid::kTcpOffloadParameters:
      // hv_netvsc's probe needs this to succeed (mana-netvsc.md §5); with
      // no offload advertised there is nothing to turn on. Its buffer is
      // an NDIS_OFFLOAD_PARAMETERS: at least the 4-byte object header.
      if (request.info.size() < 4) return reply(status::kInvalidLength);
      return reply(status::kSuccess);
    case oid::kGenReceiveScaleParameters:
      if (nic_.receive_queues <= 1) return reply(status::kNotSupported);
      return reply(SetRss(request.info));
    default: return reply(status::kNotSupported);
  }
}

uint32_t Control::SetRss(std::span<const std::byte> info) {
  // Copied out of the message once (it is ours already), then checked:
  // every size and offset against the information buffer (§6).
  uint8_t type = 0, revision = 0;
  uint16_t size = 0, flags = 0, table_bytes = 0, key_bytes = 0;
  uint32_t hash_information = 0, table_offset = 0, key_offset = 0;
  if (info.size() < rss_param::kBytes || !base::LoadLe(info, 0, type) ||
      !base::LoadLe(info, 1, revision) || !base::LoadLe(info, 2, size) ||
      !base::LoadLe(info, 4, flags) || !base::LoadLe(info, 8, hash_information) ||
      !base::LoadLe(info, 12, table_bytes) || !base::LoadLe(info, 16, table_offset) ||
      !base::LoadLe(info, 20, key_bytes) || !base::LoadLe(info, 24, key_offset))
    return status::kInvalidLength;
  // Revision 2, as hv_netvsc sends (rndis_set_rss_param_msg).
  if (type != 0x89 || revision != 2 || size < rss_param::kBytes || size > info.size())
    return status::kInvalidData;
  if ((flags & rss_param::kFlagDisable) != 0) {
    // hv_netvsc disables RSS before every change: frames go to the
    // primary until it enables it again.
    rss_.reset();
    return status::kSuccess;
  }
  RssParameters rss;
  rss.hash_types = HashTypes(hash_information);
  if ((hash_information & rss_param::kHashFunctionMask) != rss_param::kHashFunctionToeplitz ||
      rss.hash_types == 0)
    return status::kInvalidData;
  if ((flags & rss_param::kFlagItableUnchanged) != 0) {
    if (!rss_) return status::kInvalidData;
    rss.table = rss_->table;
  } else {
    const auto table = Region(info, table_offset, table_bytes);
    if (!table || table_bytes == 0 || table_bytes % 4 != 0 || table_bytes / 4 > kRssTableEntries)
      return status::kInvalidData;
    for (size_t at = 0; at < table->size(); at += 4) {
      uint32_t queue = 0;
      if (!base::LoadLe(*table, at, queue)) return status::kInvalidData;
      // A queue never offered is refused, not clamped: hv_netvsc fills its
      // table with i % channels, each below what CAPABILITIES offered, so
      // anything else is a lie (a channel offered but not open yet is the
      // receiver's business: it uses the primary).
      if (queue >= std::min(nic_.receive_queues, kMaxReceiveQueues)) return status::kInvalidData;
      rss.table.push_back(queue);
    }
  }
  if ((flags & rss_param::kFlagHashKeyUnchanged) != 0) {
    if (!rss_) return status::kInvalidData;
    rss.key = rss_->key;
  } else {
    const auto key = Region(info, key_offset, key_bytes);
    if (!key || key_bytes != kRssKeyBytes) return status::kInvalidData;
    std::copy(key->begin(), key->end(), rss.key.begin());
  }
  rss_ = std::move(rss);
  return status::kSuccess;
}

RssChoice Control::ReceiveQueue(std::span<const std::byte> frame) const {
  if (!rss_ || rss_->table.empty()) return {};
  const net::RssHash hash = net::HashFrame(rss_->key, frame, rss_->hash_types);
  if (hash.type == 0) return {};  // not a type the guest hashes: the primary
  return {rss_->table[hash.value % rss_->table.size()], hash.value};
}

bool Control::Accepts(std::span<const std::byte> frame) const {
  if (state_ != State::kInitialized || frame.size() < 6) return false;
  if ((packet_filter_ & filter::kPromiscuous) != 0) return true;
  const auto destination = frame.first(6);
  if (std::all_of(destination.begin(), destination.end(),
                  [](std::byte b) { return b == std::byte{0xFF}; }))
    return (packet_filter_ & filter::kBroadcast) != 0;
  if ((destination[0] & std::byte{1}) != std::byte{0})  // the group bit
    return (packet_filter_ & (filter::kMulticast | filter::kAllMulticast)) != 0;
  if ((packet_filter_ & filter::kDirected) == 0) return false;
  for (size_t i = 0; i < 6; ++i)
    if (destination[i] != std::byte{nic_.mac[i]}) return false;
  return true;
}

std::vector<std::byte> Control::SetLink(bool up) {
  nic_.link_up = up;
  return BuildIndicateStatus(up ? status::kMediaConnect : status::kMediaDisconnect);
}

}  // namespace rndis
