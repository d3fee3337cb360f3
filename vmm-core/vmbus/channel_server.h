// vmbus::ChannelServer: the host side of VMBus channel management
// (hyperv-vmbus.md §5.1-§5.2) as a sans-I/O state machine (STYLE.md P4):
// channel offers, the GPADL table, open/close, ModifyChannel, rescind and
// release, unload. It wraps vmbus::Connection, which keeps the handshake
// (InitiateContact/VersionResponse) and the connection-ID rules.
//
// Input: one message the guest posted (PostedMessage, exactly as
// Connection takes it), or a call from a device (AddChannel, RemoveChannel,
// OfferSubChannels). Output: messages for the guest through an Outbox, and
// calls on the device's ChannelHandler (OnOpen, OnClose, OnModify).
// Every message gets a MessageResult: kOk and kRefused (answered with a
// failure status: Linux 6.1 waits forever for GpadlCreated and
// OpenChannelResult, so a refusal is an answer, not silence) change only
// what their reply reports; every other result sends nothing and leaves the
// state exactly as it was. HypercallStatus() maps results to the
// HvCallPostMessage status as for Connection.
//
// Left to others: GPADL message parsing and assembly (gpadl.h: this
// server keeps the table around GpadlBuilder), ring buffers (ring.h builds
// them from the ring GPADL an OpenRequest carries, via WholePages), SynIC
// delivery (the Outbox), event signalling (hcl maps a SignalEvent
// connection ID to a channel with FindByConnectionId and interrupts the
// guest by setting bit relid in SIEF area 2 of target_vp),
// monitor pages (never allocated: monitor_allocated = 0), threads. Not
// thread-safe: the glue serializes every call (one message path per
// partition). Handlers must not call back into the server from OnOpen,
// OnClose or OnModify.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <vector>

#include "base/result.h"
#include "vmbus/connection.h"
#include "vmbus/gpadl.h"
#include "vmbus/packet.h"
#include "vmbus/wire.h"

namespace vmbus {

// What a device offers (hyperv-vmbus.md §5.2 "Offers").
struct Offer {
  wire::Guid interface_type{};      // device class, e.g. SCSI ba6163d9-...
  wire::Guid interface_instance{};  // this device
  std::array<std::byte, wire::kUserDefinedBytes> user_defined{};
  uint16_t mmio_megabytes = 0;
  uint16_t channel_flags = 0;  // chn_flags: 0 for storvsp and netvsp
};

// OpenChannel after validation, as the device sees it.
struct OpenRequest {
  uint32_t relid = 0;
  uint16_t sub_channel_index = 0;  // 0: the primary channel
  uint32_t open_id = 0;            // guest-controlled, echoed by the server
  // The ring GPADL: [guest->host ring][host->guest ring], split at
  // downstream_ring_page_offset pages. Valid during OnOpen only; it stays
  // in the table until the channel is closed and the guest tears it down.
  const Gpadl* ring_gpadl = nullptr;
  uint32_t downstream_ring_page_offset = 0;  // checked: both rings >= 2 pages
  uint32_t target_vp = 0;                     // checked: < vp_count
  uint32_t connection_id = 0;                 // what the guest will signal
  std::array<std::byte, wire::kUserDefinedBytes> user_data{};  // guest-controlled
};

class ChannelHandler {
 public:
  virtual ~ChannelHandler() = default;
  // Returns wire::kStatusSuccess to open the channel, or a failure status
  // for OpenChannelResult (the channel then stays closed).
  virtual uint32_t OnOpen(const OpenRequest& request) = 0;
  // The channel is closed: by the guest (CloseChannel), by Unload or a new
  // InitiateContact, or by RemoveChannel. Only called for an open channel.
  virtual void OnClose(uint32_t relid) = 0;
  // ModifyChannel moved the open channel's interrupts to `target_vp`.
  virtual void OnModify(uint32_t relid, uint32_t target_vp) {
    (void)relid;
    (void)target_vp;
  }
};

// Bounds on what the guest can make the server hold (STYLE.md §3.4-3.5).
// A GPADL's own size is bounded by GpadlHeader's u16 range_buflen (about
// 8190 pages, 32 MiB).
struct ChannelServerLimits {
  size_t max_gpadls_per_channel = 64;  // complete and in progress
  size_t max_gpadl_pages = size_t{1} << 20;  // partition-wide, 4 GiB of guest pages
};

// What hcl needs to route events and interrupts.
struct ChannelInfo {
  uint32_t relid = 0;
  uint32_t connection_id = 0;
  uint16_t sub_channel_index = 0;
  bool open = false;
  uint32_t target_vp = 0;  // meaningful when open
  bool rescinded = false;  // RemoveChannel'd, relid not yet released by the guest

  bool operator==(const ChannelInfo&) const = default;
};

class ChannelServer final {
 public:
  // `vp_count`: VP indices 0..vp_count-1 exist.
  explicit ChannelServer(uint32_t vp_count, ChannelServerLimits limits = {})
      : vp_count_(vp_count), limits_(limits), connection_(vp_count) {}

