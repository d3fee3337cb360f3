// VMBus channel-message wire formats: the constants and layouts of the
// connection-level messages (hyperv-vmbus.md §4-§5.2; Linux 6.1
// include/linux/hyperv.h, struct vmbus_channel_*; OpenVMM
// vm/devices/vmbus/vmbus_core/src/protocol.rs). Little-endian throughout.
//
// The structs document and pin the layouts (static_assert on sizeof and
// offsetof, STYLE.md P5); code never casts guest bytes to them, it loads
// and stores each field at its offsetof with base::LoadLe/StoreLe.
//
// Only what the connection handshake needs lives here today; channel
// offers, GPADLs and opens come with the channel code.
#pragma once

#include <cstddef>
#include <cstdint>

namespace vmbus::wire {

// TLFS HV_MESSAGE payload: a channel message is at most 240 bytes.
inline constexpr size_t kMaxMessageBytes = 240;
inline constexpr size_t kSintCount = 16;

// The Hyper-V message type of every VMBus channel message, both ways
// (Linux vmbus_post_msg: hv_post_message(msg_conn_id, 1, ...)).
inline constexpr uint32_t kChannelMessageType = 1;

// Connection IDs (hyperv-vmbus.md §4 "Connection IDs", §5.2).
// InitiateContact below version 5.0, with an interrupt page.
inline constexpr uint32_t kLegacyMessageConnectionId = 1;
// InitiateContact at version 5.0 and later, with msg_sint.
inline constexpr uint32_t kModernMessageConnectionId = 4;
// What this server answers in VersionResponse.msg_conn_id: the connection
// the guest posts every later message on (Linux 6.1 stores it in
// vmbus_connection.msg_conn_id for versions >= 5.0).
inline constexpr uint32_t kServerMessageConnectionId = 1;
// The SINT VMBus messages arrive on when the guest does not choose one
// (below 5.0); Linux 6.1 also asks for it as msg_sint at 5.0+.
inline constexpr uint8_t kDefaultMessageSint = 2;

// Protocol versions: major << 16 | minor (Linux VERSION_WIN10_V5*).
constexpr uint32_t MakeVersion(uint16_t major, uint16_t minor) {
  return uint32_t{major} << 16 | minor;
}
inline constexpr uint32_t kVersionWin10V5 = MakeVersion(5, 0);
inline constexpr uint32_t kVersionWin10V5_1 = MakeVersion(5, 1);
inline constexpr uint32_t kVersionWin10V5_2 = MakeVersion(5, 2);
inline constexpr uint32_t kVersionWin10V5_3 = MakeVersion(5, 3);

// hyperv-vmbus.md §5.1 table; Linux enum vmbus_channel_message_type.
enum class MessageType : uint32_t {
  kInvalid = 0,
  kOfferChannel = 1,
  kRescindChannelOffer = 2,
  kRequestOffers = 3,
  kAllOffersDelivered = 4,
  kOpenChannel = 5,
  kOpenChannelResult = 6,
  kCloseChannel = 7,
  kGpadlHeader = 8,
  kGpadlBody = 9,
  kGpadlCreated = 10,
  kGpadlTeardown = 11,
  kGpadlTorndown = 12,
  kRelIdReleased = 13,
  kInitiateContact = 14,
  kVersionResponse = 15,
  kUnload = 16,
  kUnloadResponse = 17,
  kModifyChannel = 22,
  kModifyChannelResponse = 24,
};

// struct vmbus_channel_message_header.
struct MessageHeader {
  uint32_t message_type;  // MessageType
  uint32_t padding;
};
static_assert(sizeof(MessageHeader) == 8);
static_assert(offsetof(MessageHeader, message_type) == 0);

// struct vmbus_channel_initiate_contact (G->H, 40 bytes). The third field
// is the interrupt page GPA below 5.0; from 5.0 its first byte is msg_sint
// and its second msg_vtl (Linux 6.1 vmbus_negotiate_version).
struct InitiateContact {
  MessageHeader header;
  uint32_t version_requested;
  uint32_t target_vcpu;  // the VP index every response must go to
  uint64_t interrupt_page_or_sint;
  uint64_t monitor_page1;  // parent -> child
  uint64_t monitor_page2;  // child -> parent
};
static_assert(sizeof(InitiateContact) == 40);
static_assert(offsetof(InitiateContact, version_requested) == 8);
static_assert(offsetof(InitiateContact, target_vcpu) == 12);
static_assert(offsetof(InitiateContact, interrupt_page_or_sint) == 16);
static_assert(offsetof(InitiateContact, monitor_page1) == 24);
static_assert(offsetof(InitiateContact, monitor_page2) == 32);
inline constexpr size_t kInitiateContactMsgSintOffset = offsetof(InitiateContact, interrupt_page_or_sint);
inline constexpr size_t kInitiateContactMsgVtlOffset = kInitiateContactMsgSintOffset + 1;

// struct vmbus_channel_version_response (H->G). Always sent whole, 16
// bytes: Linux 6.1 drops a VersionResponse shorter than that
// (channel_message_table min_payload; hyperv-vmbus.md §5.1).
struct VersionResponse {
  MessageHeader header;
  uint8_t version_supported;  // 1: accepted, 0: try the next version
  uint8_t connection_state;   // 0: success (OpenVMM ConnectionState)
  uint16_t padding;
  uint32_t msg_conn_id;  // used by the guest at >= 5.0
};
static_assert(sizeof(VersionResponse) == 16);
static_assert(offsetof(VersionResponse, version_supported) == 8);
static_assert(offsetof(VersionResponse, connection_state) == 9);
static_assert(offsetof(VersionResponse, msg_conn_id) == 12);
inline constexpr uint8_t kConnectionStateSuccessful = 0;

// RequestOffers, AllOffersDelivered, Unload and UnloadResponse are a bare
// header.
inline constexpr size_t kHeaderOnlyMessageBytes = sizeof(MessageHeader);

}  // namespace vmbus::wire
