#include "net/slirp_backend.h"

#include <arpa/inet.h>
#include <slirp/libslirp.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <climits>
#include <cstring>
#include <utility>

#include "base/string_printf.h"

namespace loader::net {

struct SlirpBackend::Timer {
  SlirpTimerCb callback = nullptr;
  void* callback_opaque = nullptr;
  int64_t expire_ms = -1;  // slirp's clock (Now()), -1: not armed
};

namespace {

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}
int64_t NowMs() { return NowNs() / 1'000'000; }

in_addr HostOrderAddress(uint32_t host_order) { return in_addr{htonl(host_order)}; }

short PollEventsOf(int slirp_events) {
  int events = 0;
  if (slirp_events & SLIRP_POLL_IN) events |= POLLIN;
  if (slirp_events & SLIRP_POLL_OUT) events |= POLLOUT;
  if (slirp_events & SLIRP_POLL_PRI) events |= POLLPRI;
  if (slirp_events & SLIRP_POLL_ERR) events |= POLLERR;
  if (slirp_events & SLIRP_POLL_HUP) events |= POLLHUP;
  return static_cast<short>(events);
}

int SlirpEventsOf(short poll_events) {
  int events = 0;
  if (poll_events & POLLIN) events |= SLIRP_POLL_IN;
  if (poll_events & POLLOUT) events |= SLIRP_POLL_OUT;
  if (poll_events & POLLPRI) events |= SLIRP_POLL_PRI;
  if (poll_events & POLLERR) events |= SLIRP_POLL_ERR;
  if (poll_events & POLLHUP) events |= SLIRP_POLL_HUP;
  return events;
}

void Wake(int event_fd) {
  const uint64_t one = 1;
  // Only fails at a counter of 2^64-2: the thread is woken either way.
  [[maybe_unused]] const ssize_t written = write(event_fd, &one, sizeof one);
}

}  // namespace

// The SlirpCb table: plain functions whose opaque is the backend. slirp
// calls them on whichever thread calls into it: the backend thread, or
// Create and the destructor while no thread runs.
struct SlirpBackend::Callbacks {
  static SlirpBackend& Of(void* opaque) { return *static_cast<SlirpBackend*>(opaque); }

  static ssize_t SendPacket(const void* buffer, size_t size, void* opaque) {
    SlirpBackend& self = Of(opaque);
    if (self.receive_) self.receive_(std::span(static_cast<const std::byte*>(buffer), size));
    return static_cast<ssize_t>(size);
  }
  static void GuestError(const char* message, void* opaque) {
    Of(opaque).guest_errors_.Print("hcl-loader: nic user: ", "%s", message);
  }
  static int64_t ClockGetNs(void*) { return NowNs(); }
  static void* TimerNew(SlirpTimerCb callback, void* callback_opaque, void* opaque) {
    auto timer = std::make_unique<Timer>();
    timer->callback = callback;
    timer->callback_opaque = callback_opaque;
    Timer* raw = timer.get();
    Of(opaque).timers_.push_back(std::move(timer));
    return raw;
  }
  static void TimerFree(void* timer, void* opaque) {
    std::erase_if(Of(opaque).timers_, [timer](const auto& t) { return t.get() == timer; });
  }
  static void TimerMod(void* timer, int64_t expire_ms, void*) {
    static_cast<Timer*>(timer)->expire_ms = expire_ms;
  }
  // The poll set is rebuilt from slirp_pollfds_fill on every iteration.
  static void RegisterPollFd(int, void*) {}
  static void UnregisterPollFd(int, void*) {}
  static void Notify(void* opaque) { Wake(Of(opaque).wake_.get()); }
  static int AddPoll(int fd, int events, void* opaque) { return Of(opaque).AddPollFd(fd, events); }
  static int GetREvents(int index, void* opaque) { return Of(opaque).PollFdEvents(index); }

  static SlirpCb Table() {
    SlirpCb table{};
    table.send_packet = SendPacket;
    table.guest_error = GuestError;
    table.clock_get_ns = ClockGetNs;
    table.timer_new = TimerNew;
    table.timer_free = TimerFree;
    table.timer_mod = TimerMod;
    table.register_poll_fd = RegisterPollFd;
    table.unregister_poll_fd = UnregisterPollFd;
    table.notify = Notify;
    return table;
  }
};

SlirpBackend::SlirpBackend() = default;

