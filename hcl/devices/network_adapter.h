// NetworkAdapter: a Hyper-V synthetic NIC offered to VTL0 over VMBus for
// the stock hv_netvsc (netvsp; mana-netvsc.md §5), with one sub-channel
// per further VP (at most 8 channels) and RSS over them.
//
// Per open channel: a RingChannel and an nvsp::Channel. The primary's
// NVSP sets up everything: the receive and send buffers (GPADLs read and
// written through the VTL0 gate: GpadlBuffer), RNDIS control
// (rndis::Control), and on the guest's SUBCHANNEL request the sub-channels
// (offered through the server from the primary's thread, as storvsp does).
// mana-netvsc.md §5 "Subchannels": a sub-channel has no set-up of its own;
// every channel's RNDIS_PKTs name sections of the one send buffer, and
// received messages go into the one receive buffer's sub-allocations
// (nvsp::ReceiveSlots, shared; a slot is completed on the channel it went
// out on). RNDIS control replies go out on the channel the request came
// on (the primary, in Linux); replies wait in a short queue while every
// slot is out.
//
// Data path, over an optional FramePort (frame_port.h):
// - TX: of every RNDIS PACKET the guest sends on any channel (inband in a
//   send-buffer section, GPA-direct, or both) only the header and the
//   per-packet info are copied out and parsed (rndis::ParsePacketHead);
//   the frame stays in the guest's pages and port->TransmitFrom reads it
//   once, straight into the device's TX buffer (hcl's MANA driver), on
//   that channel's thread, no lock held, with the checksum and LSO info the
//   guest asked for when the port offloads (checked against the frame);
//   the completion goes back on that channel. Zero copy where the port
//   reads VTL0's pages in place (no isolation) and the frame is longer
//   than its headers: the port copies only those, and the device reads
//   the rest from the frame's guest-physical pieces (each checked as RAM
//   VTL0 may read); the packet's completion, which gives the guest its
//   section and pages back, waits until the device is done with every
//   such frame of it (PendingSend), and a send-buffer revoke waits for
//   the frames still out. Otherwise (isolation: VTL0's pages are private;
//   short frames) a frame is copied once. RX copies once (the device's
//   buffer into a receive slot).
// - RX: the port's thread builds an RNDIS PACKET (with the checksum PPI
//   when the device verified checksums, and the RSS hash when RSS chose
//   the channel) and delivers it in a receive slot on the channel the
//   guest's RSS table names for the frame's hash (rndis::Control::
//   ReceiveQueue), or the primary while RSS is off or that channel is not
//   open. While every slot is out, frames wait (at most kMaxWaitingFrames
//   or kMaxWaitingFrameBytes) in arrival order; control replies go out
//   before waiting frames. Frames before the guest opened the primary,
//   gave a receive buffer and initialized RNDIS, or that its packet filter
//   refuses, are dropped.
// Every drop is counted (Counters, Summary).
//
// Threads and locks: each channel's thread (RingChannel) runs Handle; the
// port's thread runs the receiver. mutex_ guards what they share (the
// channel table, RNDIS control, the receive buffer and slots, the waiting
// messages, the send buffer's mapping) and is held while a message is
// sent on any channel's ring, so a channel leaves the table (OnClose,
// under mutex_) before its Open is freed and nothing sends to it after.
// The receiver reaches the adapter through rx_gate_, which the destructor
// closes first. Lock order: the server's (OnOpen, OnClose),
// rx_gate_->mutex, mutex_, then RingChannel's own (Send is thread-safe);
// so nothing under mutex_ may wait for the server's (the NVSP step, which
// looks GPADLs up, and the sub-channel offer run unlocked: OnClose holds
// the server's lock while it waits for mutex_ and then joins the
// channel's thread), and the port's Transmit is called with no lock held.
//
// Without a port (hcl.netvsp=unbacked) frames from VTL0 are counted and
// dropped and none arrive.
#pragma once

