// storvsp::Channel: the host side of one storvsc VMBus channel (the
// primary or a sub-channel), as a sans-I/O state machine (STYLE.md P4;
// hyperv-vmbus.md §6).
//
// Input: one vmbus::IncomingPacket (copied out of the ring and validated by
// the ring reader): an inband vstor_packet, or EXECUTE_SRB as a GPA-direct
// packet whose one range is the data buffer. Output: completion packets
// (VMBus type 0xB, the transaction id echoed, a whole 64-byte vstor_packet
// with operation COMPLETE_IO) handed to a PacketSink, and for
// CREATE_SUB_CHANNELS an action the caller performs (offer sub-channels).
//
// States on the primary: Init steps (BEGIN_INITIALIZATION, then
// QUERY_PROTOCOL_VERSION until one of 0x0602/0x0600/0x0501 is proposed,
// QUERY_PROPERTIES, END_INITIALIZATION), then Ready. A sub-channel starts
// Ready with the primary's version. A packet in the wrong state, too short,
// or with an unknown operation gets a failure status, never a crash.
//
// SCSI requests go to one scsi::Disk at the configured path/target/LUN;
// every other LUN is absent: INQUIRY answers peripheral qualifier 3 / type
// 1Fh (storvsc forces INQUIRY to success), the rest SRB_STATUS_INVALID_LUN.
// Many SRBs may be in flight; their completions run on the block device's
// threads and send from there.
//
// Threads: OnPacket is called by one thread at a time (the channel's ring
// reader). The PacketSink's Send is called from that thread and from
// completion threads, concurrently. The Channel, the Disk, the GuestBuffer
// and the sink must outlive every SRB in flight (in_flight() == 0).
//
// Not here: rings, interrupts, offers and channel opening (vmbus/), the
// SCSI semantics (scsi/), hot-add/remove (ENUMERATE_BUS / REMOVE_DEVICE).
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <variant>
#include <vector>

#include "base/result.h"
#include "block/device.h"
#include "scsi/disk.h"
#include "storvsp/wire.h"
#include "vmbus/packet.h"

namespace storvsp {

// A packet for the guest: storvsp only sends completions.
struct OutgoingPacket {
  vmbus::PacketType type = vmbus::PacketType::kCompletion;
  uint64_t transaction_id = 0;
  std::array<std::byte, wire::kPacketBytes> payload{};
};

// Where completions go (the channel's host->guest ring). Must be
// thread-safe; must not call back into the Channel.
class PacketSink {
 public:
  virtual ~PacketSink() = default;
  virtual void Send(const OutgoingPacket& packet) = 0;
};

struct Config {
  // The one disk's address (vmscsi_request path_id, target_id, lun).
  uint8_t path_id = 0;
  uint8_t target_id = 0;
  uint8_t lun = 0;
  // QUERY_PROPERTIES max_transfer_bytes: clamped to the disk's maximum
  // transfer, rounded down to 4 KiB pages, at least one page (Linux 6.1
  // derives max_sectors and sg_tablesize from it; 0 would break it).
  uint32_t max_transfer_bytes = 0x10'0000;
  // Sub-channels the guest may ask for; 0 leaves multi-channel off.
  uint16_t max_sub_channels = 0;
  // block::Device queue hint for this channel's requests (e.g. its VP).
  uint32_t queue_hint = 0;
};

// What became of a packet. Everything but kIgnored was answered (if the
// guest asked for a completion); the caller may log the rest, rate-limited.
enum class [[nodiscard]] PacketResult{
    kOk,
    kIgnored,             // not a data packet storvsp takes (a completion, a GPADL packet)
    kShortPacket,         // too short for its operation: kInvalidParameter status
    kWrongState,          // kInvalidDeviceState status
    kUnknownOperation,    // kInvalidDeviceRequest status
    kVersionRefused,      // kRevisionMismatch status; Linux tries its next version
    kBadSubChannelCount,  // 0, over the limit, or multi-channel is off
    kBadRequest,          // SRB_STATUS_INVALID_REQUEST: bad CDB length, data range, direction
    kInvalidLun,          // SRB_STATUS_INVALID_LUN
};
const char* Describe(PacketResult result);

struct [[nodiscard]] Handled {
  PacketResult result = PacketResult::kOk;
  // Non-zero after a successful CREATE_SUB_CHANNELS: offer this many
  // sub-channels of this device now (the completion was already sent).
  uint16_t offer_sub_channels = 0;
};

// The data buffer of a GPA-direct range as block segments: the first
// `bytes` bytes from byte_offset into the first PFN, page by page,
// physically contiguous pages merged. Fails if the range holds fewer bytes
// or PFNs than that, or a PFN's address overflows.
base::Result<std::vector<block::Segment>> RangeToSegments(const vmbus::GpaRange& range,
                                                          uint32_t bytes);

class Channel final {
 public:
  // The primary channel, before initialization. `disk` may be null (no
  // disk: every LUN absent).
  Channel(const Config& config, scsi::Disk* disk, scsi::GuestBuffer& buffer, PacketSink& sink);
  // A sub-channel of a primary that negotiated `version`: Ready at once.
  struct SubChannelOf {
    uint16_t version = 0;
  };
  Channel(const Config& config, scsi::Disk* disk, scsi::GuestBuffer& buffer, PacketSink& sink,
          SubChannelOf primary);
  Channel(const Channel&) = delete;
  Channel& operator=(const Channel&) = delete;

