// OpenChannels<Open>: the open VMBus channels of one device, by relid, and
// the VmbusDevice calls every ring-served device answers the same way: the
// guest's signal wakes the channel's thread, a new target VP takes the
// channel's interrupts, the eventfd its thread waits on. `Open` has a
// `std::unique_ptr<RingChannel> rings` and a `std::atomic<uint32_t>
// target_vp`. Thread-safe; Remove and TakeAll hand the channel back so the
// caller stops its thread outside the lock.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <utility>

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

}  // namespace hcl
