// vmbus::Packet: one VMBus ring packet after it was copied out of the ring
// and validated (hyperv-vmbus.md §5.3-§5.4), as devices (storvsp, netvsp)
// receive it, and the packets they send back.
//
// The ring reader (ring.h) builds these; device protocols take them, so a
// device never sees ring offsets or guest memory, and its unit tests and
// fuzzers construct packets directly.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace vmbus {

// vmpacket_descriptor.type (hyperv-vmbus.md §5.4; Linux enum
// vmbus_packet_type).
enum class PacketType : uint16_t {
  kSynch = 0x1,
  kAddTransferPageSet = 0x2,
  kRemoveTransferPageSet = 0x3,
  kEstablishGpadl = 0x4,
  kTeardownGpadl = 0x5,
  kDataInband = 0x6,
  kDataUsingTransferPages = 0x7,
  kDataUsingGpadl = 0x8,
  kDataUsingGpaDirect = 0x9,
  kCancelRequest = 0xA,
  kCompletion = 0xB,
};

// vmpacket_descriptor.flags bit 0 (VMBUS_DATA_PACKET_FLAG_COMPLETION_REQUESTED).
inline constexpr uint16_t kPacketFlagCompletionRequested = 0x1;

// One GPA-direct range (struct vmbus_packet_mpb_array / hv_mpb_array):
// `byte_count` bytes starting `byte_offset` bytes into the first page of
// `pfns`, continuing page by page. The reader checked that pfns holds
// exactly ceil((byte_offset + byte_count) / 4096) entries, that
// byte_count > 0 and byte_offset < 4096, and that each PFN is a page
// number whose address (pfn * 4096) does not wrap; whether the pages are
// the guest's RAM is unchecked (whoever touches them goes through the
// memory gate).
struct GpaRange {
  uint32_t byte_count = 0;
  uint32_t byte_offset = 0;
  std::vector<uint64_t> pfns;
};

// One transfer-page range (struct vmtransfer_page_range).
struct TransferPageRange {
  uint32_t byte_count = 0;
  uint32_t byte_offset = 0;
};

struct IncomingPacket {
  PacketType type = PacketType::kDataInband;
  uint16_t flags = 0;             // guest-controlled
  uint64_t transaction_id = 0;    // guest-controlled, echoed in completions
  std::vector<std::byte> payload;  // the bytes after the descriptor (and ranges), copied
  std::vector<GpaRange> ranges;    // kDataUsingGpaDirect only
  // kDataUsingTransferPages only (struct vmtransfer_page_packet_header):
  // ranges of transfer page set `transfer_page_set_id`, unchecked against
  // any set (guest-controlled).
  uint16_t transfer_page_set_id = 0;
  std::vector<TransferPageRange> transfer_ranges;

  bool completion_requested() const { return (flags & kPacketFlagCompletionRequested) != 0; }
};

}  // namespace vmbus
