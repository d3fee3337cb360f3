#include "devices/one_shot_timers.h"

#include <algorithm>
#include <utility>
#include <vector>

namespace loader::devices {

OneShotTimers::OneShotTimers(Callback callback) : callback_(std::move(callback)) {
  thread_ = std::thread([this] { Run(); });
}

OneShotTimers::~OneShotTimers() {
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
  }
  changed_.notify_one();
  thread_.join();
}

void OneShotTimers::Arm(uint32_t key, std::chrono::microseconds delay) {
  const auto deadline = std::chrono::steady_clock::now() + delay;
  {
    std::lock_guard lock(mutex_);
    deadlines_.try_emplace(key, deadline);
  }
  changed_.notify_one();
}

void OneShotTimers::Run() {
  std::unique_lock lock(mutex_);
  while (!stop_) {
    if (deadlines_.empty()) {
      changed_.wait(lock);
      continue;
    }
    const auto next = std::min_element(deadlines_.begin(), deadlines_.end(),
                                       [](const auto& a, const auto& b) { return a.second < b.second; });
    if (changed_.wait_until(lock, next->second) != std::cv_status::timeout) continue;
    const auto now = std::chrono::steady_clock::now();
    std::vector<uint32_t> due;
    for (auto it = deadlines_.begin(); it != deadlines_.end();) {
      if (it->second <= now) {
        due.push_back(it->first);
        it = deadlines_.erase(it);
      } else {
        ++it;
      }
    }
    lock.unlock();
    for (uint32_t key : due) callback_(key);
    lock.lock();
  }
}

}  // namespace loader::devices
