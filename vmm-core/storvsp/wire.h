// storvsp wire formats: the vstor_packet every storvsc message is, its
// operations, NT status codes and payloads, and the Win8-form SCSI request
// block (hyperv-vmbus.md §6; Linux 6.1 drivers/scsi/storvsc_drv.c; OpenVMM
// vm/devices/storage/storvsp_protocol). Little-endian throughout.
//
// The structs pin the layouts (static_assert on sizeof and offsetof,
// STYLE.md P5); code never casts guest bytes to them, it loads and stores
// each field at its offsetof with base::LoadLe/StoreLe.
#pragma once

#include <cstddef>
#include <cstdint>

namespace storvsp::wire {

// hyperv-vmbus.md §6: vstor_packet, 64 bytes; the payload (a union in
// Linux) starts at byte 12.
struct PacketHeader {
  uint32_t operation;  // Operation
  uint32_t flags;      // bit 0: REQUEST_COMPLETION_FLAG
  uint32_t status;     // NT status (host -> guest)
};
static_assert(sizeof(PacketHeader) == 12);
static_assert(offsetof(PacketHeader, operation) == 0);
static_assert(offsetof(PacketHeader, flags) == 4);
static_assert(offsetof(PacketHeader, status) == 8);
inline constexpr size_t kPayloadOffset = sizeof(PacketHeader);
inline constexpr size_t kPayloadBytes = 0x34;
inline constexpr size_t kPacketBytes = kPayloadOffset + kPayloadBytes;
static_assert(kPacketBytes == 64);
inline constexpr uint32_t kRequestCompletionFlag = 0x1;

enum class Operation : uint32_t {
  kCompleteIo = 1,
  kRemoveDevice = 2,
  kExecuteSrb = 3,
  kResetLun = 4,
  kResetAdapter = 5,
  kResetBus = 6,
  kBeginInitialization = 7,
  kEndInitialization = 8,
  kQueryProtocolVersion = 9,
  kQueryProperties = 10,
  kEnumerateBus = 11,
  kFcHbaData = 12,
  kCreateSubChannels = 13,
};

// NT status values storvsc reads (it treats any non-zero as failure).
namespace nt {
inline constexpr uint32_t kSuccess = 0x0000'0000;
inline constexpr uint32_t kInvalidParameter = 0xC000'000D;
inline constexpr uint32_t kInvalidDeviceRequest = 0xC000'0010;
// STATUS_REVISION_MISMATCH: Linux 6.1 tries its next protocol version.
inline constexpr uint32_t kRevisionMismatch = 0xC000'0059;
inline constexpr uint32_t kInvalidDeviceState = 0xC000'0184;
}  // namespace nt

// Protocol versions (major << 8 | minor) Linux 6.1 proposes, in order:
// WIN10 (6.2), WIN8_1 (6.0), WIN8 (5.1). All use the 0x34-byte SRB.
inline constexpr uint16_t kVersionWin10 = 0x0602;
inline constexpr uint16_t kVersionWin8_1 = 0x0600;
inline constexpr uint16_t kVersionWin8 = 0x0501;

// struct vmstorage_protocol_version (payload of QUERY_PROTOCOL_VERSION).
struct ProtocolVersion {
  uint16_t major_minor;
  uint16_t revision;  // Windows only; Linux sends 0
};
static_assert(sizeof(ProtocolVersion) == 4);
static_assert(offsetof(ProtocolVersion, revision) == 2);

// struct vmstorage_channel_properties (reply to QUERY_PROPERTIES). The
// trailing u64 is two u32 so the struct keeps 4-byte alignment, as it must
// at payload offset 12.
struct ChannelProperties {
  uint32_t reserved;
  uint16_t max_channel_count;  // sub-channels the guest may ask for
  uint16_t reserved1;
  uint32_t flags;               // kSupportsMultiChannel
  uint32_t max_transfer_bytes;  // non-zero: sets Linux's max_sectors
  uint32_t reserved2[2];
};
static_assert(sizeof(ChannelProperties) == 24);
static_assert(offsetof(ChannelProperties, max_channel_count) == 4);
static_assert(offsetof(ChannelProperties, flags) == 8);
static_assert(offsetof(ChannelProperties, max_transfer_bytes) == 12);
inline constexpr uint32_t kSupportsMultiChannel = 0x1;

// CREATE_SUB_CHANNELS payload: u16 sub_channel_count at payload offset 0.
inline constexpr size_t kSubChannelCountOffset = 0;

// struct vmscsi_request, Win8 form (0x34 bytes; the pre-Win8 form stops
// at win8_reserve, 0x24 bytes, and Linux 6.1 no longer speaks it).
inline constexpr size_t kCdbBytes = 16;
inline constexpr size_t kSenseBytes = 20;  // STORVSC_SENSE_BUFFER_SIZE
struct ScsiRequest {
  uint16_t length;      // 0x34
  uint8_t srb_status;   // SrbStatus (host -> guest)
  uint8_t scsi_status;  // SAM status (host -> guest)
  uint8_t port_number;
  uint8_t path_id;
  uint8_t target_id;
  uint8_t lun;
  uint8_t cdb_length;
  uint8_t sense_info_length;
  uint8_t data_in;  // DataIn
  uint8_t reserved;
  uint32_t data_transfer_length;
  uint8_t cdb_or_sense[kSenseBytes];  // cdb[16] in, sense[20] out
  // Win8 extension.
  uint16_t win8_reserve;
  uint8_t queue_tag;
  uint8_t queue_action;
  uint32_t srb_flags;
  uint32_t timeout_seconds;
  uint32_t queue_sort_key;
};
static_assert(sizeof(ScsiRequest) == 0x34);
static_assert(offsetof(ScsiRequest, srb_status) == 2);
static_assert(offsetof(ScsiRequest, scsi_status) == 3);
static_assert(offsetof(ScsiRequest, port_number) == 4);
static_assert(offsetof(ScsiRequest, path_id) == 5);
static_assert(offsetof(ScsiRequest, target_id) == 6);
static_assert(offsetof(ScsiRequest, lun) == 7);
static_assert(offsetof(ScsiRequest, cdb_length) == 8);
static_assert(offsetof(ScsiRequest, sense_info_length) == 9);
static_assert(offsetof(ScsiRequest, data_in) == 10);
static_assert(offsetof(ScsiRequest, data_transfer_length) == 12);
static_assert(offsetof(ScsiRequest, cdb_or_sense) == 16);
static_assert(offsetof(ScsiRequest, queue_tag) == 38);
static_assert(offsetof(ScsiRequest, queue_action) == 39);
static_assert(offsetof(ScsiRequest, srb_flags) == 40);
static_assert(offsetof(ScsiRequest, timeout_seconds) == 44);
static_assert(offsetof(ScsiRequest, queue_sort_key) == 48);
static_assert(sizeof(ScsiRequest) == kPayloadBytes);

// vmscsi_request.data_in.
enum class DataIn : uint8_t { kWrite = 0, kRead = 1, kUnknown = 2 };

// SRB_STATUS_* (Windows srb.h) as storvsc interprets them.
namespace srb {
inline constexpr uint8_t kSuccess = 0x01;
inline constexpr uint8_t kAborted = 0x02;
inline constexpr uint8_t kError = 0x04;
inline constexpr uint8_t kInvalidRequest = 0x06;
inline constexpr uint8_t kDataOverrun = 0x12;
inline constexpr uint8_t kInvalidLun = 0x20;
inline constexpr uint8_t kAutosenseValid = 0x80;
}  // namespace srb

}  // namespace storvsp::wire
