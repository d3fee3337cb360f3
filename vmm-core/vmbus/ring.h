// VMBus ring buffers, host side, sans I/O (hyperv-vmbus.md §5.3-§5.5).
//
// A channel's ring GPADL holds two rings: the guest->host ring (the host
// reads it: InRing) and the host->guest ring (the host writes it:
// OutRing). Each is a header page (indices, interrupt mask, pending send
// size, feature bits) and a data area of packets: a 16-byte descriptor,
// the payload padded to 8 bytes, and an 8-byte trailer.
//
// InRing copies each packet out of guest memory once, then validates and
// parses the copy into an IncomingPacket (packet.h); it keeps its own read
// position privately and only publishes it, never trusting the guest's
// read_index for it. A broken ring (an index out of range or unaligned, a
// descriptor whose lengths do not fit, an unknown packet type) is an
// Error, kept apart from "empty" (std::nullopt): the caller should stop
// serving the channel. OutRing builds packets and refuses, writing
// nothing, when one would fill the ring.
//
// Both report when the guest must be signalled (GuestSignal); raising the
// signal (SIEF bit, SINT) is the caller's business, as are threads, waits
// and locks: one thread at a time per ring.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "base/result.h"
#include "vmbus/packet.h"
#include "vmbus/ring_memory.h"

namespace vmbus {

// The two rings of a channel's ring GPADL (hyperv-vmbus.md §5.3): pages
// [0, downstream_offset) are the guest->host ring, the rest the
// host->guest ring; each has at least a header and one data page.
struct RingLayout {
  std::vector<uint64_t> in_pfns;   // guest->host: the host reads
  std::vector<uint64_t> out_pfns;  // host->guest: the host writes

  // `gpadl_pfns` and `downstream_offset_pages` (OpenChannel's
  // downstream_ring_page_offset) are guest-controlled.
  static base::Result<RingLayout> Create(std::span<const uint64_t> gpadl_pfns,
                                         uint32_t downstream_offset_pages);
};

// Whether the caller must signal the guest (hyperv-vmbus.md §5.5: set the
// channel's bit in SIEF area 2 of its target VP, SINT2).
enum class [[nodiscard]] GuestSignal { kNotNeeded, kNeeded };

// The largest packet (descriptor to payload end) InRing accepts unless told
// otherwise: well above what Linux 6.1's storvsc and netvsc send (a
// descriptor, a few hundred PFNs, a 64-byte vstor packet).
inline constexpr uint32_t kDefaultMaxInPacketBytes = 64 * 1024;

// Parses one packet copied out of a ring (`packet` is the descriptor
// through the end of the payload, length8 * 8 bytes, trailer excluded):
// checks offset8 and length8 against the copy and decodes the types a
// guest sends the host: inband, GPA direct, transfer pages, completion.
base::Result<IncomingPacket> ParsePacket(std::span<const std::byte> packet);

class InRing {
 public:
  // `pfns` is RingLayout::in_pfns. Reads the guest's read_index once as the
  // starting position, and sets feature bit 0 (pending_send_sz supported).
  static base::Result<InRing> Create(PageAccess& memory, std::span<const uint64_t> pfns,
                                     uint32_t max_packet_bytes = kDefaultMaxInPacketBytes);

  // The packet at the read position, copied and validated; std::nullopt if
  // the ring is empty; an Error if the ring is corrupt. Consumes nothing:
  // a second Read returns the same packet until Consume.
  base::Result<std::optional<IncomingPacket>> Read();

  // Frees the packet the last Read returned: advances the read position and
  // publishes it (release). kNeeded when the guest asked to be told about
  // free space (pending_send_sz) and this read made enough (§5.3).
  base::Result<GuestSignal> Consume();

  // Whether a packet is waiting (the write index differs from the read
  // position), for a poll loop; an Error if the write index is corrupt.
  base::Result<bool> HasData();

  // The reader's interrupt_mask (hyperv-vmbus.md §5.3: Linux masks while
  // polling). Mask stops the guest signalling on writes. Unmask re-opens
  // signalling and then re-checks for data: true means a packet slipped in
  // before the unmask was seen and the caller must keep polling.
  base::Result<void> Mask();
  base::Result<bool> Unmask();

  uint32_t read_index() const { return read_index_; }
  uint32_t data_bytes() const { return view_.data_bytes(); }

 private:
  InRing(RingView view, uint32_t read_index, uint32_t max_packet_bytes)
      : view_(std::move(view)), read_index_(read_index), max_packet_bytes_(max_packet_bytes) {}

  // The guest's write index, or an Error if out of range or unaligned.
  base::Result<uint32_t> LoadWriteIndex();

  RingView view_;
  uint32_t read_index_;          // ours, never re-read from the guest
  uint32_t max_packet_bytes_;
  uint32_t unconsumed_bytes_ = 0;  // ring bytes of the packet the last Read returned
};

// One packet for the guest. `header_extension` goes right after the
// descriptor, before the payload (offset8 points past it, padded to 8):
// empty for inband and completion packets, the transfer-page header tail
// and ranges for kDataUsingTransferPages. `payload` is gathered from its
// parts.
struct OutgoingPacket {
  PacketType type = PacketType::kDataInband;
  uint16_t flags = 0;
  uint64_t transaction_id = 0;
  std::span<const std::byte> header_extension;
  std::span<const std::span<const std::byte>> payload;
};

enum class WriteStatus { kWritten, kFull };
struct [[nodiscard]] WriteResult {
  WriteStatus status = WriteStatus::kFull;
  GuestSignal signal = GuestSignal::kNotNeeded;
};

class OutRing {
 public:
  // `pfns` is RingLayout::out_pfns. Reads the guest's write_index once as
  // the starting position, and sets feature bit 0.
  static base::Result<OutRing> Create(PageAccess& memory, std::span<const uint64_t> pfns);

  // Ring bytes a packet takes: descriptor, extension and payload each
  // padded as written, plus the trailer; nullopt past length8's range.
  static std::optional<uint32_t> PacketRingBytes(size_t header_extension_bytes,
                                                 size_t payload_bytes);

  // Writes `packet` and publishes the write index (release). kFull, with
  // nothing written, when it would not fit now (available <= needed,
  // §5.3); an Error when it could never fit, or the guest's read_index is
  // corrupt. kNeeded when the guest's interrupt_mask is 0 and the ring was
  // empty before this packet (§5.3).
  base::Result<WriteResult> Write(const OutgoingPacket& packet);
  // A kCompletion packet echoing `transaction_id` exactly (§5.4).
  base::Result<WriteResult> WriteCompletion(uint64_t transaction_id,
                                            std::span<const std::byte> payload);

  // Whether a packet of `ring_bytes` (PacketRingBytes) fits now.
  base::Result<bool> HasRoomFor(uint32_t ring_bytes);

  // The writer's pending_send_sz (§5.3): asks the guest to signal once this
  // many bytes are free; 0 withdraws it. Set it, then re-check HasRoomFor
  // before waiting: the guest may have read everything in between.
  base::Result<void> SetPendingSendSize(uint32_t ring_bytes);

  uint32_t write_index() const { return write_index_; }
  uint32_t data_bytes() const { return view_.data_bytes(); }

 private:
  OutRing(RingView view, uint32_t write_index) : view_(std::move(view)), write_index_(write_index) {}

  // The guest's read index, or an Error if out of range or unaligned.
  base::Result<uint32_t> LoadReadIndex();

  RingView view_;
  uint32_t write_index_;  // ours, never re-read from the guest
};

}  // namespace vmbus
