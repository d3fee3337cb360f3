// DeviceThread on this host's epoll, eventfds and timerfd: a fired
// eventfd reaches the callback with its key (drained: once per burst),
// the timer ticks at its period, and destruction stops the thread.
#include <doctest/doctest.h>

#include <sys/eventfd.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "vfio/device_thread.h"

namespace {

bool WaitFor(const std::atomic<int>& value, int at_least) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (value.load() < at_least)
    if (std::chrono::steady_clock::now() > deadline) return false;
    else std::this_thread::sleep_for(std::chrono::milliseconds(1));
  return true;
}

void Fire(const os::UniqueFd& fd, uint64_t times = 1) {
  REQUIRE(::write(fd.get(), &times, sizeof times) == static_cast<ssize_t>(sizeof times));
}

}  // namespace

TEST_CASE("device thread: vectors reach the callback by key, the timer ticks, it stops") {
  os::UniqueFd a(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)), b(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  std::atomic<int> a_events{0}, b_events{0}, ticks{0};
  {
    auto thread = hcl::vfio::DeviceThread::Create(std::chrono::hours(1));
    REQUIRE(thread.ok());
    REQUIRE((*thread)->Watch(a.get(), 0).ok());
    REQUIRE((*thread)->Watch(b.get(), 7).ok());
    CHECK_FALSE((*thread)->Watch(b.get(), hcl::vfio::DeviceThread::kTimerKey).ok());
    (*thread)->Start([&](uint64_t key) {
      if (key == 0) ++a_events;
      if (key == 7) ++b_events;
      if (key == hcl::vfio::DeviceThread::kTimerKey) ++ticks;
    });
    Fire(a, 3);  // three interrupts before the thread looks: one wake-up, drained
    REQUIRE(WaitFor(a_events, 1));
    Fire(b);
    REQUIRE(WaitFor(b_events, 1));
    CHECK(ticks.load() == 0);
    REQUIRE((*thread)->SetPeriod(std::chrono::milliseconds(5)).ok());
    REQUIRE(WaitFor(ticks, 3));
    CHECK_FALSE((*thread)->Watch(a.get(), 1).ok());  // after Start
  }
  // Stopped: nothing more is called.
  const int after = a_events.load();
  Fire(a);
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  CHECK(a_events.load() == after);
  CHECK(a_events.load() <= 2);
}
