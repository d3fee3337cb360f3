// nvsp::Channel: the host side of one netvsc VMBus channel's NVSP control
// protocol, as a sans-I/O state machine (mana-netvsc.md §5 "Init
// sequence"; OpenVMM's netvsp is strict the same way: §6).
//
// The guest, in order: INIT (a version range; hv_netvsc tries one version
// at a time, highest first, and takes the next on a FAILURE status), then
// from version 2 on NDIS_CONFIG (MTU, capabilities; no reply), NDIS_VERSION
// (no reply), the receive buffer (a GPADL: the host answers with its
// sub-allocation layout), the send buffer (the host answers with its
// section size). Then RNDIS packets flow: each names a send-buffer section
// or carries GPA-direct ranges, both checked here before the owner reads
// any data. A message out of order, repeated, or naming a GPADL the guest
// never created is answered with FAILURE (when the guest asked for a
// completion) and changes nothing.
//
// Sub-channels (mana-netvsc.md §5 "Subchannels"): netvsc sets nothing up
// on them; each carries RNDIS_PKTs against the primary's send buffer and
// the guest's completions. A sub-channel's Channel starts ready with the
// primary's version and send-buffer layout, and refuses INIT, buffers,
// revokes and SUBCHANNEL requests.
//
// The Channel does not touch memory: the owner maps the GPADLs it reports,
// reads RNDIS bytes, sends completions and receive packets.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>

#include "nvsp/message.h"

namespace nvsp {

enum class [[nodiscard]] Result {
  kOk,
  kMalformed,        // unparseable: short, unknown type
  kWrongState,       // out of order or repeated
  kVersionRefused,   // no version of the range is spoken here
  kBadBuffer,        // an unknown GPADL, or one too small or too large
  kBadSection,       // an RNDIS packet naming a section outside the send buffer
  kBadSubChannels,   // 0, an unknown operation, or multi-channel off
};
const char* Describe(Result result);

struct ReceiveBufferLayout {
  uint32_t gpadl = 0;
  uint16_t id = 0;
  ReceiveSection section;
};
struct SendBufferLayout {
  uint32_t gpadl = 0;
  uint32_t section_bytes = 0;
  uint32_t sections = 0;
};

struct Outcome {
  Result result = Result::kOk;
  // Send back as a VMBus completion with the packet's transaction ID (only
  // when the guest asked for one).
  std::optional<Message> completion;
  // Set when this message made the layout: map the GPADL now.
  std::optional<ReceiveBufferLayout> receive_buffer;
  std::optional<SendBufferLayout> send_buffer;
  // A checked RNDIS packet for the owner to read and handle; the owner
  // completes it (RndisPacketDone) when done with the section.
  std::optional<RndisPacket> rndis;
  // Offer this many sub-channels now (the completion says so).
  uint32_t offer_sub_channels = 0;
};

class Channel {
 public:
  struct Config {
    uint32_t max_sub_channels = 0;  // 0: one channel
    uint64_t max_receive_buffer_bytes = 32u << 20;
    uint64_t max_send_buffer_bytes = 16u << 20;
  };
  // The size in bytes of a GPADL the guest created on this channel, or
  // nullopt if it did not.
  using GpadlBytes = std::function<std::optional<uint64_t>(uint32_t gpadl)>;

  Channel(const Config& config, GpadlBytes gpadl_bytes)
      : config_(config), gpadl_bytes_(std::move(gpadl_bytes)) {}
  // What a sub-channel takes over from its primary once that is ready.
  struct SubChannelOf {
    uint32_t version = 0;
    SendBufferLayout send_buffer;
  };
  Channel(const Config& config, const SubChannelOf& primary);

  // One NVSP message from an inband or GPA-direct packet's payload.
  Outcome OnMessage(std::span<const std::byte> payload, bool completion_requested);

  std::optional<uint32_t> version() const { return version_; }
  // The frame MTU the guest configured (NDIS_CONFIG), 1514 by default.
  uint32_t mtu() const { return mtu_; }
  bool ready() const { return state_ == State::kReady; }
  const std::optional<SendBufferLayout>& send_buffer() const { return send_buffer_; }
  const std::optional<ReceiveBufferLayout>& receive_buffer() const { return receive_buffer_; }

  // The send-buffer section size offered (hv_netvsc's own default).
  static constexpr uint32_t kSendSectionBytes = 6144;

 private:
  enum class State { kAwaitingInit, kAwaitingNdisVersion, kAwaitingReceiveBuffer,
                     kAwaitingSendBuffer, kReady };
  Outcome Fail(Result result, uint32_t reply_type, bool completion_requested) const;

  Config config_;
  GpadlBytes gpadl_bytes_;
  State state_ = State::kAwaitingInit;
  std::optional<uint32_t> version_;
  bool ndis_configured_ = false;
  uint32_t mtu_ = 1514;
  std::optional<ReceiveBufferLayout> receive_buffer_;
  std::optional<SendBufferLayout> send_buffer_;
  bool sub_channels_offered_ = false;
  bool sub_channel_ = false;
};

}  // namespace nvsp
