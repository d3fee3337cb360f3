// VMBus channel-message wire formats: the constants and layouts of the
// connection-level messages (hyperv-vmbus.md §4-§5.2; Linux 6.1
// include/linux/hyperv.h, struct vmbus_channel_*; OpenVMM
// vm/devices/vmbus/vmbus_core/src/protocol.rs). Little-endian throughout.
//
// The structs document and pin the layouts (static_assert on sizeof and
// offsetof, STYLE.md P5); code never casts guest bytes to them, it loads
// and stores each field at its offsetof with base::LoadLe/StoreLe.
//
// The connection handshake and the channel messages the channel server
// (channel_server.h) sends and takes. GpadlHeader/GpadlBody are parsed by
// gpadl.h (or, until it lands, by channel_server.cpp).
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

// ---- Channel messages (hyperv-vmbus.md §5.1; Linux 6.1 include/linux/hyperv.h).
// Linux packs these structs; every field here is naturally aligned, so the
// C++ layout matches without packing (the static_asserts prove it).

// A GUID as its 16 wire bytes (the mixed-endian Windows layout: Data1-3
// little-endian, Data4 as is; hyperv-vmbus.md §5.2 shows SCSI's bytes).
struct Guid {
  uint8_t bytes[16];
};
static_assert(sizeof(Guid) == 16);

inline constexpr size_t kUserDefinedBytes = 120;  // MAX_USER_DEFINED_BYTES

// struct vmbus_channel_offer_channel (H->G, 196 bytes).
struct OfferChannel {
  MessageHeader header;
  Guid interface_type;      // if_type: the device class (SCSI, NIC, ...)
  Guid interface_instance;  // if_instance: this device
  uint8_t reserved[16];  // Linux's u64 reserved1, reserved2: bytes here, so
                         // the struct needs no packing to stay 196 bytes
  uint16_t channel_flags;  // chn_flags (VMBUS_CHANNEL_*); 0 for storvsp/netvsp
  uint16_t mmio_megabytes;
  uint8_t user_defined[kUserDefinedBytes];  // u.std.user_def / u.pipe
  uint16_t sub_channel_index;  // 0: a primary channel
  uint16_t reserved3;
  uint32_t child_relid;
  uint8_t monitor_id;
  uint8_t monitor_allocated;        // bit 0
  uint16_t is_dedicated_interrupt;  // bit 0, meaningful from 5.0 (VERSION_WIN10_V5)
  uint32_t connection_id;           // the guest signals this with HvCallSignalEvent
};
static_assert(sizeof(OfferChannel) == 196);
static_assert(offsetof(OfferChannel, interface_type) == 8);
static_assert(offsetof(OfferChannel, interface_instance) == 24);
static_assert(offsetof(OfferChannel, channel_flags) == 56);
static_assert(offsetof(OfferChannel, mmio_megabytes) == 58);
static_assert(offsetof(OfferChannel, user_defined) == 60);
static_assert(offsetof(OfferChannel, sub_channel_index) == 180);
static_assert(offsetof(OfferChannel, child_relid) == 184);
static_assert(offsetof(OfferChannel, monitor_id) == 188);
static_assert(offsetof(OfferChannel, monitor_allocated) == 189);
static_assert(offsetof(OfferChannel, is_dedicated_interrupt) == 190);
static_assert(offsetof(OfferChannel, connection_id) == 192);

// struct vmbus_channel_rescind_offer (H->G); also the shape of
// CloseChannel and RelIdReleased (G->H): a header and child_relid.
struct ChannelIdMessage {
  MessageHeader header;
  uint32_t child_relid;
};
static_assert(sizeof(ChannelIdMessage) == 12);
static_assert(offsetof(ChannelIdMessage, child_relid) == 8);
using RescindChannelOffer = ChannelIdMessage;
using CloseChannel = ChannelIdMessage;
using RelIdReleased = ChannelIdMessage;

