// OneShotTimers: one host thread that runs callbacks after delays, for
// device timers that must fire without a VP's help (the NVMe controller's
// interrupt-coalescing aggregation time). Each key has at most one timer
// pending; arming a pending key keeps its earlier deadline. Callbacks run
// on the timer thread without the timers' lock; the destructor stops the
// thread, so whatever the callback touches must outlive this object.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <thread>

namespace loader::devices {

class OneShotTimers {
 public:
  using Callback = std::function<void(uint32_t key)>;
  explicit OneShotTimers(Callback callback);
  ~OneShotTimers();
  OneShotTimers(const OneShotTimers&) = delete;
  OneShotTimers& operator=(const OneShotTimers&) = delete;

  // Runs the callback with `key` once `delay` has passed.
  void Arm(uint32_t key, std::chrono::microseconds delay);

 private:
  void Run();

  Callback callback_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::map<uint32_t, std::chrono::steady_clock::time_point> deadlines_;  // guarded by mutex_
  bool stop_ = false;                                                    // guarded by mutex_
  std::thread thread_;
};

}  // namespace loader::devices