base::Result<std::unique_ptr<SlirpBackend>> SlirpBackend::Create(const NicSpec& spec) {
  if (spec.kind != NicSpec::Kind::kUser) return base::Error("nic: not a user network");
  std::unique_ptr<SlirpBackend> backend(new SlirpBackend());
  backend->wake_ = os::UniqueFd(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
  if (!backend->wake_.valid()) return base::Error::FromErrno("nic user: eventfd", errno);

  SlirpConfig config{};
  // Version 1's fields are all this needs (and 4.7 takes up to 4).
  config.version = 1;
  config.restricted = 0;  // the guest reaches the outside, as QEMU's default
  config.in_enabled = true;
  config.vnetwork = HostOrderAddress(kUserNetwork);
  config.vnetmask = HostOrderAddress(kUserNetmask);
  config.vhost = HostOrderAddress(kUserGateway);
  config.vdhcp_start = HostOrderAddress(kUserGuest);
  config.vnameserver = HostOrderAddress(kUserDns);
  config.in6_enabled = false;  // slirp_backend.h says why
  static const SlirpCb kCallbacks = Callbacks::Table();
  backend->slirp_ = slirp_new(&config, &kCallbacks, backend.get());
  if (backend->slirp_ == nullptr) return base::Error("nic user: libslirp refused its configuration");

  for (const HostForward& forward : spec.forwards) {
    const in_addr host = HostEndAddress(forward);
    in_addr guest = HostOrderAddress(kUserGuest);
    // ParseNicSpec checked the address; inet_pton cannot fail here.
    if (!forward.guest_address.empty()) inet_pton(AF_INET, forward.guest_address.c_str(), &guest);
    errno = 0;
    if (slirp_add_hostfwd(backend->slirp_, forward.udp ? 1 : 0, host, forward.host_port, guest,
                          forward.guest_port) < 0) {
      const int err = errno;
      return base::Error::Format("nic user: hostfwd cannot listen on %s%s%s",
                                 DescribeHostEnd(forward).c_str(), err != 0 ? ": " : "",
                                 err != 0 ? std::strerror(err) : "");
    }
  }
  return backend;
}

SlirpBackend::~SlirpBackend() {
  if (thread_.joinable()) {
    stop_.store(true);
    Wake(wake_.get());
    thread_.join();
  }
  // Closes the forwarded ports' listeners and every NAT'd connection.
  if (slirp_ != nullptr) slirp_cleanup(slirp_);
}

base::Result<void> SlirpBackend::Start(Receive receive) {
  if (thread_.joinable()) return base::Error("nic user: started twice");
  receive_ = std::move(receive);
  thread_ = std::thread([this] { Run(); });
  return base::Ok();
}

void SlirpBackend::Transmit(std::span<const std::byte> frame) {
  if (frame.size() < 14 || frame.size() > kMaxFrameBytes) {
    drops_.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  // Copied before the lock: the VP thread holds it only to push.
  std::vector<uint8_t> copy(frame.size());
  std::transform(frame.begin(), frame.end(), copy.begin(),
                 [](std::byte b) { return std::to_integer<uint8_t>(b); });
  bool was_empty = false;
  {
    std::lock_guard lock(mutex_);
    if (queue_.size() >= kQueueFrames) {
      drops_.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    was_empty = queue_.empty();
    queue_.push_back(std::move(copy));
  }
  // A non-empty queue has a wake-up pending already.
  if (was_empty) Wake(wake_.get());
}

int SlirpBackend::AddPollFd(int fd, int slirp_events) {
  poll_fds_.push_back(pollfd{fd, PollEventsOf(slirp_events), 0});
  return static_cast<int>(poll_fds_.size() - 1);
}

int SlirpBackend::PollFdEvents(int index) const {
  if (index < 0 || static_cast<size_t>(index) >= poll_fds_.size()) return 0;
  return SlirpEventsOf(poll_fds_[static_cast<size_t>(index)].revents);
}

void SlirpBackend::DrainQueue() {
  std::deque<std::vector<uint8_t>> frames;
  {
    std::lock_guard lock(mutex_);
    frames.swap(queue_);
  }
  for (const std::vector<uint8_t>& frame : frames)
    slirp_input(slirp_, frame.data(), static_cast<int>(frame.size()));
}

void SlirpBackend::FireDueTimers() {
  // One at a time: a callback may create, re-arm or free timers. Each call
  // disarms one, and slirp re-arms only into the future, so this ends.
  for (size_t fired = 0; fired <= timers_.size(); ++fired) {
    const int64_t now = NowMs();
    auto due = std::find_if(timers_.begin(), timers_.end(), [now](const auto& timer) {
      return timer->expire_ms >= 0 && timer->expire_ms <= now;
    });
    if (due == timers_.end()) return;
    Timer& timer = **due;
    timer.expire_ms = -1;
    timer.callback(timer.callback_opaque);
  }
}

void SlirpBackend::Run() {
  while (!stop_.load()) {
    poll_fds_.clear();
    poll_fds_.push_back(pollfd{wake_.get(), POLLIN, 0});
    // slirp lowers this to what its TCP timers need.
    uint32_t timeout_ms = 1000;
    slirp_pollfds_fill(slirp_, &timeout_ms, Callbacks::AddPoll, this);
    const int64_t now = NowMs();
    for (const auto& timer : timers_)
      if (timer->expire_ms >= 0)
        timeout_ms = static_cast<uint32_t>(
            std::clamp<int64_t>(timer->expire_ms - now, 0, int64_t{timeout_ms}));
    const int ready = poll(poll_fds_.data(), poll_fds_.size(), static_cast<int>(timeout_ms));
    const bool poll_failed = ready < 0;
    slirp_pollfds_poll(slirp_, poll_failed ? 1 : 0, Callbacks::GetREvents, this);
    if (!poll_failed && (poll_fds_[0].revents & POLLIN)) {
      uint64_t count = 0;
      [[maybe_unused]] const ssize_t got = read(wake_.get(), &count, sizeof count);
    }
    DrainQueue();
    FireDueTimers();
  }
}

}  // namespace loader::net
