// NetworkAdapter: a Hyper-V synthetic NIC offered to VTL0 over VMBus for
// the stock hv_netvsc (netvsp; mana-netvsc.md §5), one channel.
//
// Per open channel: a RingChannel and an nvsp::Channel (the NVSP control
// state). The receive and send buffers are GPADLs read and written through
// the VTL0 gate (GpadlBuffer). RNDIS control messages (rndis::Control) are
// answered through the receive buffer: a sub-allocation (nvsp::
// ReceiveSlots), a transfer-page packet, freed by the guest's completion;
// replies wait in a short queue while every slot is out.
//
// Data path, over an optional FramePort (frame_port.h):
// - TX: every RNDIS PACKET the guest sends (inband in a send-buffer
//   section, GPA-direct, or both) is parsed (rndis::ParsePacket) and its
//   frame handed to port->Transmit on the channel's thread, no lock held.
//   Per-packet info is ignored: no offload is advertised, so a checksum or
//   LSO PPI means nothing, and a frame longer than MTU + 18 (an LSO frame)
//   is dropped rather than trusted.
// - RX: the port's thread builds an RNDIS PACKET (with the checksum PPI
//   when the device verified checksums) and delivers it like a control
//   reply, in a receive slot on the primary channel (channel_type 0).
//   While every slot is out, frames wait (at most kMaxWaitingFrames or
//   kMaxWaitingFrameBytes); control replies go out before waiting frames.
//   Frames before the guest opened the channel, gave a receive buffer and
//   initialized RNDIS, or that its packet filter refuses, are dropped.
// Every drop is counted (Counters, Summary).
//
// Threads: the channel's thread (RingChannel) runs Handle; the port's
// thread runs the receiver. Open::mutex guards what both touch; the
// receiver finds the primary channel under rx_gate_->mutex, which OnClose
// and the destructor take before stopping a channel, so a channel is never
// freed under a frame. Lock order: the server's (OnOpen, OnClose),
// rx_gate_->mutex, Open::mutex, then RingChannel's own (Send is
// thread-safe); so nothing under Open::mutex may wait for the server's
// (the NVSP step, which looks GPADLs up, runs unlocked), and the port's
// Transmit is called with no lock held.
//
// Without a port (hcl.netvsp=unbacked) frames from VTL0 are counted and
// dropped and none arrive.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "base/rate_limited_log.h"
#include "base/result.h"
#include "devices/frame_port.h"
#include "devices/gpadl_buffer.h"
#include "devices/open_channels.h"
#include "devices/ring_channel.h"
#include "nvsp/channel.h"
#include "nvsp/receive_slots.h"
#include "paravisor/vmbus_server.h"
#include "rndis/control.h"

namespace hcl {

class NetworkAdapter final : public VmbusDevice {
 public:
  // With a `port` (which must outlive the adapter), the guest gets the
  // port's MAC and MTU instead of `nic`'s, and the adapter sets the port's
  // receiver. nullptr: no back end.
  static base::Result<std::unique_ptr<NetworkAdapter>> Create(VmbusServer& server,
                                                              Vtl0Memory& memory,
                                                              const rndis::NicFacts& nic,
                                                              FramePort* port);
  ~NetworkAdapter() override;

  uint32_t OnOpen(const vmbus::OpenRequest& request) override;
  void OnClose(uint32_t relid) override;
  void OnModify(uint32_t relid, uint32_t target_vp) override;
  void OnSignal(uint32_t relid) override;
  int SignalFd(uint32_t relid) override;

  // Frames while every receive slot is out: at most this many, and bytes.
  static constexpr size_t kMaxWaitingFrames = 256;
  static constexpr size_t kMaxWaitingFrameBytes = 1u << 20;

  struct Counters {
    // Guest -> port.
    uint64_t tx_frames = 0;     // taken by the port
    uint64_t tx_bytes = 0;
    uint64_t tx_refused = 0;    // the port said no (queue full, failed)
    uint64_t tx_malformed = 0;  // an RNDIS message that is no valid PACKET
    uint64_t tx_bad_size = 0;   // shorter than an Ethernet header, longer than MTU + 18
    uint64_t tx_no_port = 0;    // unbacked
    // Port -> guest.
    uint64_t rx_frames = 0;     // written in a receive slot and sent
    uint64_t rx_bytes = 0;
    uint64_t rx_not_ready = 0;  // no open channel, receive buffer or RNDIS init yet
    uint64_t rx_filtered = 0;   // the packet filter (0: nothing) or not our MAC
    uint64_t rx_overflow = 0;   // every slot out and the waiting frames at their bound
    uint64_t rx_bad_size = 0;   // shorter than an Ethernet header, or larger than a slot
    uint64_t rx_write_failed = 0;  // the receive buffer could not be written
    uint64_t rx_discarded = 0;  // waiting when the channel closed or the buffer went
  };
  Counters counters() const;
  // One line, no newline: "netvsp: tx N frames N bytes (...); rx ...".
  std::string Summary() const;
  uint64_t frames_from_guest() const { return tx_parsed_.load(); }

