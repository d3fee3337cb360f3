// OpenChannels<Open>: the open VMBus channels of one device, by relid, and
// the VmbusDevice calls every ring-served device answers the same way: the
// guest's signal wakes the channel's thread, a new target VP takes the
// channel's interrupts, the eventfd its thread waits on. `Open` has a
// `std::unique_ptr<RingChannel> rings` and a `std::atomic<uint32_t>
// target_vp`. Thread-safe; Remove and TakeAll hand the channel back so the
// caller stops its thread outside the lock.
#pragma once

#include <cstdint>
#include <cstdio>
#include <map>
#include <memory>
#include <mutex>
#include <utility>

#include "devices/ring_channel.h"
#include "paravisor/vmbus_server.h"

namespace hcl {

template <typename Open>
class OpenChannels {
 public:
  void Add(uint32_t relid, std::unique_ptr<Open> open) {
    const std::lock_guard lock(mutex_);
    open_[relid] = std::move(open);
  }
  // The channel, no longer listed; null if it was not open.
  std::unique_ptr<Open> Remove(uint32_t relid) {
    const std::lock_guard lock(mutex_);
    const auto it = open_.find(relid);
    if (it == open_.end()) return nullptr;
    std::unique_ptr<Open> open = std::move(it->second);
    open_.erase(it);
    return open;
  }
  std::map<uint32_t, std::unique_ptr<Open>> TakeAll() {
    const std::lock_guard lock(mutex_);
    return std::exchange(open_, {});
  }
  void Modify(uint32_t relid, uint32_t target_vp) {
    const std::lock_guard lock(mutex_);
    if (const auto it = open_.find(relid); it != open_.end()) it->second->target_vp.store(target_vp);
  }
  void Signal(uint32_t relid) {
    const std::lock_guard lock(mutex_);
    if (const auto it = open_.find(relid); it != open_.end()) it->second->rings->Notify();
  }
  int SignalFd(uint32_t relid) {
    const std::lock_guard lock(mutex_);
    const auto it = open_.find(relid);
    return it == open_.end() ? -1 : it->second->rings->wake_fd();
  }

 private:
  std::mutex mutex_;
  std::map<uint32_t, std::unique_ptr<Open>> open_;  // guarded by mutex_
};

// The start every ring-served device's OnOpen shares: `open` takes the
// request's relid and target VP and the channel's rings, whose interrupt
// goes to the target VP current at the time. False (logged with
// `device`'s name) if the rings cannot be opened.
template <typename Open>
bool OpenRings(Open& open, Vtl0Memory& memory, VmbusServer& server,
               const vmbus::OpenRequest& request, const char* device) {
  open.relid = request.relid;
  open.target_vp.store(request.target_vp);
  Open* raw = &open;
  auto rings = RingChannel::Open(memory, request, [&server, raw] {
    server.InterruptGuest(raw->relid, raw->target_vp.load(std::memory_order_relaxed));
  });
  if (!rings) {
    std::fprintf(stderr, "hcl: %s: channel %u: %s\n", device, request.relid,
                 rings.error().message().c_str());
    return false;
  }
  open.rings = std::move(*rings);
  return true;
}

}  // namespace hcl
