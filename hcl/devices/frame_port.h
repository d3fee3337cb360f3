// FramePort: where netvsp's Ethernet frames go in hcl and where frames for
// VTL0 come from: the MANA vport hcl drives (hcl/vfio/mana_assigned.h),
// or a test's fake. Frames are whole Ethernet frames without the FCS.
//
// Transmit is called from VP threads (the channel's signal handler);
// the receiver runs on the port's own thread, one frame at a time, and
// copies what it keeps before returning. Transmit copies too (or maps and
// completes before returning), so callers may reuse their buffer.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>

namespace hcl {

struct ReceivedFrameInfo {
  // The device verified these checksums (MANA's RX completion flags).
  bool ip_checksum_ok = false;
  bool tcp_checksum_ok = false;
  bool udp_checksum_ok = false;
  uint32_t rss_hash = 0;
};

class FramePort {
 public:
  using Receiver = std::function<void(std::span<const std::byte> frame, const ReceivedFrameInfo&)>;
  virtual ~FramePort() = default;
  // Set once, before frames flow; frames that arrive before are dropped.
  virtual void SetReceiver(Receiver receiver) = 0;
  // False: dropped (the device's queue is full, or it failed).
  virtual bool Transmit(std::span<const std::byte> frame) = 0;
  virtual std::array<uint8_t, 6> mac() const = 0;
  virtual uint32_t mtu() const { return 1500; }
};

}  // namespace hcl
