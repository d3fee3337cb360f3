// DeviceThread: the one thread that runs a user-mode driver VTL2 owns
// (AssignedNvme, AssignedMana). It epolls the eventfds the driver's MSI-X
// vectors fire (VFIO) and a periodic timer (timeouts, and a poll in case
// an interrupt was lost), drains whichever fired and calls back with its
// key; nothing else runs the driver, so no interrupt thread races
// bring-up. The destructor stops and joins it.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <thread>
#include <vector>

#include "base/result.h"
#include "os/unique_fd.h"

namespace hcl::vfio {

class DeviceThread {
 public:
  // The key the callback gets for the timer.
  static constexpr uint64_t kTimerKey = ~uint64_t{0} - 1;
  using OnEvent = std::function<void(uint64_t key)>;

  static base::Result<std::unique_ptr<DeviceThread>> Create(std::chrono::nanoseconds period);
  ~DeviceThread();
  DeviceThread(const DeviceThread&) = delete;
  DeviceThread& operator=(const DeviceThread&) = delete;

  // Before Start: `fd` (an eventfd; it must stay open while the thread
  // runs) reports as `key` (< kTimerKey).
  base::Result<void> Watch(int fd, uint64_t key);
  // Any time, from any thread (the callback included).
  base::Result<void> SetPeriod(std::chrono::nanoseconds period);
  // Runs `on_event` on the thread for every fired fd, drained first, in
  // the order epoll reports them.
  void Start(OnEvent on_event);

 private:
  DeviceThread() = default;
  void Run(const OnEvent& on_event);

  os::UniqueFd epoll_, timer_, stop_;
  std::vector<std::pair<uint64_t, int>> watched_;  // key -> fd
  std::thread thread_;
};

}  // namespace hcl::vfio
