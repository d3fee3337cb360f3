// VMBus ring-buffer and GPADL wire formats (hyperv-vmbus.md §5.1, §5.3,
// §5.4; Linux 6.1 include/linux/hyperv.h struct hv_ring_buffer,
// vmpacket_descriptor, vmbus_packet_mpb_array, vmtransfer_page_packet_header,
// vmbus_channel_gpadl_header / _body). Little-endian throughout.
//
// As in wire.h, the structs document and pin the layouts (static_assert on
// sizeof and offsetof, STYLE.md P5); code never casts guest bytes to them,
// it loads and stores each field at its offsetof with base::LoadLe/StoreLe.
// Kept apart from wire.h (channel messages) so the ring and the channel
// server can grow independently.
#pragma once

#include <cstddef>
#include <cstdint>

#include "base/page.h"
#include "vmbus/wire.h"

namespace vmbus::wire {

// ---- Ring buffers (hyperv-vmbus.md §5.3) ----

// struct hv_ring_buffer: one header page, then the data area. Indices are
// byte offsets into the data area, 8-aligned. Every field is shared with
// the guest: guest-controlled whenever the guest writes it.
struct RingHeader {
  uint32_t write_index;      // written by the ring's writer
  uint32_t read_index;       // written by the ring's reader
  uint32_t interrupt_mask;   // written by the reader: "don't signal me"
  uint32_t pending_send_sz;  // written by the writer: "signal me when this much is free"
  uint32_t reserved1[12];
  uint32_t feature_bits;  // bit 0: pending_send_sz supported (Linux sets it on both rings)
};
static_assert(offsetof(RingHeader, write_index) == 0);
static_assert(offsetof(RingHeader, read_index) == 4);
static_assert(offsetof(RingHeader, interrupt_mask) == 8);
static_assert(offsetof(RingHeader, pending_send_sz) == 12);
static_assert(offsetof(RingHeader, feature_bits) == 64);
inline constexpr uint32_t kRingFeaturePendingSendSize = 0x1;
// The header takes a whole page; the data area starts on the next.
inline constexpr uint64_t kRingHeaderBytes = base::kPageSize;
// A ring is its header page plus at least one data page.
inline constexpr uint32_t kMinRingPages = 2;

// struct vmpacket_descriptor (hyperv-vmbus.md §5.4).
struct PacketDescriptor {
  uint16_t type;     // PacketType
  uint16_t offset8;  // payload offset from the descriptor, in 8-byte units
  uint16_t length8;  // packet length without the trailer, in 8-byte units
  uint16_t flags;    // bit 0: completion requested
  uint64_t transaction_id;
};
static_assert(sizeof(PacketDescriptor) == 16);
static_assert(offsetof(PacketDescriptor, type) == 0);
static_assert(offsetof(PacketDescriptor, offset8) == 2);
static_assert(offsetof(PacketDescriptor, length8) == 4);
static_assert(offsetof(PacketDescriptor, flags) == 6);
static_assert(offsetof(PacketDescriptor, transaction_id) == 8);

// Each packet ends with an 8-byte trailer: the write index the packet was
// written at, shifted left by 32 (Linux hv_ringbuffer_write prev_indices).
inline constexpr uint32_t kPacketTrailerBytes = 8;
inline constexpr uint32_t kPacketAlignment = 8;

// struct vmbus_packet_mpb_array: a GPA-direct packet's header after the
// descriptor, followed by range_count ranges, each a GpaRangeHeader and
// ceil((byte_offset + byte_count) / 4096) u64 PFNs.
struct GpaDirectHeader {
  PacketDescriptor descriptor;
  uint32_t reserved;
  uint32_t range_count;
};
static_assert(sizeof(GpaDirectHeader) == 24);
static_assert(offsetof(GpaDirectHeader, range_count) == 20);

// struct hv_mpb_array / gpa_range without its PFN array: also the range
// header inside GPADL messages.
struct GpaRangeHeader {
  uint32_t byte_count;
  uint32_t byte_offset;
};
static_assert(sizeof(GpaRangeHeader) == 8);
static_assert(offsetof(GpaRangeHeader, byte_offset) == 4);

// struct vmtransfer_page_packet_header, followed by range_count
// TransferPageRange {byte_count u32, byte_offset u32}.
struct TransferPageHeader {
  PacketDescriptor descriptor;
  uint16_t transfer_page_set_id;
  uint8_t sender_owns_set;
  uint8_t reserved;
  uint32_t range_count;
};
static_assert(sizeof(TransferPageHeader) == 24);
static_assert(offsetof(TransferPageHeader, transfer_page_set_id) == 16);
static_assert(offsetof(TransferPageHeader, sender_owns_set) == 18);
static_assert(offsetof(TransferPageHeader, range_count) == 20);
inline constexpr size_t kTransferPageRangeBytes = 8;

// ---- GPADL messages (hyperv-vmbus.md §5.1, types 8 and 9) ----

// struct vmbus_channel_gpadl_header (packed): the header, then range_buflen
// bytes of ranges {byte_count u32, byte_offset u32, pfn u64[]} of which
// this message carries as many whole u64 words as fit in 240 bytes; the
// rest follows in GpadlBody messages. range_buflen counts bytes of the
// whole range list (range headers included).
struct GpadlHeader {
  MessageHeader header;
  uint32_t child_relid;
  uint32_t gpadl;
  uint16_t range_buflen;
  uint16_t range_count;
  // GpaRangeHeader ranges[] follows at offset 20.
};
inline constexpr size_t kGpadlHeaderChildRelidOffset = 8;
inline constexpr size_t kGpadlHeaderGpadlOffset = 12;
inline constexpr size_t kGpadlHeaderRangeBuflenOffset = 16;
inline constexpr size_t kGpadlHeaderRangeCountOffset = 18;
inline constexpr size_t kGpadlHeaderRangesOffset = 20;
static_assert(offsetof(GpadlHeader, child_relid) == kGpadlHeaderChildRelidOffset);
static_assert(offsetof(GpadlHeader, gpadl) == kGpadlHeaderGpadlOffset);
static_assert(offsetof(GpadlHeader, range_buflen) == kGpadlHeaderRangeBuflenOffset);
static_assert(offsetof(GpadlHeader, range_count) == kGpadlHeaderRangeCountOffset);
// The C struct is __packed; ours pads to 20 (no padding inside).
static_assert(sizeof(GpadlHeader) == kGpadlHeaderRangesOffset);
// Linux fits 26 PFNs after one range header: (240 - 20 - 8) / 8.
inline constexpr size_t kGpadlHeaderMaxPfns =
    (kMaxMessageBytes - kGpadlHeaderRangesOffset - sizeof(GpaRangeHeader)) / sizeof(uint64_t);
static_assert(kGpadlHeaderMaxPfns == 26);

// struct vmbus_channel_gpadl_body: the header, then u64 words continuing
// the header's range list. Linux 6.1 leaves msgnumber 0.
struct GpadlBody {
  MessageHeader header;
  uint32_t message_number;
  uint32_t gpadl;
  // uint64_t words[] follows at offset 16.
};
inline constexpr size_t kGpadlBodyMessageNumberOffset = 8;
inline constexpr size_t kGpadlBodyGpadlOffset = 12;
inline constexpr size_t kGpadlBodyWordsOffset = 16;
static_assert(offsetof(GpadlBody, message_number) == kGpadlBodyMessageNumberOffset);
static_assert(offsetof(GpadlBody, gpadl) == kGpadlBodyGpadlOffset);
static_assert(sizeof(GpadlBody) == kGpadlBodyWordsOffset);
inline constexpr size_t kGpadlBodyMaxPfns =
    (kMaxMessageBytes - kGpadlBodyWordsOffset) / sizeof(uint64_t);
static_assert(kGpadlBodyMaxPfns == 28);

}  // namespace vmbus::wire