  ChannelServer(const ChannelServer&) = delete;
  ChannelServer& operator=(const ChannelServer&) = delete;

  MessageResult OnPostMessage(const PostedMessage& message, Outbox& outbox);

  // Registers a primary channel; offers it at once if the guest has asked
  // for offers. `handler` must outlive the channel. Fails when all relids
  // 1..2047 are taken.
  base::Result<uint32_t> AddChannel(const Offer& offer, ChannelHandler& handler, Outbox& outbox);
  // Offers `count` sub-channels of primary `parent_relid` with its GUIDs and
  // sub_channel_index 1..count (storvsp CREATE_SUB_CHANNELS, netvsc
  // SUBCHANNEL); they share the parent's handler. Returns their relids.
  // Fails (adding none) for an unknown or rescinded parent, a sub-channel
  // parent, count 0, or too few free relids. Calling it again adds more,
  // numbered after the existing ones.
  base::Result<std::vector<uint32_t>> OfferSubChannels(uint32_t parent_relid, uint16_t count,
                                                       Outbox& outbox);
  // Withdraws a channel and its sub-channels: closes them (OnClose), tears
  // down GPADLs whose teardown waited for the close, and, if the guest saw
  // the offer, sends RescindChannelOffer; the relid is reused only after
  // the guest's RelIdReleased. The handler is never called again.
  base::Result<void> RemoveChannel(uint32_t relid, Outbox& outbox);

  // A complete GPADL of channel `relid`, e.g. netvsc's receive buffer.
  // The pointer is valid until the next call into the server.
  const Gpadl* FindGpadl(uint32_t relid, uint32_t gpadl_id) const;
  std::optional<ChannelInfo> FindChannel(uint32_t relid) const;
  std::optional<ChannelInfo> FindByConnectionId(uint32_t connection_id) const;
  size_t channel_count() const { return channels_.size(); }
  size_t gpadl_page_count() const { return gpadl_pages_; }

  bool connected() const { return connection_.connected(); }
  std::optional<Connection::Connected> connection() const { return connection_.connection(); }

 private:
  struct GpadlEntry {
    Gpadl gpadl;
    bool teardown_after_close = false;  // GpadlTeardown came while the ring was in use
  };
  // A GpadlHeader waiting for its GpadlBody messages.
  struct PendingGpadl {
    size_t pages = 0;  // announced: range_buflen / 8 - range_count
    GpadlBuilder builder;
  };
  struct OpenState {
    uint32_t open_id = 0;
    uint32_t ring_gpadl = 0;
    uint32_t target_vp = 0;
  };
  struct Channel {
    Offer offer;
    ChannelHandler* handler = nullptr;  // null once rescinded
    uint16_t sub_channel_index = 0;
    uint32_t parent_relid = 0;  // for sub-channels
    std::optional<OpenState> open;
    std::map<uint32_t, GpadlEntry> gpadls;
    size_t pending_gpadl_count = 0;  // its entries in pending_gpadls_
    bool rescinded = false;
  };

  bool offers_visible() const;
  std::optional<uint32_t> FreeRelid(uint32_t after) const;
  ChannelInfo InfoOf(uint32_t relid, const Channel& channel) const;
  void SendOffer(uint32_t relid, const Channel& channel, Outbox& outbox) const;
  void Deliver(OutgoingMessage message, Outbox& outbox) const;
  void SendGpadlCreated(uint32_t relid, uint32_t gpadl_id, uint32_t status, Outbox& outbox) const;
  void SendTorndown(uint32_t gpadl_id, Outbox& outbox) const;
  void CloseChannel(uint32_t relid, Channel& channel, Outbox& outbox);
  void RemoveOne(uint32_t relid, Outbox& outbox);
  void EraseChannel(uint32_t relid);
  void ResetChannels();

  // Channel messages (the connection is up and the message admitted).
  MessageResult HandleRequestOffers(const PostedMessage& message, Outbox& outbox);
  MessageResult HandleGpadlHeader(std::span<const std::byte> payload, Outbox& outbox);
  MessageResult HandleGpadlBody(std::span<const std::byte> payload, Outbox& outbox);
  MessageResult CompleteGpadl(const PendingGpadl& pending, Outbox& outbox);
  MessageResult HandleGpadlTeardown(std::span<const std::byte> payload, Outbox& outbox);
  MessageResult HandleOpenChannel(std::span<const std::byte> payload, Outbox& outbox);
  MessageResult HandleCloseChannel(std::span<const std::byte> payload, Outbox& outbox);
  MessageResult HandleRelIdReleased(std::span<const std::byte> payload);
  MessageResult HandleModifyChannel(std::span<const std::byte> payload, Outbox& outbox);

  uint32_t vp_count_;
  ChannelServerLimits limits_;
  Connection connection_;
  std::map<uint32_t, Channel> channels_;           // by relid
  std::map<uint32_t, PendingGpadl> pending_gpadls_;  // by GPADL id, partition-wide
  size_t gpadl_pages_ = 0;  // complete and announced, all channels
};

}  // namespace vmbus
