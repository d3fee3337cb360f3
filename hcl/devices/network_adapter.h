// NetworkAdapter: a Hyper-V synthetic NIC offered to VTL0 over VMBus for
// the stock hv_netvsc (netvsp; mana-netvsc.md §5), one channel.
//
// Per open channel: a RingChannel and an nvsp::Channel (the NVSP control
// state). The receive and send buffers are GPADLs read and written through
// the VTL0 gate (GpadlBuffer). RNDIS control messages (rndis::Control) are
// answered through the receive buffer: a sub-allocation (nvsp::
// ReceiveSlots), a transfer-page packet, freed by the guest's completion;
// replies wait in a short queue while every slot is out. Frames the guest
// sends are parsed (rndis::ParsePacket) and counted.
//
// Not yet (issue 11): a back end. Frames from VTL0 go nowhere and none
// arrive, so hcl offers this adapter only when asked (hcl.netvsp=unbacked,
// for tests of the protocol against the real driver); the MANA path and
// the loader's network come next.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

#include "base/rate_limited_log.h"
#include "base/result.h"
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
  static base::Result<std::unique_ptr<NetworkAdapter>> Create(VmbusServer& server,
                                                              Vtl0Memory& memory,
                                                              const rndis::NicFacts& nic);
  ~NetworkAdapter() override;

  uint32_t OnOpen(const vmbus::OpenRequest& request) override;
  void OnClose(uint32_t relid) override;
  void OnModify(uint32_t relid, uint32_t target_vp) override;
  void OnSignal(uint32_t relid) override;
  int SignalFd(uint32_t relid) override;

  uint64_t frames_from_guest() const { return frames_from_guest_.load(); }

 private:
  struct Open {
    uint32_t relid = 0;
    std::atomic<uint32_t> target_vp{0};
    std::unique_ptr<RingChannel> rings;
    std::unique_ptr<nvsp::Channel> protocol;
    std::unique_ptr<rndis::Control> control;
    std::optional<vmbus::Gpadl> looked_up;  // the GPADL the protocol last asked about
    std::optional<GpadlBuffer> receive;
    std::optional<GpadlBuffer> send;
    std::optional<nvsp::ReceiveSlots> slots;
    std::deque<std::vector<std::byte>> waiting;  // control replies with no free slot yet
  };

  NetworkAdapter(VmbusServer& server, Vtl0Memory& memory, const rndis::NicFacts& nic)
      : server_(server), memory_(memory), nic_(nic) {}
  void Handle(Open& open, const vmbus::IncomingPacket& packet);
  // The bytes of an RNDIS_PKT: its send-buffer section, then its ranges.
  base::Result<std::vector<std::byte>> Gather(Open& open, const nvsp::RndisPacket& rndis,
                                              const vmbus::IncomingPacket& packet);
  void HandleRndis(Open& open, const nvsp::RndisPacket& rndis, std::span<const std::byte> bytes);
  // Puts one RNDIS message in a receive slot and tells the guest.
  void Deliver(Open& open, std::span<const std::byte> message, uint32_t channel_type);
  void DeliverWaiting(Open& open);

  VmbusServer& server_;
  Vtl0Memory& memory_;
  rndis::NicFacts nic_;
  std::atomic<uint64_t> frames_from_guest_{0};
  OpenChannels<Open> open_;
  std::mutex log_mutex_;
  base::RateLimitedLog log_{16};  // guarded by log_mutex_
};

}  // namespace hcl
