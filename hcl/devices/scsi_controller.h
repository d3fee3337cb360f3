// ScsiController: a Hyper-V synthetic SCSI controller offered to VTL0 over
// VMBus (storvsp; hyperv-vmbus.md §6), one disk at LUN 0 served by a
// block::Device (hcl's NVMe driver: the paravisor's storage translation).
//
// Per open channel (the primary and one sub-channel per extra VP, as the
// guest asks with CREATE_SUB_CHANNELS): a RingChannel (rings and thread)
// and a storvsp::Channel (the protocol). SRBs go to scsi::Disk, whose data
// segments pass the VTL0 gate (GatedBlockDevice) before the back end sees
// them: zero copy, never into memory VTL0 may not touch.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <vector>

#include "base/rate_limited_log.h"
#include "base/result.h"
#include "block/device.h"
#include "devices/open_channels.h"
#include "devices/ring_channel.h"
#include "devices/vtl0_access.h"
#include "paravisor/vmbus_server.h"
#include "scsi/disk.h"
#include "storvsp/channel.h"

namespace hcl {

class ScsiController final : public VmbusDevice {
 public:
  // Offers the controller (instance `instance_id`); `disk` must outlive it.
  static base::Result<std::unique_ptr<ScsiController>> Create(VmbusServer& server,
                                                              Vtl0Memory& memory,
                                                              block::Device& disk,
                                                              uint32_t vp_count,
                                                              uint8_t instance_id);
  ~ScsiController() override;

  uint32_t OnOpen(const vmbus::OpenRequest& request) override;
  void OnClose(uint32_t relid) override;
  void OnModify(uint32_t relid, uint32_t target_vp) override;
  void OnSignal(uint32_t relid) override;
  int SignalFd(uint32_t relid) override;
  // RingChannel::set_poll_limit for channels opened from now on.
  void set_poll_limit(std::chrono::milliseconds limit) { poll_limit_.store(limit); }

 private:
  struct Open final : storvsp::PacketSink {
    ScsiController* owner = nullptr;
    uint32_t relid = 0;
    std::atomic<uint32_t> target_vp{0};
    std::unique_ptr<RingChannel> rings;
    std::unique_ptr<storvsp::Channel> protocol;
    bool plugged = false;  // the ring thread's: a plug held on the disk for this pass
    void Send(const storvsp::OutgoingPacket& packet) override {
      rings->Send(packet.type, packet.transaction_id, packet.payload);
    }
  };

  ScsiController(VmbusServer& server, Vtl0Memory& memory, block::Device& disk, uint32_t vp_count)
      : server_(server), memory_(memory), gated_(disk, memory), buffer_(memory),
        disk_(gated_, buffer_), vp_count_(vp_count) {}
  void Handle(Open& open, const vmbus::IncomingPacket& packet);

  VmbusServer& server_;
  Vtl0Memory& memory_;
  GatedBlockDevice gated_;
  Vtl0GuestBuffer buffer_;
  scsi::Disk disk_;
  uint32_t vp_count_;
  std::atomic<std::chrono::milliseconds> poll_limit_{RingChannel::kDefaultPollLimit};
  uint32_t primary_relid_ = 0;
  OpenChannels<Open> open_;
  std::mutex mutex_;
  std::atomic<uint16_t> version_{0};                // the primary's negotiated version
  // Channels whose SRBs did not drain at close: kept, never freed, so a
  // late completion touches live objects.
  std::vector<std::unique_ptr<Open>> abandoned_;  // guarded by mutex_
  std::mutex log_mutex_;
  base::RateLimitedLog log_{16};  // guarded by log_mutex_
};

}  // namespace hcl
