#include "vmbus/connection.h"

#include "base/le_bytes.h"

namespace vmbus {
namespace {

// TLFS HvCallPostMessage: message types with bit 31 set are reserved for
// the hypervisor; type 0 is HvMessageTypeNone.
constexpr uint32_t kHypervisorMessageTypes = 0x8000'0000;

OutgoingMessage HeaderOnly(wire::MessageType type, uint32_t target_vp, uint8_t sint) {
  OutgoingMessage out;
  out.target_vp = target_vp;
  out.sint = sint;
  out.size_bytes = wire::kHeaderOnlyMessageBytes;
  (void)base::StoreLe<uint32_t>(out.buffer, offsetof(wire::MessageHeader, message_type),
                                static_cast<uint32_t>(type));
  return out;
}

OutgoingMessage VersionResponse(bool supported, uint32_t msg_conn_id, uint32_t target_vp,
                                uint8_t sint) {
  OutgoingMessage out = HeaderOnly(wire::MessageType::kVersionResponse, target_vp, sint);
  // hyperv-vmbus.md §5.1: always the whole 16 bytes (Linux's minimum).
  out.size_bytes = sizeof(wire::VersionResponse);
  (void)base::StoreLe<uint8_t>(out.buffer, offsetof(wire::VersionResponse, version_supported),
                               supported ? 1 : 0);
  (void)base::StoreLe<uint8_t>(out.buffer, offsetof(wire::VersionResponse, connection_state),
                               wire::kConnectionStateSuccessful);
  (void)base::StoreLe<uint32_t>(out.buffer, offsetof(wire::VersionResponse, msg_conn_id),
                                msg_conn_id);
  return out;
}

}  // namespace

hv::Status HypercallStatus(MessageResult result) {
  switch (result) {
    case MessageResult::kInvalidParameter:
      return hv::Status::kInvalidParameter;
    case MessageResult::kInvalidConnectionId:
      return hv::Status::kInvalidConnectionId;
    case MessageResult::kOk:
    case MessageResult::kNotConnected:
    case MessageResult::kMalformed:
    case MessageResult::kBadTargetVp:
    case MessageResult::kUnknownMessageType:
    case MessageResult::kUnexpectedMessage:
    case MessageResult::kUnknownChannel:
    case MessageResult::kUnknownGpadl:
    case MessageResult::kRefused:
      return hv::Status::kSuccess;
  }
  return hv::Status::kInvalidParameter;  // unreachable: every enumerator is handled
}

const char* Describe(MessageResult result) {
  switch (result) {
    case MessageResult::kOk: return "ok";
    case MessageResult::kInvalidParameter: return "invalid PostMessage parameter";
    case MessageResult::kInvalidConnectionId: return "invalid connection id";
    case MessageResult::kNotConnected: return "message before InitiateContact";
    case MessageResult::kMalformed: return "malformed message";
    case MessageResult::kBadTargetVp: return "InitiateContact target VP out of range";
    case MessageResult::kUnknownMessageType: return "unknown VMBus message type";
    case MessageResult::kUnexpectedMessage: return "unexpected VMBus message";
    case MessageResult::kUnknownChannel: return "unknown channel or channel in the wrong state";
    case MessageResult::kUnknownGpadl: return "unknown GPADL";
    case MessageResult::kRefused: return "refused with a failure status";
  }
  return "?";
}

bool Connection::IsSupportedVersion(uint32_t version) {
  // hyperv-vmbus.md §5.2: Linux 6.1 proposes 5.3, 5.2, 5.1, 5.0, then
  // pre-5.0 versions we refuse (they need the interrupt page and monitor
  // bitmap signalling we do not implement).
  return version >= wire::kVersionWin10V5 && version <= wire::kVersionWin10V5_3;
}

std::optional<Connection::Connected> Connection::connection() const {
  if (const auto* connected = std::get_if<Connected>(&state_)) return *connected;
  return std::nullopt;
}

Connection::Admission Connection::Admit(const PostedMessage& message) const {
  // The hypervisor's checks come first (TLFS HvCallPostMessage).
  if (message.payload.size() > wire::kMaxMessageBytes || message.message_type == 0 ||
      (message.message_type & kHypervisorMessageTypes) != 0)
    return {MessageResult::kInvalidParameter, 0};

  // Which ports exist: the two contact connections always (a guest may
  // reconnect, e.g. a kdump kernel), msg_conn_id once connected.
  const Connected* connected = std::get_if<Connected>(&state_);
  const bool on_message_connection =
      connected != nullptr && message.connection_id == connected->msg_conn_id;
  const bool on_contact_connection =
      message.connection_id == wire::kLegacyMessageConnectionId ||
      message.connection_id == wire::kModernMessageConnectionId;
  if (!on_message_connection && !on_contact_connection)
    return {MessageResult::kInvalidConnectionId, 0};

  if (message.message_type != wire::kChannelMessageType) return {MessageResult::kMalformed, 0};
  uint32_t raw_type = 0;
  if (!base::LoadLe<uint32_t>(message.payload, offsetof(wire::MessageHeader, message_type),
                              raw_type))
    return {MessageResult::kMalformed, 0};

  if (raw_type == static_cast<uint32_t>(wire::MessageType::kInitiateContact))
    return {MessageResult::kOk, raw_type};
  // Everything else needs a connection, and must come on its msg_conn_id.
  if (connected == nullptr) return {MessageResult::kNotConnected, 0};
  if (!on_message_connection) return {MessageResult::kInvalidConnectionId, 0};
  return {MessageResult::kOk, raw_type};
}

MessageResult Connection::OnPostMessage(const PostedMessage& message, Outbox& outbox) {
  const Admission admission = Admit(message);
  if (admission.result != MessageResult::kOk) return admission.result;
  const uint32_t raw_type = admission.vmbus_type;
  if (raw_type == static_cast<uint32_t>(wire::MessageType::kInitiateContact))
    return HandleInitiateContact(message, outbox);
  Connected* connected = std::get_if<Connected>(&state_);
  if (connected == nullptr) return MessageResult::kNotConnected;  // Admit checked this

  switch (raw_type) {  // guest-controlled
    case static_cast<uint32_t>(wire::MessageType::kRequestOffers):
      return HandleRequestOffers(*connected, outbox);
    case static_cast<uint32_t>(wire::MessageType::kUnload):
      return HandleUnload(*connected, outbox);
    // Guest-to-host channel messages: the channel server's; on its own a
    // Connection has no channel to name.
    case static_cast<uint32_t>(wire::MessageType::kOpenChannel):
    case static_cast<uint32_t>(wire::MessageType::kCloseChannel):
    case static_cast<uint32_t>(wire::MessageType::kGpadlHeader):
    case static_cast<uint32_t>(wire::MessageType::kGpadlBody):
    case static_cast<uint32_t>(wire::MessageType::kGpadlTeardown):
    case static_cast<uint32_t>(wire::MessageType::kRelIdReleased):
    case static_cast<uint32_t>(wire::MessageType::kModifyChannel):
    // Host-to-guest messages a guest has no business sending.
    case static_cast<uint32_t>(wire::MessageType::kOfferChannel):
    case static_cast<uint32_t>(wire::MessageType::kRescindChannelOffer):
    case static_cast<uint32_t>(wire::MessageType::kAllOffersDelivered):
    case static_cast<uint32_t>(wire::MessageType::kOpenChannelResult):
    case static_cast<uint32_t>(wire::MessageType::kGpadlCreated):
    case static_cast<uint32_t>(wire::MessageType::kGpadlTorndown):
    case static_cast<uint32_t>(wire::MessageType::kVersionResponse):
    case static_cast<uint32_t>(wire::MessageType::kUnloadResponse):
    case static_cast<uint32_t>(wire::MessageType::kModifyChannelResponse):
      return MessageResult::kUnexpectedMessage;
    default:
      return MessageResult::kUnknownMessageType;
  }
}

MessageResult Connection::HandleInitiateContact(const PostedMessage& message, Outbox& outbox) {
  // Copy, validate, use (STYLE.md §3.1). Linux always sends all 40 bytes;
  // longer payloads (later protocol revisions append fields) are accepted.
  uint32_t version = 0;
  uint32_t target_vcpu = 0;
  uint8_t msg_sint = 0;
  if (!base::LoadLe<uint32_t>(message.payload, offsetof(wire::InitiateContact, version_requested),
                              version) ||
      !base::LoadLe<uint32_t>(message.payload, offsetof(wire::InitiateContact, target_vcpu),
                              target_vcpu) ||
      !base::LoadLe<uint8_t>(message.payload, wire::kInitiateContactMsgSintOffset, msg_sint) ||
      message.payload.size() < sizeof(wire::InitiateContact))
    return MessageResult::kMalformed;
  // Responses go to target_vcpu (hyperv-vmbus.md §4, "Linux 6.1 VMBus").
  if (target_vcpu >= vp_count_) return MessageResult::kBadTargetVp;

  // At >= 5.0 the third field is {msg_sint, msg_vtl, ...} and the message
  // comes on connection 4; below, it is the interrupt page on connection
  // 1 (Linux 6.1 vmbus_negotiate_version). A 5.x proposal on connection 1
  // carries no SINT, so it is refused like any version we do not speak.
  const bool modern = version >= wire::kVersionWin10V5 &&
                      message.connection_id == wire::kModernMessageConnectionId;
  if (modern && msg_sint >= wire::kSintCount) return MessageResult::kMalformed;
  const uint8_t sint = modern ? msg_sint : wire::kDefaultMessageSint;

  // A new InitiateContact resets whatever connection there was (a kexec'd
  // or kdump kernel reconnects without Unload); the channel server closes
  // its channels on top of this.
  if (!modern || !IsSupportedVersion(version)) {
    state_ = Disconnected{};
    // "Not supported": Linux 6.1 then proposes its next version.
    outbox.Send(VersionResponse(false, 0, target_vcpu, sint));
    return MessageResult::kOk;
  }
  state_ = Connected{.version = version,
                     .target_vp = target_vcpu,
                     .sint = sint,
                     .msg_conn_id = wire::kServerMessageConnectionId,
                     .offers_requested = false};
  outbox.Send(VersionResponse(true, wire::kServerMessageConnectionId, target_vcpu, sint));
  return MessageResult::kOk;
}

MessageResult Connection::HandleRequestOffers(Connected& connected, Outbox& outbox) {
  // Linux 6.1 asks once per connection (vmbus_request_offers).
  if (connected.offers_requested) return MessageResult::kUnexpectedMessage;
  connected.offers_requested = true;
  // The channel server sent the offers before calling this; here goes the
  // list's terminator.
  outbox.Send(HeaderOnly(wire::MessageType::kAllOffersDelivered, connected.target_vp,
                         connected.sint));
  return MessageResult::kOk;
}

MessageResult Connection::HandleUnload(const Connected& connected, Outbox& outbox) {
  const OutgoingMessage response =
      HeaderOnly(wire::MessageType::kUnloadResponse, connected.target_vp, connected.sint);
  state_ = Disconnected{};  // `connected` dangles from here on
  // Linux 6.1 waits for this without a timeout (hyperv-vmbus.md §5.1).
  outbox.Send(response);
  return MessageResult::kOk;
}

}  // namespace vmbus
