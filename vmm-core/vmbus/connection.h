// vmbus::Connection: the server side of the VMBus connection handshake
// (hyperv-vmbus.md §5.1-§5.2), as a sans-I/O state machine (STYLE.md P4).
//
// Input: one message the guest posted with HvCallPostMessage (connection
// ID, Hyper-V message type, payload). Output: zero or more messages for
// the guest's SynIC (payload, message type 1, target VP and SINT), handed
// to an Outbox, and a MessageResult the caller turns into the hypercall's
// status (HypercallStatus) and, for protocol errors, a rate-limited log.
//
// Handled: InitiateContact -> VersionResponse (versions 5.0-5.3; anything
// else is answered "not supported" so Linux 6.1 falls back through its
// list), RequestOffers -> AllOffersDelivered (the offers themselves are
// the channel server's, channel_server.h, which sends them first),
// Unload -> UnloadResponse and back to disconnected. Anything before a
// successful InitiateContact, on a connection the guest was not given, or
// malformed, is an error and changes nothing.
//
// Left to others: SynIC delivery and queueing (the Outbox), channels and
// GPADLs (ChannelServer wraps this class), monitor pages, threads. Not thread-safe: the glue serializes
// calls (one message path per partition, hyperv-vmbus.md §5.1).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <variant>

#include "hv/hvdef.h"
#include "vmbus/wire.h"

namespace vmbus {

// One HvCallPostMessage from the guest, already copied out of guest memory.
struct PostedMessage {
  uint32_t connection_id = 0;         // guest-controlled
  uint32_t message_type = 0;          // guest-controlled (Hyper-V message type)
  std::span<const std::byte> payload;  // guest-controlled, any length
};

// One message for the guest's SIMP slot `sint` on VP `target_vp`.
struct OutgoingMessage {
  uint32_t target_vp = 0;
  uint8_t sint = wire::kDefaultMessageSint;
  uint32_t message_type = wire::kChannelMessageType;
  std::array<std::byte, wire::kMaxMessageBytes> buffer{};
  size_t size_bytes = 0;

  std::span<const std::byte> payload() const { return std::span(buffer).first(size_bytes); }
};

class Outbox {
 public:
  virtual ~Outbox() = default;
  virtual void Send(const OutgoingMessage& message) = 0;
};

// What became of a posted message. Only kOk sends anything; every error
// leaves the connection state as it was.
enum class [[nodiscard]] MessageResult {
  kOk,
  // HvCallPostMessage's own checks: payload over 240 bytes, message type 0
  // or in the hypervisor's range (bit 31).
  kInvalidParameter,
  // No port for this connection ID (not 1/4, nor msg_conn_id once
  // connected), or a non-contact message on a contact-only connection.
  kInvalidConnectionId,
  kNotConnected,         // only InitiateContact is valid before contact
  kMalformed,            // wrong Hyper-V message type, payload too short, bad msg_sint
  kBadTargetVp,          // InitiateContact names a VP the partition lacks
  kUnknownMessageType,   // not a VMBus message type
  kUnexpectedMessage,    // a host->guest type, a duplicate, or channel work with no channels
  // Channel messages (channel_server.h):
  kUnknownChannel,  // a relid that is not offered, or not in the state the message needs
  kUnknownGpadl,    // a GPADL id the channel (or the pending list) does not hold
  // Answered with a failure status (GpadlCreated, OpenChannelResult,
  // ModifyChannelResponse): the guest hears "no", nothing else changes.
  kRefused,
};

// The status HvCallPostMessage returns: the hypervisor refuses only bad
// parameters and unknown connection IDs; a protocol error is the server's
// business once the message reached its port (the post itself succeeded).
hv::Status HypercallStatus(MessageResult result);
const char* Describe(MessageResult result);

class Connection final {
 public:
  // What a successful InitiateContact established.
  struct Connected {
    uint32_t version = 0;
    uint32_t target_vp = 0;  // from InitiateContact.target_vcpu
    uint8_t sint = 0;        // msg_sint
    uint32_t msg_conn_id = wire::kServerMessageConnectionId;
    bool offers_requested = false;
  };

  // `vp_count`: VP indices 0..vp_count-1 exist; responses target one.
  explicit Connection(uint32_t vp_count) : vp_count_(vp_count) {}

  MessageResult OnPostMessage(const PostedMessage& message, Outbox& outbox);

  // The checks every message passes before its VMBus type matters: the
  // hypervisor's (size, Hyper-V message type), the connection ID, a whole
  // VMBus header, and, for anything but InitiateContact, a connection.
  // The channel server runs these before handling channel messages itself.
  struct Admission {
    MessageResult result = MessageResult::kOk;  // kOk: `vmbus_type` is valid
    uint32_t vmbus_type = 0;                     // guest-controlled
  };
  Admission Admit(const PostedMessage& message) const;

  bool connected() const { return std::holds_alternative<Connected>(state_); }
  // The negotiated connection, or nullopt when disconnected.
  std::optional<Connected> connection() const;

  static bool IsSupportedVersion(uint32_t version);

 private:
  struct Disconnected {};
  using State = std::variant<Disconnected, Connected>;

  MessageResult HandleInitiateContact(const PostedMessage& message, Outbox& outbox);
  MessageResult HandleRequestOffers(Connected& connected, Outbox& outbox);
  MessageResult HandleUnload(const Connected& connected, Outbox& outbox);

  uint32_t vp_count_;
  State state_ = Disconnected{};
};

}  // namespace vmbus
