// RingChannel: one open VMBus channel's two rings (hyperv-vmbus.md §5.3),
// served by a thread of its own: the guest's signal (HvCallSignalEvent on
// the channel's connection) wakes it; it drains the guest->host ring
// packet by packet into a device's handler, and sends the device's packets
// on the host->guest ring from any thread, queueing them while the ring is
// full (pending_send_sz asks the guest to signal when there is room).
// Guest interrupts (bit relid in VTL0's SIEF area 2 on target_vp) follow
// the ring's rules: only when the guest is not masked and a ring went
// from empty to not empty, or freed the room the guest asked for.
//
// Rings are read copy-then-validate by vmbus::InRing through the VTL0
// gate. A corrupt ring stops the channel (it is the guest's to close) and
// is logged once; nothing else is affected.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <thread>
#include <vector>

#include "base/result.h"
#include "devices/vtl0_access.h"
#include "vmbus/channel_server.h"
#include "vmbus/ring.h"

namespace hcl {

class RingChannel {
 public:
  using PacketHandler = std::function<void(const vmbus::IncomingPacket&)>;
  using GuestInterrupt = std::function<void()>;

  // The rings of `request` (OnOpen's), in VTL0 memory; `interrupt` raises
  // the channel's interrupt in the guest.
  static base::Result<std::unique_ptr<RingChannel>> Open(Vtl0Memory& memory,
                                                         const vmbus::OpenRequest& request,
                                                         GuestInterrupt interrupt);
  ~RingChannel();
  RingChannel(const RingChannel&) = delete;
  RingChannel& operator=(const RingChannel&) = delete;

  // Starts serving: `handler` runs on the channel's thread, one packet at
  // a time.
  void Start(PacketHandler handler);
  // The guest signalled the channel.
  void Notify();
  // Queues one packet for the guest (any thread). Dropped after Stop.
  void Send(vmbus::PacketType type, uint64_t transaction_id, std::span<const std::byte> payload);
  // Stops the thread and drops queued packets; no ring access after it
  // returns. Must not be called from the handler.
  void Stop();

  uint32_t relid() const { return relid_; }
  std::atomic<bool>& stopping() { return stop_; }

 private:
  struct Pending {
    vmbus::PacketType type;
    uint64_t transaction_id;
    std::vector<std::byte> payload;
  };

  RingChannel(std::unique_ptr<Vtl0PageAccess> access, vmbus::InRing in, vmbus::OutRing out,
              uint32_t relid, GuestInterrupt interrupt)
      : access_(std::move(access)), in_(std::move(in)), out_(std::move(out)), relid_(relid),
        interrupt_(std::move(interrupt)) {}
  void Run();
  // Drains the in-ring; false if it is corrupt.
  bool DrainLocked();
  // Writes queued packets while they fit. Caller holds out_mutex_.
  void FlushLocked();

  std::unique_ptr<Vtl0PageAccess> access_;  // the rings' door into VTL0 memory
  vmbus::InRing in_;                        // the channel thread's only
  std::mutex out_mutex_;
  vmbus::OutRing out_;              // guarded by out_mutex_
  std::deque<Pending> pending_;     // guarded by out_mutex_
  bool out_broken_ = false;         // guarded by out_mutex_
  uint32_t relid_;
  GuestInterrupt interrupt_;
  PacketHandler handler_;

  std::mutex wake_mutex_;
  std::condition_variable wake_;
  bool notified_ = false;  // guarded by wake_mutex_
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace hcl
