#include "vfio/device_thread.h"

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdio>

namespace hcl::vfio {
namespace {

constexpr uint64_t kStopKey = ~uint64_t{0};

void Drain(int fd) {
  uint64_t count = 0;
  while (::read(fd, &count, sizeof count) == static_cast<ssize_t>(sizeof count)) {
  }
}

}  // namespace

base::Result<std::unique_ptr<DeviceThread>> DeviceThread::Create(std::chrono::nanoseconds period) {
  auto thread = std::unique_ptr<DeviceThread>(new DeviceThread());
  const int epoll = ::epoll_create1(EPOLL_CLOEXEC);
  if (epoll < 0) return base::Error::FromErrno("epoll_create1", errno);
  thread->epoll_ = os::UniqueFd(epoll);
  const int timer = ::timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
  if (timer < 0) return base::Error::FromErrno("timerfd_create", errno);
  thread->timer_ = os::UniqueFd(timer);
  const int stop = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (stop < 0) return base::Error::FromErrno("eventfd", errno);
  thread->stop_ = os::UniqueFd(stop);
  TRY(thread->SetPeriod(period));
  TRY(thread->Watch(thread->timer_.get(), kTimerKey));
  // The stop key is watched directly: Watch refuses keys at or past kTimerKey.
  epoll_event event{};
  event.events = EPOLLIN;
  event.data.u64 = kStopKey;
  if (::epoll_ctl(thread->epoll_.get(), EPOLL_CTL_ADD, stop, &event) != 0)
    return base::Error::FromErrno("epoll_ctl", errno);
  return thread;
}

DeviceThread::~DeviceThread() {
  if (!thread_.joinable()) return;
  const uint64_t one = 1;
  if (::write(stop_.get(), &one, sizeof one) == static_cast<ssize_t>(sizeof one))
    thread_.join();
  else
    thread_.detach();  // cannot happen with a valid eventfd; never block PID 1 on it
}

base::Result<void> DeviceThread::Watch(int fd, uint64_t key) {
  if (thread_.joinable()) return base::Error("DeviceThread::Watch after Start");
  if (key > kTimerKey || (key == kTimerKey && fd != timer_.get()))
    return base::Error("DeviceThread::Watch: key reserved");
  epoll_event event{};
  event.events = EPOLLIN;
  event.data.u64 = key;
  if (::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd, &event) != 0)
    return base::Error::FromErrno("epoll_ctl", errno);
  watched_.emplace_back(key, fd);
  return base::Ok();
}

base::Result<void> DeviceThread::SetPeriod(std::chrono::nanoseconds period) {
  itimerspec spec{};
  spec.it_interval.tv_sec = static_cast<time_t>(period.count() / 1'000'000'000);
  spec.it_interval.tv_nsec = static_cast<long>(period.count() % 1'000'000'000);
  spec.it_value = spec.it_interval;
  if (::timerfd_settime(timer_.get(), 0, &spec, nullptr) != 0)
    return base::Error::FromErrno("timerfd_settime", errno);
  return base::Ok();
}

void DeviceThread::Start(OnEvent on_event) {
  thread_ = std::thread([this, handler = std::move(on_event)] { Run(handler); });
}

void DeviceThread::Run(const OnEvent& on_event) {
  std::array<epoll_event, 16> events{};
  for (;;) {
    const int ready = ::epoll_wait(epoll_.get(), events.data(), static_cast<int>(events.size()), -1);
    if (ready < 0) {
      if (errno == EINTR) continue;
      std::printf("hcl: device thread: epoll_wait failed (%d); the driver stops\n", errno);
      return;
    }
    for (int i = 0; i < ready; ++i) {
      const uint64_t key = events[static_cast<size_t>(i)].data.u64;
      if (key == kStopKey) return;
      for (const auto& [watched_key, fd] : watched_)
        if (watched_key == key) Drain(fd);
      on_event(key);
    }
  }
}

}  // namespace hcl::vfio
