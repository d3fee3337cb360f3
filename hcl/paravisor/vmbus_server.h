// VmbusServer: the VMBus host side hcl offers VTL0 (hyperv-vmbus.md §5):
// vmm-core's ChannelServer (handshake, offers, GPADLs, open/close),
// reached through the hypercall intercept for PostMessage/SignalEvent to
// connections the hypervisor does not know (TLFS "HvCallPostMessage";
// OpenHCL's non-isolated path); replies go out with HvCallPostMessageDirect
// into VTL0's SIMP, channel interrupts with HvCallSignalEventDirect into
// VTL0's SIEF (bit relid of SINT2's area on the channel's target VP).
//
// Devices (VmbusDevice) add channels and hear of the guest's signals on
// them: through an event port per open channel (paravisor/event_ports.h:
// VTL0's SignalEvent sets a SINT7 flag whose eventfd the device's own
// channel thread waits on (SignalFd), else a listener thread here; no
// VTL0 intercept), or, where the driver has no SINT eventfds, through the
// SignalEvent intercept (SignalEvent below). Locking: one mutex serializes the channel server; device handlers
// run under it (OnOpen, OnClose) and must not call back, except
// OfferSubChannels from a device's own thread, which gives up when that
// thread is being stopped (so OnClose may join it).
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "base/result.h"
#include "hv/hvdef.h"
#include "os/unique_fd.h"
#include "paravisor/vtl_driver.h"
#include "paravisor/vtl0_memory.h"
#include "vmbus/channel_server.h"

namespace hcl {

class VmbusDevice : public vmbus::ChannelHandler {
 public:
  // The guest signalled channel `relid` (one of this device's).
  virtual void OnSignal(uint32_t relid) = 0;
  // An eventfd the thread serving open channel `relid` waits on, or -1.
  // With one, the channel's event port signals it straight from the VTL2
  // driver's interrupt (no listener thread between); it must stay open
  // until OnClose. Asked right after a successful OnOpen, under the lock.
  virtual int SignalFd(uint32_t relid) {
    (void)relid;
    return -1;
  }
};

class VmbusServer {
 public:
  VmbusServer(const VtlDriver& mshv, uint32_t vp_count)
      : mshv_(mshv), outbox_(mshv), server_(vp_count) {}
  ~VmbusServer();
  VmbusServer(const VmbusServer&) = delete;
  VmbusServer& operator=(const VmbusServer&) = delete;

  // HvCallPostMessage from VTL0: `input_gpa` is its input page (TLFS:
  // {connection_id u32, reserved u32, message_type u32, payload_size u32,
  // payload[240]}). Returns the hypercall status for VTL0.
  ::hv::Status PostMessage(const Vtl0Memory& memory, uint64_t input_gpa);
  // HvCallSignalEvent (fast: connection_id | flag << 32).
  ::hv::Status SignalEvent(uint64_t input);

  // A primary channel of `device`, offered now or when the guest asks.
  base::Result<uint32_t> AddChannel(const vmbus::Offer& offer, VmbusDevice& device);
  // Sub-channels of `parent` (storvsp CREATE_SUB_CHANNELS); from the
  // device's channel thread, which sets `cancel` when it is being stopped.
  base::Result<std::vector<uint32_t>> OfferSubChannels(uint32_t parent, uint16_t count,
                                                       VmbusDevice& device,
                                                       const std::atomic<bool>& cancel);
  // A copy of complete GPADL `gpadl_id` of channel `relid` (netvsc's
  // buffers), from the device's channel thread as OfferSubChannels.
  base::Result<vmbus::Gpadl> FindGpadl(uint32_t relid, uint32_t gpadl_id,
                                       const std::atomic<bool>& cancel);
  // Raises channel `relid`'s interrupt in VTL0 on `target_vp` (any thread).
  void InterruptGuest(uint32_t relid, uint32_t target_vp);

 private:
  class DirectOutbox final : public vmbus::Outbox {
   public:
    explicit DirectOutbox(const VtlDriver& mshv) : mshv_(mshv) {}
    void Send(const vmbus::OutgoingMessage& message) override;

   private:
    const VtlDriver& mshv_;
  };

  // Sits between the channel server and a device: opens and closes also
  // set up and remove the channel's event port. Runs under mutex_.
  class Proxy final : public vmbus::ChannelHandler {
   public:
    Proxy(VmbusServer& server, VmbusDevice& device) : server_(server), device_(device) {}
    uint32_t OnOpen(const vmbus::OpenRequest& request) override;
    void OnClose(uint32_t relid) override;
    void OnModify(uint32_t relid, uint32_t target_vp) override { device_.OnModify(relid, target_vp); }

   private:
    VmbusServer& server_;
    VmbusDevice& device_;
  };
  struct EventPort {
    os::UniqueFd fd;  // the listener's; invalid when the device's own fd is signalled
    uint32_t connection_id = 0;
    uint32_t port_id = 0;
  };
  Proxy& ProxyForLocked(VmbusDevice& device);
  void ConnectEventsLocked(const vmbus::OpenRequest& request, VmbusDevice& device);
  void DisconnectEventsLocked(uint32_t relid);
  base::Result<void> StartListenerLocked();
  void Listen();

  const VtlDriver& mshv_;
  std::mutex mutex_;
  DirectOutbox outbox_;
  vmbus::ChannelServer server_;                 // guarded by mutex_
  std::map<uint32_t, VmbusDevice*> devices_;    // guarded by mutex_; by relid
  std::map<VmbusDevice*, std::unique_ptr<Proxy>> proxies_;  // guarded by mutex_
  std::map<uint32_t, EventPort> ports_;         // guarded by mutex_; by relid
  bool ports_unsupported_ = false;              // guarded by mutex_: the driver refused once
  os::UniqueFd epoll_;                          // set once under mutex_
  os::UniqueFd stop_;                           // eventfd: the destructor ends Listen
  std::thread listener_;
  std::atomic<uint8_t> sint_{vmbus::wire::kDefaultMessageSint};  // the guest's VMBus SINT
};

}  // namespace hcl
