#include "rndis/control.h"

#include <algorithm>
#include <string_view>

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
    for (size_t i = 0; i < 4; ++i) out[offset + i] = static_cast<std::byte>(value >> (8 * i));
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
    default:
      return Answer(BuildQueryComplete(request.request_id, status::kNotSupported, {}), true);
  }
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
    default: return reply(status::kNotSupported);
  }
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
