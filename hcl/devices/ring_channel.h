// RingChannel: one open VMBus channel's two rings (hyperv-vmbus.md §5.3),
// served by a thread of its own: the guest's signal (HvCallSignalEvent on
// the channel's connection) wakes it, through its eventfd (wake_fd: the
// VTL2 driver signals it straight from the channel's event port, or
// Notify does); it drains the guest->host ring
// packet by packet into a device's handler, and sends the device's packets
// on the host->guest ring from any thread, queueing them while the ring is
// full (pending_send_sz asks the guest to signal when there is room).
// Guest interrupts (bit relid in VTL0's SIEF area 2 on target_vp) follow
// the ring's rules: only when the guest is not masked and a ring went
// from empty to not empty, or freed the room the guest asked for.
//
// Signals from the guest are asked for only when needed (hyperv-vmbus.md
// §5.3, interrupt_mask): the thread masks them while it drains, and when
// the ring is empty but the device still owes replies (requests in
// flight) it stays masked and polls instead: the next reply's Send wakes
// it. So a guest keeping many requests in flight writes new ones without a
// signal each (a VTL switch each, under a paravisor). With nothing owed, or
// no reply within the poll limit (a device holding a request for long must
// not hold back the guest's next ones), it unmasks, then looks once more.
//
// Rings are read copy-then-validate by vmbus::InRing through the VTL0
// gate. A corrupt ring stops the channel (it is the guest's to close) and
// is logged once; nothing else is affected.
#pragma once

#include <atomic>
#include <chrono>
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
#include "os/unique_fd.h"
#include "vmbus/channel_server.h"
#include "vmbus/ring.h"

namespace hcl {

class RingChannel {
 public:
  using PacketHandler = std::function<void(const vmbus::IncomingPacket&)>;
  using GuestInterrupt = std::function<void()>;
  // True while the device owes the guest replies it will Send later. Must
  // be false before the Send of the last one starts (seq_cst), or the
  // thread may sleep masked with nothing left to wake it.
  using RepliesOwed = std::function<bool()>;

  // The rings of `request` (OnOpen's), in VTL0 memory; `interrupt` raises
  // the channel's interrupt in the guest.
  static base::Result<std::unique_ptr<RingChannel>> Open(Vtl0Memory& memory,
                                                         const vmbus::OpenRequest& request,
                                                         GuestInterrupt interrupt);
  ~RingChannel();
  RingChannel(const RingChannel&) = delete;
  RingChannel& operator=(const RingChannel&) = delete;

  // Starts serving: `handler` runs on the channel's thread, one packet at
  // a time. Without `owed` the thread never polls. `drained` runs on that
  // thread after each pass over the ring (a batch of packets ends: the
  // device may pass on what it held, e.g. one doorbell for the batch).
  void Start(PacketHandler handler, RepliesOwed owed = {}, std::function<void()> drained = {});
  // The guest signalled the channel.
  void Notify();
  // The eventfd the thread waits on: writing 1 to it is Notify.
  int wake_fd() const { return wake_.get(); }
  // How long a polling thread waits for a reply before it asks for the
  // guest's signals again anyway: a request the device holds for long (an
  // NVMe timeout and retry takes tens of seconds) must not hold back the
  // requests the guest writes meanwhile. Set before Start.
  static constexpr std::chrono::milliseconds kDefaultPollLimit{10};
  void set_poll_limit(std::chrono::milliseconds limit) { poll_limit_ = limit; }
  // Queues one packet for the guest (any thread). Dropped after Stop.
  void Send(vmbus::PacketType type, uint64_t transaction_id, std::span<const std::byte> payload);
  // The same with flags (kPacketFlagCompletionRequested) and a header
  // extension (a transfer-page packet's set and ranges: vmbus::OutgoingPacket).
  void Send(vmbus::PacketType type, uint16_t flags, uint64_t transaction_id,
            std::span<const std::byte> header_extension, std::span<const std::byte> payload);
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
    uint16_t flags = 0;
    std::vector<std::byte> header_extension;
  };

  RingChannel(std::unique_ptr<Vtl0PageAccess> access, vmbus::InRing in, vmbus::OutRing out,
              uint32_t relid, GuestInterrupt interrupt, os::UniqueFd wake)
      : access_(std::move(access)), in_(std::move(in)), out_(std::move(out)), relid_(relid),
        interrupt_(std::move(interrupt)), wake_(std::move(wake)) {}
  // Blocks until the eventfd is written (or an error: true too), or for
  // at most `timeout_ms` (-1: no limit): then false.
  bool Wait(int timeout_ms);
  void Run();
  // Drains the in-ring; false if it is corrupt. With `stop_polling` an
  // empty ring is unmasked even while replies are owed.
  bool DrainLocked(bool stop_polling);
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
  RepliesOwed owed_;
  std::chrono::milliseconds poll_limit_ = kDefaultPollLimit;
  std::function<void()> drained_;
  bool masked_ = false;             // the channel thread's only
  std::atomic<bool> polling_{false};  // masked, and woken by Send

  os::UniqueFd wake_;  // eventfd
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace hcl
