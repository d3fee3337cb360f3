// FramePort: where netvsp's Ethernet frames go in hcl and where frames for
// VTL0 come from: the MANA vport hcl drives (hcl/vfio/mana_assigned.h),
// or a test's fake. Frames are whole Ethernet frames without the FCS.
//
// Transmit is called from VP threads (the channel's signal handler);
// the receiver runs on the port's own thread, one frame at a time, and
// copies what it keeps before returning. Transmit copies too (or maps and
// completes before returning), so callers may reuse their buffer;
// TransmitFrom reads the frame from the guest once, before returning;
// TransmitInPlace (zero copy) has the device read the frame where the
// guest put it and says when it is done with it.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "base/result.h"
#include "block/device.h"

namespace hcl {

// The largest frame a TCP segmentation offload hands a port: what netvsp
// advertises (NDIS LSOv2 maximum, 62780 bytes as Hyper-V does) plus headers.
inline constexpr uint32_t kLsoMaxPayloadBytes = 62780;
inline constexpr size_t kMaxLsoFrameBytes = kLsoMaxPayloadBytes + 256;

struct ReceivedFrameInfo {
  // The device verified these checksums (MANA's RX completion flags).
  bool ip_checksum_ok = false;
  bool tcp_checksum_ok = false;
  bool udp_checksum_ok = false;
  uint32_t rss_hash = 0;
};

// What the guest asked the NIC to finish for a frame it sends (netvsc's
// checksum and LSOv2 per-packet info, mana-netvsc.md §5 "TX"): checksums
// the guest left (Linux's CHECKSUM_PARTIAL: the pseudo-header sum is in
// the L4 checksum field), or TCP segmentation into `lso_mss`-byte
// segments (IP lengths and checksums zeroed by the guest for the device).
struct TxOffload {
  uint16_t l4_offset = 0;  // the transport header's offset in the frame
  bool ipv4 = false;
  bool ipv6 = false;
  bool tcp_checksum = false;
  bool udp_checksum = false;
  uint32_t lso_mss = 0;  // 0: no segmentation
  // An 802.1Q tag for the device to insert after the MAC addresses
  // (netvsc's IEEE_8021Q_INFO per-packet info): PCP[15:13], DEI[12],
  // VID[11:0]. l4_offset is in the frame as given, without the tag.
  bool insert_vlan = false;
  uint16_t vlan_tci = 0;
  // Checksums or segmentation (the requests whose offsets are checked).
  bool any() const { return tcp_checksum || udp_checksum || lso_mss != 0; }
};

class FramePort {
 public:
  using Receiver = std::function<void(std::span<const std::byte> frame, const ReceivedFrameInfo&)>;
  virtual ~FramePort() = default;
  // Set once, before frames flow; frames that arrive before are dropped.
  virtual void SetReceiver(Receiver receiver) = 0;
  // The device's link went up or down (a failed device: down for good).
  // Called on the port's thread; a port whose link never changes never
  // calls it.
  using LinkListener = std::function<void(bool up)>;
  virtual void SetLinkListener(LinkListener /*listener*/) {}
  // False: dropped (the device's queue is full, or it failed). An
  // offload is asked for only when offloads() said yes.
  virtual bool Transmit(std::span<const std::byte> frame, const TxOffload& offload) = 0;
  // The same for a frame of `bytes` that stays where the guest put it:
  // `read(out)` copies the frame's first out.size() bytes (here all of
  // them) into `out`, from the guest's memory; a failed read drops the
  // frame. A port that copies frames into device buffers has `read` write
  // there, the frame's one copy; this default stages it in memory and
  // calls Transmit.
  using FrameReader = std::function<base::Result<void>(std::span<std::byte> out)>;
  virtual bool TransmitFrom(size_t bytes, const FrameReader& read, const TxOffload& offload) {
    std::vector<std::byte> frame(bytes);
    if (!read(frame)) return false;
    return Transmit(frame, offload);
  }
  // Zero copy, where reads_in_place(): a frame of `bytes` >
  // kInPlaceHeadBytes of which `read` copies only the first
  // kInPlaceHeadBytes (its headers), the device reading the rest in place
  // from `rest` (guest-physical pieces in order, at most
  // kMaxInPlacePieces, bytes - kInPlaceHeadBytes in all, checked as memory
  // the guest lets it read). `done(sent)` runs exactly once, when the
  // device no longer reads `rest`, on any thread (maybe before this
  // returns) with none of the port's locks held. False: refused (queue
  // full, failed), and `done` never runs.
  static constexpr size_t kInPlaceHeadBytes = 256;
  static constexpr size_t kMaxInPlacePieces = 24;
  using SendDone = std::function<void(bool sent)>;
  virtual bool reads_in_place() const { return false; }
  virtual bool TransmitInPlace(size_t /*bytes*/, const FrameReader& /*read*/,
                               std::span<const block::Segment> /*rest*/,
                               const TxOffload& /*offload*/, SendDone /*done*/) {
    return false;
  }
  // Whether the device finishes checksums, segments TCP and inserts VLAN
  // tags (then frames up to kMaxLsoFrameBytes may come with lso_mss set).
  virtual bool offloads() const { return false; }
  virtual std::array<uint8_t, 6> mac() const = 0;
  virtual uint32_t mtu() const { return 1500; }
};

}  // namespace hcl
