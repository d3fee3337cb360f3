// SlirpBackend: `--nic user[,hostfwd=...]`, user-mode networking through
// libslirp: a NAT'd IPv4 network of its own (backend.h's kUser* layout:
// the guest gets 10.0.2.15 by DHCP, the gateway 10.0.2.2 is also the
// host, DNS 10.0.2.3 relays to the host's resolver) needing no privilege;
// each hostfwd= listens on a host port and connects to the guest.
//
// IPv6 is off: slirp would otherwise send router advertisements on a
// timer of its own and give the guest a second stack to configure, while
// hostfwd= and every test here are IPv4; a guest that needs IPv6 has tap=.
//
// Threads: libslirp is not thread-safe, so one backend thread owns the
// Slirp instance after Create: it polls slirp's sockets, runs its timers
// and feeds it the guest's frames. Transmit (any thread) only copies the
// frame onto a bounded queue and wakes that thread through an eventfd.
// Not here: slirp's TFTP, SMB and guestfwd, saving its state.
#pragma once

#include <poll.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <span>
#include <thread>
#include <vector>

#include "base/rate_limited_log.h"
#include "base/result.h"
#include "net/backend.h"
#include "os/unique_fd.h"

struct Slirp;

namespace loader::net {

class SlirpBackend final : public Backend {
 public:
  // Frames waiting for the backend thread: a guest transmitting faster
  // than slirp drains loses frames, as on a real wire, instead of host RAM.
  static constexpr size_t kQueueFrames = 1024;
  // A frame larger than this is not Ethernet (slirp's MRU is 1500 + header).
  static constexpr size_t kMaxFrameBytes = 65535;

  // `spec.kind` is kUser. Binds every hostfwd= port; one that cannot be
  // bound is an error naming it.
  static base::Result<std::unique_ptr<SlirpBackend>> Create(const NicSpec& spec);
  ~SlirpBackend() override;
  SlirpBackend(const SlirpBackend&) = delete;
  SlirpBackend& operator=(const SlirpBackend&) = delete;

  base::Result<void> Start(Receive receive) override;
  void Transmit(std::span<const std::byte> frame) override;
  uint64_t transmit_drops() const override { return drops_.load(std::memory_order_relaxed); }

  // The slirp callbacks' view of this object (slirp_backend.cpp).
  struct Callbacks;

 private:
  struct Timer;
  SlirpBackend();
  void Run();
  // Backend thread only: the poll set of the current iteration.
  int AddPollFd(int fd, int slirp_events);
  int PollFdEvents(int index) const;
  void FireDueTimers();
  void DrainQueue();

  Slirp* slirp_ = nullptr;  // backend thread once started
  Receive receive_;
  os::UniqueFd wake_;       // eventfd: a frame queued, or stop
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> drops_{0};

  std::mutex mutex_;
  std::deque<std::vector<uint8_t>> queue_;  // guarded by mutex_

  // Backend thread (and Create/the destructor while it is not running).
  std::vector<std::unique_ptr<Timer>> timers_;
  std::vector<pollfd> poll_fds_;
  base::RateLimitedLog guest_errors_{20};
};

}  // namespace loader::net