#include <array>
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
  // `vp_count`: VTL0's VPs; min(8, vp_count) channels are offered (RSS
  // receive queues), the primary and sub-channels.
  static base::Result<std::unique_ptr<NetworkAdapter>> Create(VmbusServer& server,
                                                              Vtl0Memory& memory,
                                                              const rndis::NicFacts& nic,
                                                              FramePort* port,
                                                              uint32_t vp_count);
  ~NetworkAdapter() override;

  uint32_t OnOpen(const vmbus::OpenRequest& request) override;
  void OnClose(uint32_t relid) override;
  void OnModify(uint32_t relid, uint32_t target_vp) override;
  void OnSignal(uint32_t relid) override;
  int SignalFd(uint32_t relid) override;

  // The port's link changed: the guest gets an RNDIS INDICATE_STATUS
  // (MEDIA_CONNECT or MEDIA_DISCONNECT; hv_netvsc then sets the carrier)
  // and later media-state queries answer the same. Any thread.
  void SetLink(bool up);

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
    uint64_t tx_in_place = 0;   // of tx_frames, read by the device where VTL0 put them
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
  // An RNDIS message for the guest waiting for a free receive slot.
  struct Waiting {
    std::vector<std::byte> message;
    size_t frame_bytes = 0;  // 0 for a control reply
    uint32_t channel = 0;    // the sub-channel index to send it on
  };
  struct Open {
    uint32_t relid = 0;
    uint32_t index = 0;  // the sub-channel index: 0 is the primary
    uint64_t generation = 0;  // tells this open from a later one of the same channel
    std::atomic<uint32_t> target_vp{0};
    std::unique_ptr<RingChannel> rings;
    // The channel thread's only:
    std::unique_ptr<nvsp::Channel> protocol;
    std::optional<vmbus::Gpadl> looked_up;  // the GPADL the protocol last asked about
    bool receive_mapped = false;  // the primary's receive_, without the lock
    bool send_mapped = false;     // the primary's send_, without the lock
  };
  // What the receiver reaches the adapter through: null once it is going.
  struct RxGate {
    std::mutex mutex;
    NetworkAdapter* adapter = nullptr;  // guarded by mutex
  };
  enum class Delivery { kSent, kNoBuffer, kNoSlot, kTooLarge, kWriteFailed };
  struct AtomicCounters {
    std::atomic<uint64_t> tx_frames{0}, tx_bytes{0}, tx_refused{0}, tx_malformed{0},
        tx_bad_size{0}, tx_no_port{0}, tx_in_place{0}, rx_frames{0}, rx_bytes{0},
        rx_not_ready{0}, rx_filtered{0}, rx_overflow{0}, rx_bad_size{0}, rx_write_failed{0},
        rx_discarded{0};
  };
  // An RNDIS_PKT from the guest whose completion (mana-netvsc.md §5 TX:
  // it releases the send-buffer section and the GPA-direct pages) waits
  // for the frames of it the device reads in place. One hold is the
  // channel thread's while it parses the packet, one each such frame's.
  struct PendingSend {
    uint32_t channel = 0;      // the sub-channel index it came on
    uint64_t generation = 0;   // of that channel's Open
    uint64_t transaction_id = 0;
    bool completion_requested = false;
    std::atomic<uint32_t> status{0};
    std::atomic<uint32_t> holds{1};
  };

  NetworkAdapter(VmbusServer& server, Vtl0Memory& memory, const rndis::NicFacts& nic,
                 FramePort* port)
      : server_(server), memory_(memory), nic_(nic), port_(port) {}
  void Handle(Open& open, const vmbus::IncomingPacket& packet);
  // The primary's buffers, mapped or dropped as its NVSP state says.
  void UpdateBuffers(Open& open, const nvsp::Outcome& outcome);
  // Where an RNDIS_PKT's bytes are: its send-buffer section, then its
  // GPA ranges, read through the VTL0 gate (network_adapter.cpp).
  class PacketBytes;
  base::Result<PacketBytes> Locate(const nvsp::RndisPacket& rndis,
                                   const vmbus::IncomingPacket& packet);
  // RNDIS control (channel type 1): the messages copied out, then parsed.
  void HandleControl(Open& open, std::span<const std::byte> bytes);
  // Data (channel type 0): each PACKET's header and per-packet info are
  // copied out and parsed; its frame is read once, by the port, straight
  // into the device's buffer (FramePort::TransmitFrom). An Error: the
  // guest's memory could not be read.
  base::Result<void> TransmitPackets(Open& open, const PacketBytes& bytes,
                                     const std::shared_ptr<PendingSend>& pending);
  // One frame the guest sent, `frame_bytes` long at `frame_at` of
  // `bytes`: checked, then to the port (no lock held), in place if it can
  // (holding `pending` until the device is done with it).
  void SendFrame(Open& open, std::span<const rndis::PerPacketInfo> infos, const PacketBytes& bytes,
                 size_t frame_at, size_t frame_bytes, const std::shared_ptr<PendingSend>& pending);
  // The frame's bytes past the port's head as guest-physical pieces the
  // device may read, and the port takes it; false: not in place (the
  // caller copies it).
  bool SendInPlace(const PacketBytes& bytes, size_t frame_at, size_t frame_bytes,
                   const FramePort::FrameReader& read, const TxOffload& offload,
                   const std::shared_ptr<PendingSend>& pending, bool& taken);
  // A hold on `pending` ends; the last one sends its completion, from the
  // channel's own thread (`open`) or, found again by index and
  // generation under mutex_, from the port's (`open` null).
  void ReleaseSend(Open* open, PendingSend& pending);
  // Waits (bounded) until the device reads no frame in place: before the
  // guest's pages may go back to it other than by a completion.
  void WaitForInPlaceFrames();
  void CountMalformed(const Open& open, const char* what);
  // The port's thread: one received frame.
  void Receive(std::span<const std::byte> frame, const ReceivedFrameInfo& info);
  // Puts one RNDIS message in a receive slot and tells the guest on
  // sub-channel `channel` (the primary if that is not open).
  Delivery DeliverLocked(uint32_t channel, std::span<const std::byte> message,
                         uint32_t channel_type);
  // A control message (channel type 1: a reply, an indication) on
  // sub-channel `channel`, in order behind those already waiting; it waits
  // if every slot is out (at most kMaxWaitingReplies, then dropped).
  void SendControlLocked(uint32_t channel, std::vector<std::byte> message);
  // Waiting messages into free slots: control replies first (the guest
  // blocks on each; frames may wait or drop), then frames in order.
  void DeliverWaitingLocked();
  void CountDelivery(Delivery delivery, size_t frame_bytes);
  // Forgets the receive buffer and what waits for it (the primary closing,
  // the buffer revoked), counting the frames dropped.
  void DropReceiveBufferLocked();
  void Complain(const Open& open, const char* what);

  VmbusServer& server_;
  Vtl0Memory& memory_;
  rndis::NicFacts nic_;  // receive_queues: the channels offered
  FramePort* port_;
  std::shared_ptr<RxGate> rx_gate_ = std::make_shared<RxGate>();
  bool link_up_ = true;  // guarded by mutex_; what a new Control starts with
  std::atomic<uint64_t> tx_parsed_{0};
  std::atomic<uint64_t> next_generation_{1};
  std::atomic<uint64_t> tx_in_place_out_{0};  // frames the device may still read
  AtomicCounters counters_;
  OpenChannels<Open> open_;

  std::mutex mutex_;
  // Guarded by mutex_ (every channel's thread, the port's thread):
  std::array<Open*, rndis::kMaxReceiveQueues> channels_{};  // by sub-channel index
  std::unique_ptr<rndis::Control> control_;  // from the primary's open
  std::optional<GpadlBuffer> receive_;
  std::optional<nvsp::ReceiveSlots> slots_;
  uint32_t slot_bytes_ = 0;
  std::deque<Waiting> waiting_replies_;  // control, no free slot yet
  std::deque<Waiting> waiting_frames_;   // data, no free slot yet
  size_t waiting_frame_bytes_ = 0;
  // TX copies the pointer and reads unlocked; a revoke drops the mapping
  // for every later packet.
  std::shared_ptr<const GpadlBuffer> send_;
  // What a sub-channel's NVSP takes over: set while the primary is ready.
  std::optional<nvsp::Channel::SubChannelOf> sub_channel_basis_;

  std::mutex log_mutex_;
  base::RateLimitedLog log_{16};  // guarded by log_mutex_
};

}  // namespace hcl