  Handled OnPacket(const vmbus::IncomingPacket& packet);

  bool ready() const { return std::holds_alternative<Ready>(state_); }
  // The negotiated protocol version, once QUERY_PROTOCOL_VERSION succeeded.
  std::optional<uint16_t> version() const;
  uint32_t max_transfer_bytes() const { return max_transfer_bytes_; }
  // SRBs given to the disk whose completion callback has not returned:
  // the Channel must live until this is 0.
  uint32_t in_flight() const { return in_flight_.load(std::memory_order_acquire); }
  // SRBs given to the disk whose completion has not yet gone to the sink:
  // while this is above 0 a Send is still to come, so a ring reader may
  // poll instead of asking the guest for signals (RingChannel).
  uint32_t unanswered() const { return unanswered_.load(std::memory_order_seq_cst); }

  static bool IsSupportedVersion(uint16_t major_minor);

 private:
  struct AwaitingBegin {};
  struct AwaitingVersion {};
  struct AwaitingEnd {
    uint16_t version = 0;
  };
  struct Ready {
    uint16_t version = 0;
    bool is_sub_channel = false;
    bool sub_channels_created = false;
  };
  using State = std::variant<AwaitingBegin, AwaitingVersion, AwaitingEnd, Ready>;
  using Packet = std::array<std::byte, wire::kPacketBytes>;

  Handled HandleInit(wire::Operation operation, std::span<const std::byte> payload,
                     const vmbus::IncomingPacket& packet);
  Handled HandleCreateSubChannels(std::span<const std::byte> payload,
                                  const vmbus::IncomingPacket& packet);
  PacketResult ExecuteSrb(std::span<const std::byte> payload, const vmbus::IncomingPacket& packet);
  // Answers an SRB without touching the disk (an error, an absent LUN).
  void CompleteSrb(const Packet& request, uint64_t transaction_id, bool completion_requested,
                   uint8_t srb_status, const scsi::Outcome& outcome);
  void Reply(const vmbus::IncomingPacket& packet, uint32_t status,
             std::span<const std::byte> payload = {});

  Config config_;
  scsi::Disk* disk_;
  scsi::GuestBuffer& buffer_;
  PacketSink& sink_;
  uint32_t max_transfer_bytes_;
  State state_;
  std::atomic<uint32_t> in_flight_{0};
  std::atomic<uint32_t> unanswered_{0};
};

}  // namespace storvsp