// struct vmbus_channel_open_channel (G->H, 148 bytes).
struct OpenChannel {
  MessageHeader header;
  uint32_t child_relid;
  uint32_t open_id;      // echoed in OpenChannelResult
  uint32_t ring_gpadl;   // ringbuffer_gpadlhandle
  uint32_t target_vp;    // VP whose SIEF area 2 gets bit child_relid
  uint32_t downstream_ring_page_offset;  // pages: start of the host->guest ring
  uint8_t user_data[kUserDefinedBytes];
};
static_assert(sizeof(OpenChannel) == 148);
static_assert(offsetof(OpenChannel, child_relid) == 8);
static_assert(offsetof(OpenChannel, open_id) == 12);
static_assert(offsetof(OpenChannel, ring_gpadl) == 16);
static_assert(offsetof(OpenChannel, target_vp) == 20);
static_assert(offsetof(OpenChannel, downstream_ring_page_offset) == 24);
static_assert(offsetof(OpenChannel, user_data) == 28);

// struct vmbus_channel_open_result (H->G).
struct OpenChannelResult {
  MessageHeader header;
  uint32_t child_relid;
  uint32_t open_id;
  uint32_t status;  // 0: opened
};
static_assert(sizeof(OpenChannelResult) == 20);
static_assert(offsetof(OpenChannelResult, child_relid) == 8);
static_assert(offsetof(OpenChannelResult, open_id) == 12);
static_assert(offsetof(OpenChannelResult, status) == 16);

// struct vmbus_channel_gpadl_created (H->G).
struct GpadlCreated {
  MessageHeader header;
  uint32_t child_relid;
  uint32_t gpadl;
  uint32_t creation_status;  // 0: created; Linux 6.1 fails the GPADL otherwise
};
static_assert(sizeof(GpadlCreated) == 20);
static_assert(offsetof(GpadlCreated, child_relid) == 8);
static_assert(offsetof(GpadlCreated, gpadl) == 12);
static_assert(offsetof(GpadlCreated, creation_status) == 16);

// struct vmbus_channel_gpadl_teardown (G->H).
struct GpadlTeardown {
  MessageHeader header;
  uint32_t child_relid;
  uint32_t gpadl;
};
static_assert(sizeof(GpadlTeardown) == 16);
static_assert(offsetof(GpadlTeardown, child_relid) == 8);
static_assert(offsetof(GpadlTeardown, gpadl) == 12);

// struct vmbus_channel_gpadl_torndown (H->G).
struct GpadlTorndown {
  MessageHeader header;
  uint32_t gpadl;
};
static_assert(sizeof(GpadlTorndown) == 12);
static_assert(offsetof(GpadlTorndown, gpadl) == 8);

// struct vmbus_channel_modifychannel (G->H, 5.x; Linux 6.1 expects the
// response only at 5.3, VERSION_WIN10_V5_3).
struct ModifyChannel {
  MessageHeader header;
  uint32_t child_relid;
  uint32_t target_vp;
};
static_assert(sizeof(ModifyChannel) == 16);
static_assert(offsetof(ModifyChannel, child_relid) == 8);
static_assert(offsetof(ModifyChannel, target_vp) == 12);

// struct vmbus_channel_modifychannel_response (H->G, 5.3).
struct ModifyChannelResponse {
  MessageHeader header;
  uint32_t child_relid;
  uint32_t status;  // 0: done
};
static_assert(sizeof(ModifyChannelResponse) == 16);
static_assert(offsetof(ModifyChannelResponse, child_relid) == 8);
static_assert(offsetof(ModifyChannelResponse, status) == 12);

// Statuses in OpenChannelResult, GpadlCreated and ModifyChannelResponse:
// NTSTATUS values (OpenVMM vmbus_core protocol.rs); Linux 6.1 only tests
// for non-zero.
inline constexpr uint32_t kStatusSuccess = 0;
inline constexpr uint32_t kStatusUnsuccessful = 0xC0000001;  // STATUS_UNSUCCESSFUL

// hyperv-vmbus.md §5.1: relids 1..2047 (Linux 6.1 MAX_CHANNEL_RELIDS is
// 2048; the relid is the channel's bit in SIEF area 2, bit 0 unused).
inline constexpr uint32_t kFirstRelid = 1;
inline constexpr uint32_t kMaxRelid = 2047;

// Channel connection IDs are this server's choice (hyperv-vmbus.md §4
// "Connection IDs": any value the SignalEvent router recognises).
// relid | 0x1000 keeps them clear of the fixed IDs 1-4 and unique per
// relid, like OpenVMM's relid | sint << 12 for SINT 1.
inline constexpr uint32_t kChannelConnectionIdBase = 0x1000;
constexpr uint32_t ChannelConnectionId(uint32_t relid) { return kChannelConnectionIdBase | relid; }

}  // namespace vmbus::wire