 private:
  struct WaitingFrame {
    std::vector<std::byte> message;  // the RNDIS PACKET
    size_t frame_bytes = 0;
  };
  struct Open {
    uint32_t relid = 0;
    std::atomic<uint32_t> target_vp{0};
    std::unique_ptr<RingChannel> rings;
    std::mutex mutex;
    // Guarded by mutex (the channel's thread and the port's thread):
    std::unique_ptr<rndis::Control> control;  // the packet filter
    std::optional<GpadlBuffer> receive;
    std::optional<nvsp::ReceiveSlots> slots;
    uint32_t slot_bytes = 0;
    std::deque<std::vector<std::byte>> waiting_replies;  // control, no free slot yet
    std::deque<WaitingFrame> waiting_frames;             // data, no free slot yet
    size_t waiting_frame_bytes = 0;
    // The channel thread's only:
    std::unique_ptr<nvsp::Channel> protocol;
    std::optional<vmbus::Gpadl> looked_up;  // the GPADL the protocol last asked about
    std::optional<GpadlBuffer> send;
    bool receive_mapped = false;  // receive.has_value(), without the lock
  };
  // What the receiver reaches the adapter through: null once it is going.
  struct RxGate {
    std::mutex mutex;
    NetworkAdapter* adapter = nullptr;  // guarded by mutex
  };
  enum class Delivery { kSent, kNoBuffer, kNoSlot, kTooLarge, kWriteFailed };
  struct AtomicCounters {
    std::atomic<uint64_t> tx_frames{0}, tx_bytes{0}, tx_refused{0}, tx_malformed{0},
        tx_bad_size{0}, tx_no_port{0}, rx_frames{0}, rx_bytes{0}, rx_not_ready{0},
        rx_filtered{0}, rx_overflow{0}, rx_bad_size{0}, rx_write_failed{0}, rx_discarded{0};
  };

  NetworkAdapter(VmbusServer& server, Vtl0Memory& memory, const rndis::NicFacts& nic,
                 FramePort* port)
      : server_(server), memory_(memory), nic_(nic), port_(port) {}
  void Handle(Open& open, const vmbus::IncomingPacket& packet);
  // The bytes of an RNDIS_PKT: its send-buffer section, then its ranges.
  base::Result<std::vector<std::byte>> Gather(Open& open, const nvsp::RndisPacket& rndis,
                                              const vmbus::IncomingPacket& packet);
  void HandleRndis(Open& open, const nvsp::RndisPacket& rndis, std::span<const std::byte> bytes);
  // One frame the guest sent: to the port (no lock held).
  void TransmitFrame(Open& open, std::span<const std::byte> message);
  // The port's thread: one received frame.
  void Receive(std::span<const std::byte> frame, const ReceivedFrameInfo& info);
  // Puts one RNDIS message in a receive slot and tells the guest.
  Delivery DeliverLocked(Open& open, std::span<const std::byte> message, uint32_t channel_type);
  // Waiting messages into free slots: control replies first (the guest
  // blocks on each; frames may wait or drop), then frames in order.
  void DeliverWaitingLocked(Open& open);
  void CountDelivery(Delivery delivery, size_t frame_bytes);
  // Drops the waiting frames (channel closing, receive buffer revoked).
  void DiscardWaitingLocked(Open& open);
  void Complain(const Open& open, const char* what);

  VmbusServer& server_;
  Vtl0Memory& memory_;
  rndis::NicFacts nic_;
  FramePort* port_;
  std::shared_ptr<RxGate> rx_gate_ = std::make_shared<RxGate>();
  Open* primary_ = nullptr;  // guarded by rx_gate_->mutex
  std::atomic<uint64_t> tx_parsed_{0};
  AtomicCounters counters_;
  OpenChannels<Open> open_;
  std::mutex log_mutex_;
  base::RateLimitedLog log_{16};  // guarded by log_mutex_
};

}  // namespace hcl
